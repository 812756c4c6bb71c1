package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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

func TestOrganizations(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	other := ts.addUser(t, "other@example.org", "Otto Other", store.RolePractitioner, "")
	boss := ts.addUser(t, "boss@example.org", "Bea Boss", store.RolePatient, "")
	c := ts.client(t)
	ts.login(t, c, admin)

	res := ts.post(t, c, "/admin/organizations", url.Values{"name": {"Clinique Azur"}, "kind": {"castle"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Please choose one of the proposed kinds.") {
		t.Fatalf("bad kind: %d", res.StatusCode)
	}
	if orgs, _ := ts.db.FindOrganizations(context.Background()); len(orgs) != 0 {
		t.Fatal("an organization was written for a bad kind")
	}
	res = ts.post(t, c, "/admin/organizations", url.Values{"name": {"Clinique Azur"}, "kind": {"clinic"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	orgPath := res.Header.Get("Location")
	orgID := strings.TrimPrefix(orgPath, "/admin/organizations/")
	if res = ts.post(t, c, orgPath+"/practices", url.Values{"op": {"add"}, "practice_id": {pro.PracticeID}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add practice: %d", res.StatusCode)
	}
	res = ts.post(t, c, orgPath+"/admins", url.Values{"op": {"add"}, "email": {"nobody@example.org"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "No account uses this e-mail address.") {
		t.Fatalf("unknown admin e-mail: %d", res.StatusCode)
	}
	if res = ts.post(t, c, orgPath+"/admins", url.Values{"op": {"add"}, "email": {boss.Email}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add admin: %d", res.StatusCode)
	}
	bc := ts.client(t)
	ts.login(t, bc, boss)
	page := ts.get(t, bc, "/org")
	if page.StatusCode != 200 || !strings.Contains(page.Body, "Clinique Azur") || !strings.Contains(page.Body, "Paula Pro") || strings.Contains(page.Body, "Otto Other") {
		t.Fatalf("/org for the org admin: %d", page.StatusCode)
	}
	// A practice in another organization cannot be taken over.
	res = ts.post(t, c, "/admin/organizations", url.Values{"name": {"Réseau Sud"}, "kind": {"network"}})
	second := res.Header.Get("Location")
	if res = ts.post(t, c, second+"/practices", url.Values{"op": {"add"}, "practice_id": {pro.PracticeID}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("practice taken from another organization: %d", res.StatusCode)
	}
	if res = ts.post(t, c, orgPath+"/practices", url.Values{"op": {"remove"}, "practice_id": {other.PracticeID}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("removing a practice that is not in it: %d", res.StatusCode)
	}
	entries, _ := ts.db.FindAudit(context.Background(), store.AuditFilter{ObjectID: orgID})
	if len(entries) != 3 {
		t.Fatalf("audit has %d entries for the organization, want 3 (created, practice, admin)", len(entries))
	}
}

// TestOpenAPICoversRoutes: every API route is in the document with a
// summary, and the document is valid JSON naming OpenAPI 3.
func TestOpenAPICoversRoutes(t *testing.T) {
	ts := newTestServer(t, nil)
	res := ts.api(t, "GET", "/api/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(res.Body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v %q", err, doc.OpenAPI)
	}
	n := 0
	for _, rt := range ts.srv.routes {
		if !strings.HasPrefix(rt.path, "/api/v1/") {
			continue
		}
		n++
		key := rt.method + " " + rt.path
		if apiSummaries[key] == "" {
			t.Errorf("%s has no summary in apiSummaries", key)
		}
		op := doc.Paths[strings.TrimPrefix(rt.path, "/api/v1")][strings.ToLower(rt.method)]
		if op == nil {
			t.Errorf("%s is missing from openapi.json", key)
		}
	}
	for key := range apiSummaries {
		found := false
		for _, rt := range ts.srv.routes {
			found = found || rt.method+" "+rt.path == key
		}
		if !found {
			t.Errorf("apiSummaries describes %s, which is no route", key)
		}
	}
	if n < 15 {
		t.Fatalf("only %d API routes", n)
	}
}

// TestJourneysChosen: brand.journeys decides which journeys are offered;
// the pages of the others answer 404 and their links disappear.
func TestJourneysChosen(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Brand.Journeys = []string{"directory"} })
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	pat := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, pat)
	for _, path := range []string{"/match", "/p/" + pro.PracticeID + "/request", "/requests"} {
		if r := ts.get(t, c, path); r.StatusCode != 404 {
			t.Errorf("%s with only the directory journey: %d", path, r.StatusCode)
		}
	}
	home := ts.get(t, c, "/")
	if home.StatusCode != 200 || strings.Contains(home.Body, `href="/match"`) || strings.Contains(home.Body, `href="/requests"`) || !strings.Contains(home.Body, `id="dir-q"`) {
		t.Fatalf("home with only the directory journey: %d", home.StatusCode)
	}
	ts2 := newTestServer(t, func(c *Config) { c.Brand.Journeys = []string{"match"} })
	ts2.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	home = ts2.get(t, ts2.clientLang(t, "en"), "/")
	if strings.Contains(home.Body, `id="dir-q"`) || !strings.Contains(home.Body, `href="/match"`) {
		t.Fatal("home with only the match journey still shows the directory search, or no link to it")
	}
	if r := ts2.get(t, ts2.clientLang(t, "en"), "/match"); r.StatusCode != 200 {
		t.Fatalf("/match offered: %d", r.StatusCode)
	}
	if _, err := LoadConfig("", []string{"DARAPORT_BRAND_JOURNEYS=directory,teleport"}); err == nil || !strings.Contains(err.Error(), "brand.journeys") {
		t.Fatalf("unknown journey accepted: %v", err)
	}
}
