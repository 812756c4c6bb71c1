package store

import (
	"context"
)

// Meta returns the installation setting stored under key, or ErrNotFound.
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.rq.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	return v, formatError(err)
}

// Meta returns the setting stored under key inside the transaction, or ErrNotFound.
func (tx *Tx) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	return v, formatError(err)
}

// SetMeta stores value under key.
func (tx *Tx) SetMeta(ctx context.Context, key, value string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}

// DeleteMeta removes key.
func (tx *Tx) DeleteMeta(ctx context.Context, key string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM meta WHERE key = ?", key)
	return err
}
