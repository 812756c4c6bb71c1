package app

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"daraport/store"
)

// noticesMatrix are the route × role rows of appointment messages, calendar invites, reminders and webhooks (issues 4 and 6).
// Only the staff of the practice (its practitioner and secretary) may see
// or change its reminders and webhooks; everyone else learns nothing (404),
// admins included: the webhook secrets are the practice's.
func noticesMatrix() []matrixRow {
	//                   anon  patient  patient2 proA    proB     secA    org      affiliate admin
	const page = "login notfound notfound ok notfound ok notfound notfound notfound"
	const refused = "login notfound notfound invalid notfound invalid notfound notfound notfound"
	return []matrixRow{
		{route: "GET /pro/p/{id}/notices", perm: PermPracticeStaff, path: "/pro/p/{practiceA}/notices", want: page, check: checkNoticesPage},
		// A reminder time below 15 minutes: the form comes back with its message.
		{route: "POST /pro/p/{id}/notices", perm: PermPracticeStaff, path: "/pro/p/{practiceA}/notices",
			form: url.Values{"mode": {"custom"}, "reminders": {"1m"}}, want: refused},
		{route: "GET /api/v1/practices/{id}/notices", perm: PermPracticeStaff, path: "/api/v1/practices/{practiceA}/notices", want: page},
		// No body: 400.
		{route: "PUT /api/v1/practices/{id}/notices", perm: PermPracticeStaff, path: "/api/v1/practices/{practiceA}/notices", want: refused},
		// Not an http(s) URL: refused, nothing stored.
		{route: "POST /pro/p/{id}/webhooks", perm: PermPracticeStaff, path: "/pro/p/{practiceA}/webhooks",
			form: url.Values{"url": {"ftp://example.org/hook"}, "events": {EventCreated}}, want: refused},
		// Removing an endpoint already gone answers as if it had just gone.
		{route: "POST /pro/p/{id}/webhooks/{wh}/delete", perm: PermPracticeStaff, path: "/pro/p/{practiceA}/webhooks/gone/delete", want: page},
		{route: "GET /api/v1/practices/{id}/webhooks", perm: PermPracticeStaff, path: "/api/v1/practices/{practiceA}/webhooks", want: page,
			check: checkAPIWebhooks},
		// A form body is not JSON: 400.
		{route: "POST /api/v1/practices/{id}/webhooks", perm: PermPracticeStaff, path: "/api/v1/practices/{practiceA}/webhooks", want: refused},
		{route: "DELETE /api/v1/practices/{id}/webhooks/{wh}", perm: PermPracticeStaff, path: "/api/v1/practices/{practiceA}/webhooks/gone", want: page},
		{route: "GET /api/v1/practices/{id}/webhooks/{wh}/deliveries", perm: PermPracticeStaff,
			path: "/api/v1/practices/{practiceA}/webhooks/{webhookA}/deliveries", want: page},
	}
}

// noticesFixture gives practice A a webhook endpoint.
func noticesFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	w := &store.Webhook{PracticeID: f.ids["practiceA"], URL: "https://hooks.example.org/daraport?token=matrix", Secret: newWebhookSecret(),
		Events: []string{EventCreated}}
	if err := f.ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateWebhook(ctx, w) }); err != nil {
		t.Fatal(err)
	}
	f.ids["webhookA"] = w.ID
	f.ids["webhookSecretA"] = w.Secret
}

// checkNoticesPage: the page lists the endpoint but never its secret.
func checkNoticesPage(t *testing.T, f *matrixFixture, persona string, res response) {
	staff := persona == "proA" || persona == "secA"
	if staff && !pageHas(res.Body, "https://hooks.example.org/daraport?token=matrix") {
		t.Errorf("notices page as %s does not list the webhook", persona)
	}
	if strings.Contains(res.Body, f.ids["webhookSecretA"]) {
		t.Errorf("notices page as %s shows the webhook secret", persona)
	}
}

// checkAPIWebhooks: the list never carries a secret.
func checkAPIWebhooks(t *testing.T, f *matrixFixture, persona string, res response) {
	staff := persona == "proA" || persona == "secA"
	if staff != strings.Contains(res.Body, f.ids["webhookA"]) || strings.Contains(res.Body, f.ids["webhookSecretA"]) || strings.Contains(res.Body, `"secret"`) {
		t.Errorf("webhooks API as %s: %s", persona, res.Body)
	}
}
