package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"daraport/store"
)

// The route × role × ownership matrix. Every route of routeTable has one row
// here saying, for each persona, what a plain request gets; a route without
// a row (or a row without a route) fails TestRouteMatrixCoversRouteTable, so
// nobody adds a route without deciding who may use it.

// Outcome classes of a plain request.
const (
	ok        = "ok"        // 2xx, or a 303 that is the handler's normal answer
	login     = "login"     // 303 to /login… (401 JSON on the API)
	forbidden = "forbidden" // 403
	notfound  = "notfound"  // 404: another's object, its existence not revealed
	invalid   = "invalid"   // another 4xx: the request does not validate
)

// personas, in the column order of the matrix. patient owns a pending
// practitioner application (a proof document); patient2 is another patient;
// proA and proB are the practitioners of practices A and B; secA is the
// secretary of practice A; org administers an organization.
var personas = []string{"anon", "patient", "patient2", "proA", "proB", "secA", "org", "affiliate", "admin"}

// matrixRow is one route: its permission, the concrete request and the
// outcome per persona.
type matrixRow struct {
	route string // "METHOD PATH" exactly as in routeTable
	perm  Perm
	path  string     // concrete path; {name} is replaced by the fixture's id of that name
	form  url.Values // POST body (same-origin form)
	want  string     // one outcome per persona, in personas order
	check func(t *testing.T, f *matrixFixture, persona string, res response)
}

func routeMatrix() []matrixRow {
	rows := []matrixRow{
		//                                                                          anon   patient  patient2 proA     proB     secA     org       affiliate admin
		{route: "GET /{$}", perm: PermPublic, path: "/", want: "ok ok ok ok ok ok ok ok ok", check: checkHome},
		{route: "GET /healthz", perm: PermPublic, path: "/healthz", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /lang", perm: PermPublic, path: "/lang", form: url.Values{"lang": {"en"}, "next": {"/"}}, want: "ok ok ok ok ok ok ok ok ok"},
		{route: "GET /setup", perm: PermPublic, path: "/setup", want: "ok ok ok ok ok ok ok ok ok", check: checkRedirect("/")},
		{route: "POST /setup", perm: PermPublic, path: "/setup", want: "ok ok ok ok ok ok ok ok ok", check: checkRedirect("/")},
		{route: "GET /register", perm: PermPublic, path: "/register", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /register", perm: PermPublic, path: "/register", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /verify", perm: PermPublic, path: "/verify", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "POST /verify", perm: PermPublic, path: "/verify", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /login", perm: PermPublic, path: "/login", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /login", perm: PermPublic, path: "/login", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		// Without a pending second factor, the 2FA step sends everyone to /login.
		{route: "GET /login/2fa", perm: PermPublic, path: "/login/2fa", want: "login login login login login login login login login"},
		{route: "POST /login/2fa", perm: PermPublic, path: "/login/2fa", want: "login login login login login login login login login"},
		{route: "GET /reset", perm: PermPublic, path: "/reset", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /reset", perm: PermPublic, path: "/reset", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /reset/confirm", perm: PermPublic, path: "/reset/confirm", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "POST /reset/confirm", perm: PermPublic, path: "/reset/confirm", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /contact", perm: PermPublic, path: "/contact", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /contact", perm: PermPublic, path: "/contact", want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},

		{route: "GET /consent", perm: PermSignedIn, path: "/consent", want: "login ok ok ok ok ok ok ok ok"},
		{route: "POST /consent", perm: PermSignedIn, path: "/consent", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /account", perm: PermOwnAccount, path: "/account", want: "login ok ok ok ok ok ok ok ok", check: checkAccount},
		{route: "POST /account", perm: PermOwnAccount, path: "/account", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "POST /account/password", perm: PermOwnAccount, path: "/account/password", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /account/sessions", perm: PermOwnAccount, path: "/account/sessions", want: "login ok ok ok ok ok ok ok ok"},
		// {session} is a session of patient2 (not the one making the requests).
		{route: "POST /account/sessions/{id}/revoke", perm: PermOwnAccount, path: "/account/sessions/{session}/revoke",
			want: "login notfound ok notfound notfound notfound notfound notfound notfound"},
		{route: "POST /account/sessions/revoke-others", perm: PermOwnAccount, path: "/account/sessions/revoke-others", want: "login ok ok ok ok ok ok ok ok"},
		{route: "GET /account/2fa", perm: PermOwnAccount, path: "/account/2fa", want: "login ok ok ok ok ok ok ok ok"},
		{route: "POST /account/2fa/enable", perm: PermOwnAccount, path: "/account/2fa/enable", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "POST /account/2fa/disable", perm: PermOwnAccount, path: "/account/2fa/disable", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /account/privacy", perm: PermOwnAccount, path: "/account/privacy", want: "login ok ok ok ok ok ok ok ok"},
		{route: "POST /account/privacy", perm: PermOwnAccount, path: "/account/privacy", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		// {doc} is the proof of profession patient uploaded.
		{route: "GET /documents/{id}", perm: PermSignedIn, path: "/documents/{doc}",
			want: "login ok notfound notfound notfound notfound notfound notfound ok", check: checkDocument},

		{route: "GET /pro/apply", perm: PermPublic, path: "/pro/apply", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /pro/apply", perm: PermSignedIn, path: "/pro/apply", want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /pro", perm: PermPractitioner, path: "/pro", want: "login forbidden forbidden ok ok forbidden forbidden forbidden forbidden", check: checkPractices},
		{route: "GET /secretary", perm: PermPracticeStaff, path: "/secretary", want: "login forbidden forbidden ok ok ok forbidden forbidden forbidden", check: checkPractices},
		{route: "GET /org", perm: PermOrgAdmin, path: "/org", want: "login forbidden forbidden forbidden forbidden forbidden ok forbidden forbidden", check: checkOrg},
		{route: "GET /affiliate", perm: PermAffiliate, path: "/affiliate", want: "login forbidden forbidden forbidden forbidden forbidden forbidden ok forbidden"},

		{route: "GET /admin", perm: PermAdmin, path: "/admin", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/users", perm: PermAdmin, path: "/admin/users", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok", check: checkAdminUsers},
		{route: "GET /admin/users/{id}", perm: PermAdmin, path: "/admin/users/{patient}", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		// State changes run on throw-away objects.
		{route: "POST /admin/users/{id}/disable", perm: PermAdmin, path: "/admin/users/{throwaway}/disable", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/users/{id}/enable", perm: PermAdmin, path: "/admin/users/{throwaway}/enable", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/users/{id}/roles", perm: PermAdmin, path: "/admin/users/{throwaway}/roles", form: url.Values{"role": {"patient"}, "op": {"add"}},
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/verifications", perm: PermAdmin, path: "/admin/verifications", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/verifications/{id}", perm: PermAdmin, path: "/admin/verifications/{verification}", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/verifications/{id}/approve", perm: PermAdmin, path: "/admin/verifications/{approve}/approve", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/verifications/{id}/reject", perm: PermAdmin, path: "/admin/verifications/{reject}/reject", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/organizations", perm: PermAdmin, path: "/admin/organizations", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok", check: checkAdminOrgs},
		{route: "POST /admin/organizations", perm: PermAdmin, path: "/admin/organizations", form: url.Values{"name": {"Matrix Network"}, "kind": {"network"}},
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/organizations/{id}", perm: PermAdmin, path: "/admin/organizations/{organization}", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/organizations/{id}/practices", perm: PermAdmin, path: "/admin/organizations/{organization}/practices", form: url.Values{"op": {"add"}, "practice_id": {"{practiceB}"}},
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/organizations/{id}/admins", perm: PermAdmin, path: "/admin/organizations/{organization}/admins", form: url.Values{"op": {"add"}, "email": {"throwaway@example.org"}},
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/audit", perm: PermAdmin, path: "/admin/audit", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/outbox", perm: PermAdmin, path: "/admin/outbox", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/outbox/{id}", perm: PermAdmin, path: "/admin/outbox/{outbox}", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /admin/messages", perm: PermAdmin, path: "/admin/messages", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/messages/{id}/handled", perm: PermAdmin, path: "/admin/messages/{message}/handled", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},

		// The API: signed-in personas call it with their bearer token.
		{route: "GET /api/v1/openapi.json", perm: PermPublic, path: "/api/v1/openapi.json", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "GET /api/v1/me", perm: PermSignedIn, path: "/api/v1/me", want: "login ok ok ok ok ok ok ok ok", check: checkAPIMe},
		{route: "GET /api/v1/practitioners", perm: PermPublic, path: "/api/v1/practitioners", want: "ok ok ok ok ok ok ok ok ok"},

		// Last: signing out ends the session (each persona signs out a
		// second session of their own).
		{route: "POST /logout", perm: PermPublic, path: "/logout", want: "ok ok ok ok ok ok ok ok ok", check: checkRedirect("/")},
	}
	// Each capability's rows live beside its tests.
	for _, more := range [][]matrixRow{settingsMatrix(), hoursMatrix(), typesMatrix(), blocksMatrix(), slotsMatrix(), appointmentsMatrix(), bookPagesMatrix(), directoryMatrix(), intakeMatrix(), journeysMatrix(),
		seriesMatrix(), deliveryMatrix(), noticesMatrix(), visitMatrix(), opsMatrix(), workspaceMatrix()} {
		rows = append(rows, more...)
	}
	return rows
}

func TestRouteMatrixCoversRouteTable(t *testing.T) {
	t.Parallel()
	rows := map[string]matrixRow{}
	for _, row := range routeMatrix() {
		if _, dup := rows[row.route]; dup {
			t.Errorf("matrix row %q appears twice", row.route)
		}
		rows[row.route] = row
		if n := len(strings.Fields(row.want)); n != len(personas) {
			t.Errorf("matrix row %q has %d outcomes for %d personas", row.route, n, len(personas))
		}
	}
	seen := map[string]bool{}
	for _, rt := range (&Server{}).routeTable() {
		key := rt.method + " " + rt.path
		seen[key] = true
		row, found := rows[key]
		if !found {
			t.Errorf("route %q is not in the route × role matrix (routes_test.go): decide who may use it", key)
			continue
		}
		if row.perm != rt.perm {
			t.Errorf("route %q declares %q, the matrix expects %q", key, rt.perm, row.perm)
		}
	}
	for key := range rows {
		if !seen[key] {
			t.Errorf("matrix row %q matches no route of routeTable", key)
		}
	}
}

// matrixFixture is one server with a user per persona and the objects the
// matrix's paths name.
type matrixFixture struct {
	ts      *testServer
	users   map[string]*testUser
	clients map[string]*http.Client // signed in (anon: none)
	second  map[string]*http.Client // a second session per persona, for /logout
	tokens  map[string]string
	ids     map[string]string
	proof   []byte
	orgName string
}

// tinyPDF is a small, real PDF document.
const tinyPDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj " +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

// addApplication stores a practitioner application of u (a pending practice,
// the proof document and the verification request) and returns the
// verification and document ids.
func (ts *testServer) addApplication(t testing.TB, u *testUser, practice string, proof []byte) (verificationID, documentID string) {
	t.Helper()
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		pr := &store.Practice{Name: practice, TimeZone: "Europe/Paris", Status: store.PracticePending}
		if err := tx.CreatePractice(ctx, pr); err != nil {
			return err
		}
		doc := &store.Document{OwnerID: u.ID, Purpose: "proof", Filename: "proof.pdf", ContentType: "application/pdf"}
		if err := tx.CreateDocument(ctx, doc, proof); err != nil {
			return err
		}
		v := &store.Verification{UserID: u.ID, PracticeID: pr.ID, DocumentID: doc.ID, Profession: "Oncologist"}
		if err := tx.CreateVerification(ctx, v); err != nil {
			return err
		}
		verificationID, documentID = v.ID, doc.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return verificationID, documentID
}

// sessionKeys returns the public keys (as on /account/sessions) of u's sessions.
func (ts *testServer) sessionKeys(t testing.TB, userID string) []string {
	t.Helper()
	list, err := ts.db.UserSessions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range list {
		keys = append(keys, s.ID[:16])
	}
	return keys
}

// tryLogin signs in with c without failing the test (safe in goroutines).
func (ts *testServer) tryLogin(c *http.Client, email, password string) error {
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequest("POST", ts.URL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("login %s: status %d", email, res.StatusCode)
	}
	return nil
}

// parallel runs fns at most n at a time and returns their errors joined.
func parallel(n int, fns ...func() error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	f := &matrixFixture{ts: ts, users: map[string]*testUser{}, clients: map[string]*http.Client{}, second: map[string]*http.Client{},
		tokens: map[string]string{}, ids: map[string]string{}, proof: []byte(tinyPDF), orgName: "Clinique Azur"}
	f.users["admin"] = ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	f.users["patient"] = ts.addUser(t, "patient@example.org", "Pat Patient", store.RolePatient, "")
	f.users["patient2"] = ts.addUser(t, "patient2@example.org", "Paz Second", store.RolePatient, "")
	f.users["proA"] = ts.addUser(t, "pro-a@example.org", "Alba Practice", store.RolePractitioner, "")
	f.users["proB"] = ts.addUser(t, "pro-b@example.org", "Bruno Practice", store.RolePractitioner, "")
	f.users["secA"] = ts.addUser(t, "sec-a@example.org", "Sam Secretary", store.RoleSecretary, f.users["proA"].PracticeID)
	f.users["org"] = ts.addUser(t, "org@example.org", "Olga Org", store.RolePatient, "")
	f.users["affiliate"] = ts.addUser(t, "affiliate@example.org", "Afi Affiliate", store.RoleAffiliate, "")
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		o := &store.Organization{Name: f.orgName}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		f.ids["organization"] = o.ID
		if err := tx.SetPracticeOrganization(ctx, f.users["proA"].PracticeID, o.ID); err != nil {
			return err
		}
		return tx.AddMembership(ctx, &store.Membership{UserID: f.users["org"].ID, Role: store.RoleOrgAdmin, OrganizationID: o.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	throwaway := ts.addUser(t, "throwaway@example.org", "Tom Throwaway", store.RolePatient, "")
	f.ids["practiceA"] = f.users["proA"].PracticeID
	f.ids["practiceB"] = f.users["proB"].PracticeID
	// Each capability adds the objects its rows need (ids in f.ids).
	for _, fn := range []func(*testing.T, *matrixFixture){settingsFixture, hoursFixture, typesFixture, blocksFixture, slotsFixture, appointmentsFixture, directoryFixture, intakeFixture, journeysFixture,
		seriesFixture, deliveryFixture, noticesFixture, visitFixture, opsFixture, workspaceFixture} {
		fn(t, f)
	}
	f.ids["patient"] = f.users["patient"].ID
	f.ids["throwaway"] = throwaway.ID
	f.ids["verification"], f.ids["doc"] = ts.addApplication(t, f.users["patient"], "Cabinet Patient", f.proof)
	f.ids["approve"], _ = ts.addApplication(t, throwaway, "Cabinet Approve", []byte(tinyPDF))
	f.ids["reject"], _ = ts.addApplication(t, throwaway, "Cabinet Reject", []byte(tinyPDF))
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		m := &store.OutboxMessage{To: "patient@example.org", Template: "test", Subject: "Test", TextBody: "Hello", HTMLBody: "<p>Hello</p>", State: store.OutboxHeld}
		if err := tx.Enqueue(ctx, m); err != nil {
			return err
		}
		f.ids["outbox"] = m.ID
		cm := &store.ContactMessage{Name: "Ann Onymous", Email: "ann@example.org", Subject: "Question", Body: "Hello"}
		if err := tx.CreateContactMessage(ctx, cm); err != nil {
			return err
		}
		f.ids["message"] = cm.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Sign everyone in, and patient2 a second time: the session the revoke
	// row ends.
	var fns []func() error
	for _, p := range personas[1:] {
		u := f.users[p]
		f.tokens[p] = ts.token(t, u)
		c := ts.clientLang(t, "en")
		f.clients[p] = c
		fns = append(fns, func() error { return ts.tryLogin(c, u.Email, u.Password) })
	}
	extra := ts.clientLang(t, "en")
	if err := ts.tryLogin(extra, f.users["patient2"].Email, testPassword); err != nil {
		t.Fatal(err)
	}
	f.ids["session"] = ts.sessionKeys(t, f.users["patient2"].ID)[0]
	if err := parallel(4, fns...); err != nil {
		t.Fatal(err)
	}
	return f
}

// signInSecond signs every persona in with a second client.
func (f *matrixFixture) signInSecond(t *testing.T) {
	var fns []func() error
	for _, p := range personas[1:] {
		u := f.users[p]
		c := f.ts.clientLang(t, "en")
		f.second[p] = c
		fns = append(fns, func() error { return f.ts.tryLogin(c, u.Email, u.Password) })
	}
	if err := parallel(4, fns...); err != nil {
		t.Fatal(err)
	}
}

// classify names the outcome class of an answer.
func classify(res response, api bool) string {
	code := res.StatusCode
	switch {
	case code >= 200 && code < 300:
		return ok
	case code == http.StatusSeeOther || code == http.StatusFound:
		loc := res.Header.Get("Location")
		switch {
		case loc == "/login" || strings.HasPrefix(loc, "/login?"):
			return login
		case strings.HasPrefix(loc, "/consent"), strings.HasPrefix(loc, "/setup"), strings.HasPrefix(loc, "/login/2fa"):
			return "gate " + loc // never expected: every persona has passed the gates
		}
		return ok
	case code == http.StatusUnauthorized && api:
		return login
	case code == http.StatusForbidden:
		return forbidden
	case code == http.StatusNotFound:
		return notfound
	case code >= 400 && code < 500:
		return invalid
	}
	return fmt.Sprintf("status %d", code)
}

func TestRouteMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	ts := f.ts
	anon := ts.clientLang(t, "en")
	for _, row := range routeMatrix() {
		t.Run(row.route, func(t *testing.T) {
			path := row.path
			for name, id := range f.ids {
				path = strings.ReplaceAll(path, "{"+name+"}", id)
			}
			if strings.Contains(path, "{") {
				t.Fatalf("path %q names an unknown fixture id", path)
			}
			form := url.Values{}
			for k, vs := range row.form {
				for _, v := range vs {
					for name, id := range f.ids {
						v = strings.ReplaceAll(v, "{"+name+"}", id)
					}
					form.Add(k, v)
				}
			}
			logout := row.route == "POST /logout"
			if logout {
				f.signInSecond(t)
			}
			api := strings.HasPrefix(path, "/api/")
			method := strings.Fields(row.route)[0]
			want := strings.Fields(row.want)
			// Every persona's request runs at once: sign-in answers are
			// padded to authFloor, so sequential runs would be slow.
			results := make([]response, len(personas))
			fns := make([]func() error, len(personas))
			for i, p := range personas {
				fns[i] = func() error {
					var err error
					results[i], err = f.request(method, path, form, p, api, logout, anon)
					return err
				}
			}
			if err := parallel(len(personas), fns...); err != nil {
				t.Fatal(err)
			}
			for i, p := range personas {
				res := results[i]
				got := classify(res, api)
				if got != want[i] {
					t.Errorf("%s as %s: got %s (status %d, Location %q), want %s", row.route, p, got, res.StatusCode, res.Header.Get("Location"), want[i])
					continue
				}
				checkOutcome(t, f, row, p, got, path, res)
				if row.check != nil {
					row.check(t, f, p, res)
				}
			}
			if logout {
				// The second sessions ended; the first ones still work.
				for _, p := range personas[1:] {
					if got := classify(ts.get(t, f.second[p], "/account"), false); got != login {
						t.Errorf("after /logout, %s's signed-out session still opens /account (%s)", p, got)
					}
					if got := classify(ts.get(t, f.clients[p], "/account"), false); got != ok {
						t.Errorf("after /logout of another session, %s's first session is gone (%s)", p, got)
					}
				}
			}
		})
	}
	t.Run("UnknownObjects", func(t *testing.T) {
		admin := f.clients["admin"]
		for _, p := range []string{"/documents/nope", "/admin/users/nope", "/admin/verifications/nope", "/admin/outbox/nope"} {
			if res := ts.get(t, admin, p); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s as admin: %d, want 404", p, res.StatusCode)
			}
		}
		for _, p := range []string{"/admin/users/nope/disable", "/admin/verifications/nope/approve", "/admin/messages/nope/handled"} {
			if res := ts.post(t, admin, p, nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s as admin: %d, want 404", p, res.StatusCode)
			}
		}
	})
	t.Run("ThrowawayChanges", func(t *testing.T) {
		// The admin's requests did what they say, on the throw-away objects only.
		ctx := context.Background()
		v, err := ts.db.FindVerificationByID(ctx, f.ids["approve"])
		if err != nil || v.State != store.VerificationApproved {
			t.Errorf("approved verification: %v %+v", err, v)
		}
		v, err = ts.db.FindVerificationByID(ctx, f.ids["reject"])
		if err != nil || v.State != store.VerificationRejected {
			t.Errorf("rejected verification: %v %+v", err, v)
		}
		v, err = ts.db.FindVerificationByID(ctx, f.ids["verification"])
		if err != nil || v.State != store.VerificationPending {
			t.Errorf("the patient's own request changed: %v %+v", err, v)
		}
		u, err := ts.db.FindUserByID(ctx, f.ids["throwaway"])
		if err != nil || !u.DisabledAt.IsZero() {
			t.Errorf("throw-away user not re-enabled: %v", err)
		}
	})
}

// request makes persona's plain request.
func (f *matrixFixture) request(method, path string, form url.Values, persona string, api, logout bool, anon *http.Client) (response, error) {
	ts := f.ts
	var body *strings.Reader
	if method == "POST" {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		return response{}, err
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ts.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	c := anon
	switch {
	case persona == "anon":
	case api:
		req.Header.Set("Authorization", "Bearer "+f.tokens[persona])
		c = http.DefaultClient
	case logout:
		c = f.second[persona]
	default:
		c = f.clients[persona]
	}
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{StatusCode: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}

// checkOutcome asserts what every answer of a class must and must not show.
func checkOutcome(t *testing.T, f *matrixFixture, row matrixRow, persona, class, path string, res response) {
	t.Helper()
	ts := f.ts
	html := strings.HasPrefix(res.Header.Get("Content-Type"), "text/html")
	switch class {
	case login:
		if strings.HasPrefix(path, "/api/") {
			if !strings.Contains(res.Body, `"code":"unauthorized"`) {
				t.Errorf("%s as %s: 401 body %s", row.route, persona, res.Body)
			}
		} else if loc := res.Header.Get("Location"); strings.HasPrefix(row.route, "GET /") && row.route != "GET /login/2fa" &&
			loc != "/login?next="+url.QueryEscape(path) {
			t.Errorf("%s as %s: Location %q does not come back to %s", row.route, persona, loc, path)
		}
	case forbidden, notfound:
		msg := map[string]string{forbidden: "error.forbidden", notfound: "error.not_found"}[class]
		if html && !pageHas(res.Body, ts.text(t, "en", msg)) {
			t.Errorf("%s as %s: the %s page lacks its message", row.route, persona, class)
		}
		for p, u := range f.users {
			if p != persona && strings.Contains(res.Body, u.Email) {
				t.Errorf("%s as %s: the %s page shows %s", row.route, persona, class, u.Email)
			}
		}
	case ok:
		if html && res.StatusCode == http.StatusOK {
			for _, prefix := range []string{"nav.", "menu.", "error.", "form."} {
				if strings.Contains(res.Body, ">"+prefix) || strings.Contains(res.Body, "\""+prefix) {
					t.Errorf("%s as %s: an untranslated %s… id in the page", row.route, persona, prefix)
				}
			}
		}
	}
	if html && res.StatusCode == http.StatusOK && persona != "anon" && row.route != "POST /logout" {
		if !pageHas(res.Body, "Hello, "+f.users[persona].Name) {
			t.Errorf("%s as %s: no greeting", row.route, persona)
		}
	}
}

func checkRedirect(to string) func(t *testing.T, f *matrixFixture, persona string, res response) {
	return func(t *testing.T, f *matrixFixture, persona string, res response) {
		if loc := res.Header.Get("Location"); loc != to {
			t.Errorf("as %s: Location %q, want %q", persona, loc, to)
		}
	}
}

func checkHome(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "anon" {
		if pageHas(res.Body, "Hello,") || !strings.Contains(res.Body, `href="/login"`) {
			t.Errorf("home as anon: greeting shown or no sign-in link")
		}
		return
	}
	if !pageHas(res.Body, "Hello, "+f.users[persona].Name) {
		t.Errorf("home as %s: no greeting %q", persona, "Hello, "+f.users[persona].Name)
	}
	// The menu shows the portals the person's roles allow, and only them.
	for href, who := range map[string][]string{
		`href="/admin"`:     {"admin"},
		`href="/pro"`:       {"proA", "proB"},
		`href="/secretary"`: {"proA", "proB", "secA"},
		`href="/org"`:       {"org"},
		`href="/affiliate"`: {"affiliate"},
	} {
		if got, want := strings.Contains(res.Body, href), slices.Contains(who, persona); got != want {
			t.Errorf("home as %s: menu link %s shown = %v, want %v", persona, href, got, want)
		}
	}
	// Verified practices are listed; pending ones are not.
	if !pageHas(res.Body, "Alba Practice") || pageHas(res.Body, "Cabinet Patient") {
		t.Errorf("home as %s: directory shows the wrong practices", persona)
	}
}

func checkAccount(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "anon" {
		return
	}
	me := f.users[persona]
	if !strings.Contains(res.Body, me.Email) {
		t.Errorf("/account as %s: own e-mail missing", persona)
	}
	for p, u := range f.users {
		if p != persona && strings.Contains(res.Body, u.Email) {
			t.Errorf("/account as %s shows %s's e-mail", persona, p)
		}
	}
}

func checkDocument(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode == http.StatusOK {
		if res.Body != string(f.proof) {
			t.Errorf("document as %s: wrong content", persona)
		}
		if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("document as %s: Content-Disposition %q, want an attachment", persona, cd)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/pdf" {
			t.Errorf("document as %s: Content-Type %q", persona, ct)
		}
		return
	}
	if strings.Contains(res.Body, "%PDF") {
		t.Errorf("document as %s: refused, yet the content leaks", persona)
	}
}

func checkPractices(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != http.StatusOK {
		return
	}
	own, other := "Alba Practice", "Bruno Practice"
	if persona == "proB" {
		own, other = other, own
	}
	// The page's <main> lists the person's practices (the header greets them).
	main := html2text(mainOf(res.Body))
	if !strings.Contains(main, own) || strings.Contains(main, other) {
		t.Errorf("as %s: the page should list %q and not %q", persona, own, other)
	}
}

func checkOrg(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != http.StatusOK {
		return
	}
	if !pageHas(res.Body, f.orgName) {
		t.Errorf("/org as %s: the organization %q is not listed", persona, f.orgName)
	}
	if !pageHas(res.Body, "Alba Practice") {
		t.Errorf("/org as %s: practice A of the organization is not listed", persona)
	}
	if pageHas(res.Body, "Bruno Practice") {
		t.Errorf("/org as %s: practice B, outside the organization, is listed", persona)
	}
}

func checkAdminOrgs(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "admin" && !pageHas(res.Body, f.orgName) {
		t.Errorf("/admin/organizations: %q not listed", f.orgName)
	}
}

func checkAdminUsers(t *testing.T, f *matrixFixture, persona string, res response) {
	admin := f.users["admin"].Email
	if persona == "admin" {
		for _, u := range f.users {
			if !strings.Contains(res.Body, u.Email) {
				t.Errorf("/admin/users: %s not listed", u.Email)
			}
		}
		return
	}
	if strings.Contains(res.Body, admin) {
		t.Errorf("/admin/users as %s shows the admin's e-mail", persona)
	}
}

func checkAPIMe(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "anon" {
		return
	}
	if !strings.Contains(res.Body, `"id":"`+f.users[persona].ID+`"`) {
		t.Errorf("/api/v1/me as %s: not the caller: %s", persona, res.Body)
	}
}

// html2text unescapes a fragment of HTML (tags stay; enough for contains checks).
func html2text(s string) string {
	return strings.NewReplacer("&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`).Replace(s)
}
