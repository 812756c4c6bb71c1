package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Webhook is a practice's webhook endpoint: every appointment event it
// subscribes to is POSTed to URL, signed with Secret (HMAC-SHA256).
type Webhook struct {
	ID         string
	PracticeID string
	URL        string
	Secret     string   // sealed at rest
	Events     []string // appointment.created, …
	CreatedAt  time.Time
}

// Subscribes tells whether the endpoint wants events of kind.
func (w *Webhook) Subscribes(kind string) bool {
	for _, e := range w.Events {
		if e == kind {
			return true
		}
	}
	return false
}

const webhookColumns = "id, practice_id, url, secret, events, created_at"

func (db *DB) scanWebhooks(rows *sql.Rows) ([]*Webhook, error) {
	defer rows.Close()
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	var out []*Webhook
	for rows.Next() {
		var w Webhook
		var secret []byte
		var events string
		var created int64
		if err := rows.Scan(&w.ID, &w.PracticeID, &w.URL, &secret, &events, &created); err != nil {
			return nil, err
		}
		plain, err := s.open(secret, "webhook_endpoints.secret:"+w.ID)
		if err != nil {
			return nil, err
		}
		w.Secret, w.CreatedAt = string(plain), time.Unix(created, 0).UTC()
		if events != "" {
			w.Events = strings.Split(events, ",")
		}
		out = append(out, &w)
	}
	return out, rows.Err()
}

// CreateWebhook inserts w (its ID is set here when empty).
func (tx *Tx) CreateWebhook(ctx context.Context, w *Webhook) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	if w.ID == "" {
		w.ID = NewID()
	}
	w.CreatedAt = tx.now
	_, err = tx.ExecContext(ctx, "INSERT INTO webhook_endpoints ("+webhookColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		w.ID, w.PracticeID, w.URL, s.seal([]byte(w.Secret), "webhook_endpoints.secret:"+w.ID), strings.Join(w.Events, ","), tx.now.Unix())
	return formatError(err)
}

// DeleteWebhook removes an endpoint of a practice. Returns ErrNotFound when
// the practice has no such endpoint. Its delivery log (outbox rows) stays.
func (tx *Tx) DeleteWebhook(ctx context.Context, practiceID, id string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM webhook_endpoints WHERE id = ? AND practice_id = ?", id, practiceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// FindWebhooks returns the endpoints of a practice, oldest first.
func (db *DB) FindWebhooks(ctx context.Context, practiceID string) ([]*Webhook, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE practice_id = ? ORDER BY created_at, id", practiceID)
	if err != nil {
		return nil, err
	}
	return db.scanWebhooks(rows)
}

// FindWebhooks is FindWebhooks inside tx (the change's transaction).
func (tx *Tx) FindWebhooks(ctx context.Context, practiceID string) ([]*Webhook, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE practice_id = ? ORDER BY created_at, id", practiceID)
	if err != nil {
		return nil, err
	}
	return tx.db.scanWebhooks(rows)
}

// FindWebhook returns one endpoint of a practice, or ErrNotFound.
func (db *DB) FindWebhook(ctx context.Context, practiceID, id string) (*Webhook, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE id = ? AND practice_id = ?", id, practiceID)
	if err != nil {
		return nil, err
	}
	list, err := db.scanWebhooks(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// FindWebhookByID returns an endpoint whatever its practice, or
// ErrNotFound (the outbox worker re-signing a delivery).
func (db *DB) FindWebhookByID(ctx context.Context, id string) (*Webhook, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	list, err := db.scanWebhooks(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// WebhookTemplate is the outbox template of deliveries to one endpoint: the
// delivery log finds them by it.
func WebhookTemplate(endpointID string) string { return "webhook:" + endpointID }

// WebhookEndpointID returns the endpoint id of an outbox template made by
// WebhookTemplate, or "".
func WebhookEndpointID(template string) string {
	id, ok := strings.CutPrefix(template, "webhook:")
	if !ok {
		return ""
	}
	return id
}

// FindWebhookDeliveries returns the latest outbox messages (kind webhook)
// of an endpoint, newest first.
func (db *DB) FindWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]*OutboxMessage, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE kind = 'webhook' AND template = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
		WebhookTemplate(endpointID), limit)
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
