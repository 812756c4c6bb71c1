package app

import (
	"context"
	"strings"
	"testing"

	"daraport/store"
)

// TestTokenCacheTakesEffectAtOnce: the API token cache never serves a
// revoked token, a disabled user or old roles, whichever code path made the
// change (here raw SQL in the process, which no invalidation call covers).
func TestTokenCacheTakesEffectAtOnce(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if err := ts.db.Update(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	me := func(tok string) response {
		t.Helper()
		return ts.api(t, "GET", "/api/v1/me", tok, nil)
	}

	t.Run("Revoked", func(t *testing.T) {
		u := ts.addUser(t, "rev@example.org", "Rev Oked", store.RolePatient, "")
		tok := ts.token(t, u)
		for i := 0; i < 3; i++ { // the later ones come from the cache
			if res := me(tok); res.StatusCode != 200 {
				t.Fatalf("before: %d", res.StatusCode)
			}
		}
		exec("UPDATE api_tokens SET revoked_at = 1 WHERE user_id = ?", u.ID)
		if res := me(tok); res.StatusCode != 401 {
			t.Fatalf("revoked token answered %d", res.StatusCode)
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		u := ts.addUser(t, "dis@example.org", "Dis Abled", store.RolePatient, "")
		tok := ts.token(t, u)
		me(tok)
		me(tok)
		exec("UPDATE users SET disabled_at = 1 WHERE id = ?", u.ID)
		if res := me(tok); res.StatusCode != 401 {
			t.Fatalf("disabled user answered %d", res.StatusCode)
		}
	})
	t.Run("NewRole", func(t *testing.T) {
		u := ts.addUser(t, "role@example.org", "New Role", store.RolePatient, "")
		tok := ts.token(t, u)
		me(tok)
		if res := me(tok); strings.Contains(res.Body, `"affiliate"`) {
			t.Fatal("affiliate before the membership exists")
		}
		if err := ts.db.Update(ctx, func(tx *store.Tx) error {
			return tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RoleAffiliate})
		}); err != nil {
			t.Fatal(err)
		}
		if res := me(tok); !strings.Contains(res.Body, `"affiliate"`) {
			t.Fatalf("new role not seen at once: %s", res.Body)
		}
	})
}
