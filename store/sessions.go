package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Session is a signed-in browser. Its ID is the SHA-256 of the secret token
// kept in the cookie, so the database alone cannot be used to hijack it.
type Session struct {
	ID         string
	UserID     string
	Remember   bool
	MFAPending bool
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
}

// NewToken returns a fresh random secret (32 bytes, URL-safe base64) and the
// hash under which it is stored.
func NewToken() (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the stored form of a secret token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

const sessionColumns = "id, user_id, remember, mfa_pending, created_at, last_seen_at, expires_at, ip, user_agent"

func scanSession(row interface{ Scan(...any) error }) (*Session, error) {
	var s Session
	var c, l, e int64
	if err := row.Scan(&s.ID, &s.UserID, &s.Remember, &s.MFAPending, &c, &l, &e, &s.IP, &s.UserAgent); err != nil {
		return nil, formatError(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = time.Unix(c, 0).UTC(), time.Unix(l, 0).UTC(), time.Unix(e, 0).UTC()
	return &s, nil
}

// CreateSession stores s (ID must be the token hash).
func (tx *Tx) CreateSession(ctx context.Context, s *Session) error {
	s.CreatedAt, s.LastSeenAt = tx.now, tx.now
	_, err := tx.ExecContext(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		s.ID, s.UserID, s.Remember, s.MFAPending, tx.now.Unix(), tx.now.Unix(), s.ExpiresAt.Unix(), s.IP, s.UserAgent)
	return formatError(err)
}

// FindSession returns the session with that id (token hash), or ErrNotFound.
// Expiry is the caller's decision.
func (db *DB) FindSession(ctx context.Context, id string) (*Session, error) {
	return scanSession(db.rq.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
}

// UserSessions returns the user's sessions, most recently seen first.
func (db *DB) UserSessions(ctx context.Context, userID string) ([]*Session, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TouchSession records activity and, when expiresAt is not zero, moves the expiry.
func (db *DB) TouchSession(ctx context.Context, id string, expiresAt time.Time) error {
	return db.Batch(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ?, expires_at = COALESCE(?, expires_at) WHERE id = ?", tx.now.Unix(), unix(expiresAt), id)
		return err
	})
}

// CompleteMFA clears the pending second factor of a session.
func (tx *Tx) CompleteMFA(ctx context.Context, id string) error {
	res, err := tx.ExecContext(ctx, "UPDATE sessions SET mfa_pending = 0, last_seen_at = ? WHERE id = ?", tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteSession ends one session of the user. Returns ErrNotFound if the
// user has no such session.
func (tx *Tx) DeleteSession(ctx context.Context, userID, id string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteUserSessions ends every session of the user except keepID (may be "").
// It returns how many were ended.
func (tx *Tx) DeleteUserSessions(ctx context.Context, userID, keepID string) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ? AND id <> ?", userID, keepID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteExpiredSessions removes sessions whose expiry has passed.
func (db *DB) DeleteExpiredSessions(ctx context.Context) (int, error) {
	res, err := db.write.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", db.Now().Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
