package store

import (
	"context"
	"database/sql"
	"time"
)

// ContactMessage is a message sent to the administration ("Communiquer").
type ContactMessage struct {
	ID        string
	UserID    string
	Name      string
	Email     string
	Subject   string
	Body      string
	CreatedAt time.Time
	HandledAt time.Time
}

// CreateContactMessage stores m with its body encrypted.
func (tx *Tx) CreateContactMessage(ctx context.Context, m *ContactMessage) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	m.ID, m.CreatedAt = NewID(), tx.now
	_, err = tx.ExecContext(ctx, "INSERT INTO contact_messages (id, user_id, name, email, subject, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		m.ID, m.UserID, m.Name, m.Email, m.Subject, s.seal([]byte(m.Body), "contact:"+m.ID), tx.now.Unix())
	return formatError(err)
}

// FindContactMessages returns the messages, newest first, decrypted.
func (db *DB) FindContactMessages(ctx context.Context, limit int) ([]*ContactMessage, error) {
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.rq.QueryContext(ctx, "SELECT id, user_id, name, email, subject, body, created_at, handled_at FROM contact_messages ORDER BY created_at DESC, rowid DESC LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ContactMessage
	for rows.Next() {
		var m ContactMessage
		var blob []byte
		var c int64
		var h sql.NullInt64
		if err := rows.Scan(&m.ID, &m.UserID, &m.Name, &m.Email, &m.Subject, &blob, &c, &h); err != nil {
			return nil, err
		}
		body, err := s.open(blob, "contact:"+m.ID)
		if err != nil {
			return nil, err
		}
		m.Body, m.CreatedAt, m.HandledAt = string(body), time.Unix(c, 0).UTC(), fromUnix(h)
		out = append(out, &m)
	}
	return out, rows.Err()
}

// MarkContactHandled marks a message as dealt with. Returns ErrNotFound.
func (tx *Tx) MarkContactHandled(ctx context.Context, id string) error {
	res, err := tx.ExecContext(ctx, "UPDATE contact_messages SET handled_at = ? WHERE id = ?", tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
