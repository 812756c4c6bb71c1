package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox states.
const (
	OutboxQueued = "queued"
	OutboxSent   = "sent"
	OutboxFailed = "failed"
	OutboxHeld   = "held" // no SMTP server configured: kept for the built-in viewer
	// OutboxSending marks a row a worker has claimed; its lease says until
	// when. The worker records the outcome, or the row returns to queued.
	OutboxSending = "sending"
)

// Outbox kinds.
const (
	OutboxEmail   = "email"
	OutboxSMS     = "sms"
	OutboxWebhook = "webhook"
)

// OutboxMessage is an e-mail (or SMS) to deliver. Nothing is sent outside the outbox.
type OutboxMessage struct {
	ID            string
	Kind          string
	To            string
	Locale        string
	Template      string
	Subject       string
	TextBody      string
	HTMLBody      string
	ICS           string
	Headers       map[string]string // extra headers: List-Unsubscribe for mailings, a webhook's signature
	MessageID     string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	SentAt        time.Time
	RetryFrom     time.Time // start of the retry window (CreatedAt unless retried by hand)
}

const outboxColumns = "id, kind, to_addr, locale, template, subject, text_body, html_body, ics, message_id, state, attempts, next_attempt_at, last_error, created_at, sent_at, headers, retry_from"

func scanOutbox(row interface{ Scan(...any) error }) (*OutboxMessage, error) {
	var m OutboxMessage
	var next, created int64
	var sent, retryFrom sql.NullInt64
	var headers string
	if err := row.Scan(&m.ID, &m.Kind, &m.To, &m.Locale, &m.Template, &m.Subject, &m.TextBody, &m.HTMLBody, &m.ICS, &m.MessageID,
		&m.State, &m.Attempts, &next, &m.LastError, &created, &sent, &headers, &retryFrom); err != nil {
		return nil, formatError(err)
	}
	if headers != "" && headers != "{}" {
		if err := json.Unmarshal([]byte(headers), &m.Headers); err != nil {
			return nil, fmt.Errorf("outbox %s headers: %w", m.ID, err)
		}
	}
	m.NextAttemptAt, m.CreatedAt, m.SentAt = time.Unix(next, 0).UTC(), time.Unix(created, 0).UTC(), fromUnix(sent)
	m.RetryFrom = m.CreatedAt
	if retryFrom.Valid {
		m.RetryFrom = fromUnix(retryFrom)
	}
	return &m, nil
}

// Enqueue writes m to the outbox in the caller's transaction, so the message
// exists if and only if the change that causes it commits. The Message-ID is
// fixed here, once, so a retried delivery is recognisably the same message.
func (tx *Tx) Enqueue(ctx context.Context, m *OutboxMessage) error {
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.Kind == "" {
		m.Kind = "email"
	}
	if m.State == "" {
		m.State = OutboxQueued
	}
	if m.MessageID == "" {
		m.MessageID = "<" + m.ID + "@daraport>"
	}
	m.CreatedAt, m.NextAttemptAt = tx.now, tx.now
	headers := []byte("{}")
	if len(m.Headers) > 0 {
		var err error
		if headers, err = json.Marshal(m.Headers); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO outbox ("+outboxColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?, NULL, ?, NULL)",
		m.ID, m.Kind, m.To, m.Locale, m.Template, m.Subject, m.TextBody, m.HTMLBody, m.ICS, m.MessageID, m.State, tx.now.Unix(), tx.now.Unix(), string(headers))
	if err == nil && m.State == OutboxQueued {
		// Wake the delivery worker. Its claim is a write transaction, so it
		// waits for this one to end and sees the row if it committed.
		tx.db.notifyOutbox()
	}
	return formatError(err)
}

// OutboxFilter selects outbox messages.
type OutboxFilter struct {
	To    string // exact address, case-insensitive
	State string
	Limit int
}

// FindOutbox returns messages matching f, newest first.
func (db *DB) FindOutbox(ctx context.Context, f OutboxFilter) ([]*OutboxMessage, error) {
	where, args := []string{"1=1"}, []any{}
	if f.To != "" {
		where = append(where, "to_addr = ? COLLATE NOCASE")
		args = append(args, strings.TrimSpace(f.To))
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	args = append(args, limit)
	rows, err := db.rq.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE "+strings.Join(where, " AND ")+" ORDER BY created_at DESC, rowid DESC LIMIT ?", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// FindOutboxByID returns one message, or ErrNotFound.
func (db *DB) FindOutboxByID(ctx context.Context, id string) (*OutboxMessage, error) {
	return scanOutbox(db.rq.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
}

// CountOutbox returns the number of messages per state.
func (db *DB) CountOutbox(ctx context.Context) (map[string]int, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT state, count(*) FROM outbox GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// OnOutbox sets the function called (inside the writing transaction, so it
// must not block) whenever a queued message is enqueued: the delivery worker
// uses it to wake at once instead of at its next tick. nil removes it.
func (db *DB) OnOutbox(fn func()) {
	if fn == nil {
		db.outboxHook.Store(nil)
		return
	}
	db.outboxHook.Store(&fn)
}

func (db *DB) notifyOutbox() {
	if fn := db.outboxHook.Load(); fn != nil {
		(*fn)()
	}
}

// inKinds returns " AND kind IN (?, …)" and its arguments; no kinds selects none.
func inKinds(kinds []string) (string, []any) {
	if len(kinds) == 0 {
		return " AND 0", nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return " AND kind IN (?" + strings.Repeat(", ?", len(kinds)-1) + ")", args
}

// ClaimOutbox claims up to limit due messages of the given kinds (queued,
// next attempt time passed), oldest due first: in one write transaction
// they become "sending" with a lease until now+lease, so no other worker
// takes them. The caller must record each one's outcome
// (RecordOutboxAttempt) or release it (ReleaseOutbox).
func (db *DB) ClaimOutbox(ctx context.Context, kinds []string, limit int, lease time.Duration) ([]*OutboxMessage, error) {
	var out []*OutboxMessage
	err := db.Update(ctx, func(tx *Tx) error {
		kindSQL, kindArgs := inKinds(kinds)
		args := append([]any{tx.now.Add(lease).Unix(), tx.now.Unix()}, kindArgs...)
		args = append(args, limit)
		rows, err := tx.QueryContext(ctx, "UPDATE outbox SET state = 'sending', lease_until = ? WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?"+
			kindSQL+" ORDER BY next_attempt_at, rowid LIMIT ?) RETURNING "+outboxColumns, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// ClaimOutboxByID claims one queued or held message whatever its next attempt time
// (the admin's test e-mail is sent at once). It returns ErrConflict when the
// message is neither queued nor held and ErrNotFound when it does not exist.
func (db *DB) ClaimOutboxByID(ctx context.Context, id string, lease time.Duration) (*OutboxMessage, error) {
	var m *OutboxMessage
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		m, err = scanOutbox(tx.QueryRowContext(ctx, "UPDATE outbox SET state = 'sending', lease_until = ? WHERE id = ? AND state IN ('queued', 'held') RETURNING "+outboxColumns,
			tx.now.Add(lease).Unix(), id))
		if errors.Is(err, ErrNotFound) {
			var n int
			if qerr := tx.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE id = ?", id).Scan(&n); qerr != nil {
				return qerr
			}
			if n > 0 {
				return ErrConflict
			}
		}
		return err
	})
	return m, err
}

// NextOutboxDue returns when the next queued message of the given kinds is
// due; ok is false when none is queued.
func (db *DB) NextOutboxDue(ctx context.Context, kinds []string) (next time.Time, ok bool, err error) {
	kindSQL, args := inKinds(kinds)
	var v sql.NullInt64
	if err := db.rq.QueryRowContext(ctx, "SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'"+kindSQL, args...).Scan(&v); err != nil {
		return time.Time{}, false, err
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(v.Int64, 0).UTC(), true, nil
}

// RequeueOutbox puts "sending" messages back in the queue: all of them
// (at start, when no other worker can be running: the server holds the data
// directory's lock) or only those whose lease ran out. It returns how many.
func (db *DB) RequeueOutbox(ctx context.Context, all bool) (int, error) {
	var n int64
	err := db.Update(ctx, func(tx *Tx) error {
		q, args := "UPDATE outbox SET state = 'queued', lease_until = NULL WHERE state = 'sending'", []any{}
		if !all {
			q += " AND (lease_until IS NULL OR lease_until < ?)"
			args = append(args, tx.now.Unix())
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// OutboxResult is the outcome of one delivery attempt.
type OutboxResult struct {
	State         string    // OutboxSent, OutboxQueued (retry at NextAttemptAt) or OutboxFailed
	NextAttemptAt time.Time // when State is OutboxQueued
	Error         string    // what went wrong, for the admin ("" when sent)
}

// OutboxAttempt is the outcome of an attempt on one claimed message.
type OutboxAttempt struct {
	ID     string
	Result OutboxResult
}

const recordOutboxSQL = "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, sent_at = ?, lease_until = NULL WHERE id = ? AND state = 'sending'"

func (tx *Tx) recordArgs(a OutboxAttempt) ([]any, error) {
	r := a.Result
	var sent any
	next := tx.now.Unix()
	switch r.State {
	case OutboxSent:
		sent = tx.now.Unix()
	case OutboxQueued:
		next = r.NextAttemptAt.Unix()
	case OutboxFailed:
	default:
		return nil, fmt.Errorf("store: outbox result state %q", r.State)
	}
	return []any{r.State, next, r.Error, sent, a.ID}, nil
}

// RecordOutboxAttempt stores the outcome of an attempt on a message the
// caller claimed: one more attempt, and sent (with the time), queued again
// for later, or failed. It returns ErrConflict when the message is no longer
// claimed (its lease ran out and another attempt took it).
func (tx *Tx) RecordOutboxAttempt(ctx context.Context, id string, r OutboxResult) error {
	args, err := tx.recordArgs(OutboxAttempt{id, r})
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, recordOutboxSQL, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// RecordOutboxAttempts stores several outcomes in one write transaction
// through one prepared statement: the delivery worker's group commit. The
// slice of errors says, per attempt, ErrConflict when the message was no
// longer claimed; the error is the transaction's (then nothing was stored).
func (db *DB) RecordOutboxAttempts(ctx context.Context, attempts []OutboxAttempt) ([]error, error) {
	errs := make([]error, len(attempts))
	err := db.Update(ctx, func(tx *Tx) error {
		stmt, err := tx.PrepareContext(ctx, recordOutboxSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, a := range attempts {
			args, err := tx.recordArgs(a)
			if err != nil {
				errs[i] = err
				continue
			}
			res, err := stmt.ExecContext(ctx, args...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				errs[i] = ErrConflict
			}
		}
		return nil
	})
	return errs, err
}

// ReleaseOutbox returns claimed messages to the queue without counting an
// attempt (the worker is stopping before it tried them).
func (tx *Tx) ReleaseOutbox(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET state = 'queued', lease_until = NULL WHERE id = ? AND state = 'sending'", id); err != nil {
			return err
		}
	}
	return nil
}

// RetryOutbox queues a failed or held message again, due now, with a fresh
// retry window and attempt count ("retry now" on the admin page). It returns
// ErrNotFound for an unknown id and ErrConflict for a message in another state.
func (tx *Tx) RetryOutbox(ctx context.Context, id string) error {
	res, err := tx.ExecContext(ctx, "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, retry_from = ?, lease_until = NULL WHERE id = ? AND state IN ('failed', 'held')",
		tx.now.Unix(), tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		tx.db.notifyOutbox()
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE id = ?", id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return ErrConflict
}

// RetryFailedOutbox queues every failed message of the given kinds again
// (as RetryOutbox) and returns how many.
func (tx *Tx) RetryFailedOutbox(ctx context.Context, kinds []string) (int, error) {
	kindSQL, kindArgs := inKinds(kinds)
	res, err := tx.ExecContext(ctx, "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, retry_from = ?, lease_until = NULL WHERE state = 'failed'"+kindSQL,
		append([]any{tx.now.Unix(), tx.now.Unix()}, kindArgs...)...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		tx.db.notifyOutbox()
	}
	return int(n), nil
}
