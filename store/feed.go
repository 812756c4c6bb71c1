package store

import (
	"context"
	"strings"
	"time"
)

// The private calendar feed: a practitioner subscribes their phone calendar
// to a secret URL. Only the SHA-256 of its token is stored (practices.
// feed_token_hash), so a copy of the database does not open anyone's feed.

// SetFeedTokenHash stores the hash (hex SHA-256) of the practice's feed
// token, replacing the previous one; "" revokes the feed. It returns whether
// a feed was active before, or ErrNotFound for an unknown practice.
func (tx *Tx) SetFeedTokenHash(ctx context.Context, practiceID, hash string) (hadFeed bool, err error) {
	var old string
	if err := tx.QueryRowContext(ctx, "SELECT feed_token_hash FROM practices WHERE id = ?", practiceID).Scan(&old); err != nil {
		return false, formatError(err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE practices SET feed_token_hash = ?, updated_at = ? WHERE id = ?", hash, tx.now.Unix(), practiceID)
	return old != "", err
}

// HasFeed tells whether the practice has an active calendar feed. Returns
// ErrNotFound for an unknown practice.
func (db *DB) HasFeed(ctx context.Context, practiceID string) (bool, error) {
	var h string
	if err := db.rq.QueryRowContext(ctx, "SELECT feed_token_hash FROM practices WHERE id = ?", practiceID).Scan(&h); err != nil {
		return false, formatError(err)
	}
	return h != "", nil
}

// FindPracticeByFeedHash returns the practice whose feed token has that
// hash. Returns ErrNotFound when none has (a revoked or unknown token, or "").
func (db *DB) FindPracticeByFeedHash(ctx context.Context, hash string) (*Practice, error) {
	if hash == "" {
		return nil, ErrNotFound
	}
	return scanPractice(db.rq.QueryRowContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE feed_token_hash = ?", hash))
}

// FeedAppointment is one appointment as the practitioner's calendar feed
// shows it: who and what, never the reason (health data, encrypted at rest
// and not even read here).
type FeedAppointment struct {
	ID          string
	Start, End  time.Time
	State       string
	LocationID  string
	TypeName    string
	PatientName string
	Sequence    int
	UpdatedAt   time.Time
}

// FeedAppointments returns the practice's appointments in states that
// overlap [from, to) (to zero: no end), by start.
func (db *DB) FeedAppointments(ctx context.Context, practiceID string, states []string, from, to time.Time) ([]FeedAppointment, error) {
	end := int64(1<<62 - 1)
	if !to.IsZero() {
		end = to.Unix()
	}
	q := `SELECT a.id, a.starts_at, a.ends_at, a.state, a.location_id, COALESCE(t.name, ''), COALESCE(u.name, ''), a.sequence, a.updated_at
		FROM appointments a LEFT JOIN appointment_types t ON t.id = a.type_id LEFT JOIN users u ON u.id = a.patient_id
		WHERE a.practice_id = ? AND a.ends_at > ? AND a.starts_at < ?`
	args := []any{practiceID, from.Unix(), end}
	if len(states) > 0 {
		q += " AND a.state IN (?" + strings.Repeat(",?", len(states)-1) + ")"
		for _, s := range states {
			args = append(args, s)
		}
	}
	rows, err := db.rq.QueryContext(ctx, q+" ORDER BY a.starts_at, a.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FeedAppointment
	for rows.Next() {
		var a FeedAppointment
		var st, en, up int64
		if err := rows.Scan(&a.ID, &st, &en, &a.State, &a.LocationID, &a.TypeName, &a.PatientName, &a.Sequence, &up); err != nil {
			return nil, err
		}
		a.Start, a.End, a.UpdatedAt = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC(), time.Unix(up, 0).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
