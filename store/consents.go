package store

import (
	"context"
	"time"
)

// Consent is one decision of a user about one consent item at one version.
type Consent struct {
	ID      string
	UserID  string
	Item    string
	Version string
	Granted bool
	At      time.Time
	IP      string
}

// RecordConsent appends a consent decision.
func (tx *Tx) RecordConsent(ctx context.Context, c *Consent) error {
	c.ID, c.At = NewID(), tx.now
	_, err := tx.ExecContext(ctx, "INSERT INTO consents (id, user_id, item, version, granted, at, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.UserID, c.Item, c.Version, c.Granted, tx.now.Unix(), c.IP)
	return formatError(err)
}

// Consents returns the user's consent history, newest first.
func (db *DB) Consents(ctx context.Context, userID string) ([]Consent, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT id, user_id, item, version, granted, at, ip FROM consents WHERE user_id = ? ORDER BY at DESC, rowid DESC", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		var c Consent
		var at int64
		if err := rows.Scan(&c.ID, &c.UserID, &c.Item, &c.Version, &c.Granted, &at, &c.IP); err != nil {
			return nil, err
		}
		c.At = time.Unix(at, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// CurrentConsents returns, per item, the user's latest decision.
func (db *DB) CurrentConsents(ctx context.Context, userID string) (map[string]Consent, error) {
	all, err := db.Consents(ctx, userID)
	if err != nil {
		return nil, err
	}
	cur := map[string]Consent{}
	for _, c := range all {
		if _, ok := cur[c.Item]; !ok {
			cur[c.Item] = c
		}
	}
	return cur, nil
}
