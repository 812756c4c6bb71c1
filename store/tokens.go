package store

import (
	"context"
	"database/sql"
	"time"
)

// APIToken is a bearer token for the JSON API; only its hash is stored.
type APIToken struct {
	ID         string
	UserID     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// CreateAPIToken creates a token for the user and returns its secret, shown once.
func (tx *Tx) CreateAPIToken(ctx context.Context, userID, name string) (string, *APIToken, error) {
	secret, hash := NewToken()
	secret = "dpt_" + secret
	hash = HashToken(secret)
	t := &APIToken{ID: NewID(), UserID: userID, Name: name, CreatedAt: tx.now}
	_, err := tx.ExecContext(ctx, "INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) VALUES (?, ?, ?, ?, ?)",
		t.ID, userID, hash, name, tx.now.Unix())
	if err != nil {
		return "", nil, formatError(err)
	}
	return secret, t, nil
}

// FindAPIToken returns the live token with that secret, or ErrNotFound.
func (db *DB) FindAPIToken(ctx context.Context, secret string) (*APIToken, error) {
	var t APIToken
	var c int64
	var l sql.NullInt64
	err := db.rq.QueryRowContext(ctx, "SELECT id, user_id, name, created_at, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
		HashToken(secret)).Scan(&t.ID, &t.UserID, &t.Name, &c, &l)
	if err != nil {
		return nil, formatError(err)
	}
	t.CreatedAt, t.LastUsedAt = time.Unix(c, 0).UTC(), fromUnix(l)
	return &t, nil
}

// TouchAPIToken records the token's last use. It goes through group commit:
// a burst of first requests must not queue one durable commit each.
func (db *DB) TouchAPIToken(ctx context.Context, id string) error {
	return db.Batch(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", tx.now.Unix(), id)
		return err
	})
}

// RevokeAPITokens revokes every token of the user.
func (tx *Tx) RevokeAPITokens(ctx context.Context, userID string) error {
	_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", tx.now.Unix(), userID)
	return err
}

// E-mail token purposes.
const (
	PurposeVerify = "verify"
	PurposeReset  = "reset"
)

// CreateEmailToken creates a single-use token for purpose, valid for ttl, and
// returns its secret. Earlier unused tokens of the same purpose stop working.
func (tx *Tx) CreateEmailToken(ctx context.Context, userID, purpose string, ttl time.Duration) (string, error) {
	if _, err := tx.ExecContext(ctx, "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL",
		tx.now.Unix(), userID, purpose); err != nil {
		return "", err
	}
	secret, hash := NewToken()
	_, err := tx.ExecContext(ctx, "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		hash, userID, purpose, tx.now.Unix(), tx.now.Add(ttl).Unix())
	return secret, formatError(err)
}

// UseEmailToken consumes a token and returns its user's id. Returns
// ErrNotFound for an unknown token or one of another purpose, and ErrConflict
// for a token already used or expired.
func (tx *Tx) UseEmailToken(ctx context.Context, secret, purpose string) (string, error) {
	var userID string
	var exp int64
	var used sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT user_id, expires_at, used_at FROM email_tokens WHERE token_hash = ? AND purpose = ?",
		HashToken(secret), purpose).Scan(&userID, &exp, &used)
	if err != nil {
		return "", formatError(err)
	}
	if used.Valid || tx.now.Unix() > exp {
		return "", ErrConflict
	}
	if _, err := tx.ExecContext(ctx, "UPDATE email_tokens SET used_at = ? WHERE token_hash = ?", tx.now.Unix(), HashToken(secret)); err != nil {
		return "", err
	}
	return userID, nil
}

// CheckEmailToken tells whether a token is usable without consuming it;
// errors as UseEmailToken.
func (db *DB) CheckEmailToken(ctx context.Context, secret, purpose string) (string, error) {
	var userID string
	var exp int64
	var used sql.NullInt64
	err := db.rq.QueryRowContext(ctx, "SELECT user_id, expires_at, used_at FROM email_tokens WHERE token_hash = ? AND purpose = ?",
		HashToken(secret), purpose).Scan(&userID, &exp, &used)
	if err != nil {
		return "", formatError(err)
	}
	if used.Valid || db.Now().Unix() > exp {
		return "", ErrConflict
	}
	return userID, nil
}

// ListAPITokens returns the user's live tokens, newest first.
func (db *DB) ListAPITokens(ctx context.Context, userID string) ([]*APIToken, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT id, user_id, name, created_at, last_used_at FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id",
		userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*APIToken
	for rows.Next() {
		var t APIToken
		var c int64
		var l sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &c, &l); err != nil {
			return nil, err
		}
		t.CreatedAt, t.LastUsedAt = time.Unix(c, 0).UTC(), fromUnix(l)
		out = append(out, &t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes one live token of the user: it stops working at
// once (FindAPIToken reads the row on every request). Returns ErrNotFound
// when the user has no such live token.
func (tx *Tx) RevokeAPIToken(ctx context.Context, userID, id string) error {
	res, err := tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL", tx.now.Unix(), id, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
