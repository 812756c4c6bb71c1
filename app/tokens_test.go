package app

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"daraport/store"
)

var tokenValueRe = regexp.MustCompile(`<input id="token-value" readonly value="([^"]+)"`)

func TestTokensPage(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	u := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	other := ts.addUser(t, "other@example.org", "Olga Other", store.RolePatient, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, u)
	oc := ts.clientLang(t, "en")
	ts.login(t, oc, other)

	// The account page links to it.
	if acc := ts.get(t, c, "/account"); !strings.Contains(acc.Body, `href="/account/tokens"`) {
		t.Fatal("no link to the tokens page on the account page")
	}
	// Bad names: nothing created.
	for _, name := range []string{"", "   ", strings.Repeat("n", 61), "bad\x01name"} {
		res := ts.post(t, c, "/account/tokens", url.Values{"name": {name}})
		if res.StatusCode != http.StatusUnprocessableEntity || tokenValueRe.MatchString(res.Body) {
			t.Fatalf("name %q: %d", name, res.StatusCode)
		}
	}
	if n := ts.rows(t, "api_tokens", "user_id = ?", u.ID); n != 0 {
		t.Fatalf("%d tokens after bad input", n)
	}
	// Create: the secret is shown once, the name is escaped.
	res := ts.post(t, c, "/account/tokens", url.Values{"name": {"<script>sync</script>"}})
	m := tokenValueRe.FindStringSubmatch(res.Body)
	if res.StatusCode != http.StatusOK || m == nil || strings.Contains(res.Body, "<script>sync") {
		t.Fatalf("create: %d %s", res.StatusCode, mainOf(res.Body))
	}
	secret := m[1]
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("the page showing the secret may be cached")
	}
	list := ts.get(t, c, "/account/tokens")
	if strings.Contains(list.Body, secret) || !pageHas(list.Body, "<script>sync</script>") || !pageHas(list.Body, ts.text(t, "en", "tokens.never")) {
		t.Fatalf("list: %s", mainOf(list.Body))
	}
	// It works, and its use shows in the list.
	if me := ts.api(t, "GET", "/api/v1/me", secret, nil); me.StatusCode != http.StatusOK || !strings.Contains(me.Body, u.Email) {
		t.Fatalf("me: %d %s", me.StatusCode, me.Body)
	}
	ts.clock.Advance(2 * time.Second)
	list = ts.get(t, c, "/account/tokens")
	if pageHas(list.Body, ts.text(t, "en", "tokens.never")) {
		t.Fatal("last use not shown")
	}
	tokens, err := ts.db.ListAPITokens(t.Context(), u.ID)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("%d tokens: %v", len(tokens), err)
	}
	id := tokens[0].ID
	// Another person cannot revoke it, nor see it.
	if res := ts.post(t, oc, "/account/tokens/"+id+"/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("revoke by another: %d", res.StatusCode)
	}
	if page := ts.get(t, oc, "/account/tokens"); strings.Contains(page.Body, id) {
		t.Fatal("another's token listed")
	}
	if me := ts.api(t, "GET", "/api/v1/me", secret, nil); me.StatusCode != http.StatusOK {
		t.Fatalf("token stopped after a refused revoke: %d", me.StatusCode)
	}
	// Revoked: it stops at once.
	if res := ts.post(t, c, "/account/tokens/"+id+"/revoke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if me := ts.api(t, "GET", "/api/v1/me", secret, nil); me.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d %s", me.StatusCode, me.Body)
	}
	if page := ts.get(t, c, "/account/tokens"); strings.Contains(page.Body, id) {
		t.Fatal("revoked token still listed")
	}
	if res := ts.post(t, c, "/account/tokens/"+id+"/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("second revoke: %d", res.StatusCode)
	}
	// Revoking one leaves the others working (the CLI's token too).
	cli := ts.token(t, u)
	res = ts.post(t, c, "/account/tokens", url.Values{"name": {"Second"}})
	second := tokenValueRe.FindStringSubmatch(res.Body)[1]
	tokens, _ = ts.db.ListAPITokens(t.Context(), u.ID)
	for _, tk := range tokens {
		if tk.Name == "Second" {
			ts.post(t, c, "/account/tokens/"+tk.ID+"/revoke", nil)
		}
	}
	if me := ts.api(t, "GET", "/api/v1/me", second, nil); me.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second token after revoke: %d", me.StatusCode)
	}
	if me := ts.api(t, "GET", "/api/v1/me", cli, nil); me.StatusCode != http.StatusOK {
		t.Fatalf("CLI token after revoking another: %d", me.StatusCode)
	}
}
