package app

import (
	"net/http"
	"strings"
	"testing"

	"daraport/store"
)

func TestSmokeLoginAndHome(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.client(t)
	res := ts.get(t, c, "/login")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d %s", res.StatusCode, res.Body)
	}
	ts.login(t, c, admin)
	for _, p := range []string{"/", "/admin", "/admin/users", "/admin/audit", "/admin/outbox", "/account", "/account/sessions", "/account/2fa", "/account/privacy", "/pro/apply", "/contact", "/admin/verifications", "/admin/messages"} {
		res = ts.get(t, c, p)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", p, res.StatusCode, res.Body)
		}
		if strings.Contains(res.Body, "nav.") || strings.Contains(res.Body, "error.") {
			t.Errorf("%s: untranslated id in page", p)
		}
	}
	if !strings.Contains(ts.get(t, c, "/").Body, "Hello, Ada Admin") {
		t.Error("no greeting")
	}
}
