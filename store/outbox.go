package store

import (
	"context"
	"database/sql"
	"encoding/json"
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
}

const outboxColumns = "id, kind, to_addr, locale, template, subject, text_body, html_body, ics, message_id, state, attempts, next_attempt_at, last_error, created_at, sent_at, headers"

func scanOutbox(row interface{ Scan(...any) error }) (*OutboxMessage, error) {
	var m OutboxMessage
	var next, created int64
	var sent sql.NullInt64
	var headers string
	if err := row.Scan(&m.ID, &m.Kind, &m.To, &m.Locale, &m.Template, &m.Subject, &m.TextBody, &m.HTMLBody, &m.ICS, &m.MessageID,
		&m.State, &m.Attempts, &next, &m.LastError, &created, &sent, &headers); err != nil {
		return nil, formatError(err)
	}
	if headers != "" && headers != "{}" {
		if err := json.Unmarshal([]byte(headers), &m.Headers); err != nil {
			return nil, fmt.Errorf("outbox %s headers: %w", m.ID, err)
		}
	}
	m.NextAttemptAt, m.CreatedAt, m.SentAt = time.Unix(next, 0).UTC(), time.Unix(created, 0).UTC(), fromUnix(sent)
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
	_, err := tx.ExecContext(ctx, "INSERT INTO outbox ("+outboxColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?, NULL, ?)",
		m.ID, m.Kind, m.To, m.Locale, m.Template, m.Subject, m.TextBody, m.HTMLBody, m.ICS, m.MessageID, m.State, tx.now.Unix(), tx.now.Unix(), string(headers))
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
