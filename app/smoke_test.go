package app

import (
	"encoding/json"
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

func TestAPIPractitionersPaging(t *testing.T) {
	ts := newTestServer(t, nil)
	for i := 0; i < 5; i++ {
		ts.addUser(t, "dr"+string(rune('a'+i))+"@example.org", "Doctor "+string(rune('A'+i)), store.RolePractitioner, "")
	}
	res := ts.api(t, "GET", "/api/v1/practitioners", "", nil)
	var all []apiPractitioner
	if err := json.Unmarshal([]byte(res.Body), &all); err != nil || len(all) != 5 {
		t.Fatalf("without limit: %d entries (%v)", len(all), err)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		res = ts.api(t, "GET", "/api/v1/practitioners?limit=2&cursor="+cursor, "", nil)
		var page struct {
			Practitioners []apiPractitioner `json:"practitioners"`
			Next          string            `json:"next"`
		}
		if err := json.Unmarshal([]byte(res.Body), &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Practitioners {
			seen = append(seen, p.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 5 {
		t.Fatalf("paging saw %d entries", len(seen))
	}
	for _, bad := range []string{"limit=0", "limit=x", "limit=5000", "limit=2&cursor=bm9wZQ", "limit=2&cursor=!!"} {
		res = ts.api(t, "GET", "/api/v1/practitioners?"+bad, "", nil)
		if res.StatusCode != 400 || !strings.Contains(res.Body, `"code":"bad_request"`) {
			t.Errorf("%s: %d %s", bad, res.StatusCode, res.Body)
		}
	}
}
