package app

import (
	"context"
	"net/url"
	"testing"

	"daraport/store"
)

// deliveryMatrix are the route × role rows of outbox delivery, SMTP, SMS and webhooks transport (issue 6).
// The fixture server has no SMTP server: the test e-mail answers 422 to the
// admin; "retry" acts on a failed webhook row (webhooks need no setting).
func deliveryMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "POST /admin/outbox/test", perm: PermAdmin, path: "/admin/outbox/test", form: url.Values{"to": {"admin@example.org"}},
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden invalid"},
		{route: "POST /admin/outbox/{id}/retry", perm: PermAdmin, path: "/admin/outbox/{failedOutbox}/retry",
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		// After the row above: it finds no failed message left, which is fine.
		{route: "POST /admin/outbox/retry-failed", perm: PermAdmin, path: "/admin/outbox/retry-failed",
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
	}
}

// deliveryFixture prepares what the delivery rows act on: a webhook that
// failed for good.
func deliveryFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	var id string
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		m := &store.OutboxMessage{Kind: store.OutboxWebhook, To: "https://hooks.example.org/daraport", TextBody: `{"type":"test"}`, State: store.OutboxFailed}
		if err := tx.Enqueue(ctx, m); err != nil {
			return err
		}
		id = m.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ids["failedOutbox"] = id
}
