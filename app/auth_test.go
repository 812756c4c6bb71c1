package app

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"daraport/store"
)

// Scenario tests of the account flows, through real HTTP against the real
// SQLite store.

// signUp registers through the form as a browser does: it opens
// /register, solves the captcha of the page and posts.
func (ts *testServer) signUp(t testing.TB, c *http.Client, name, email, password string) response {
	t.Helper()
	page := ts.get(t, c, "/register")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /register: %d", page.StatusCode)
	}
	form := captchaSolution(t, page.Body)
	form.Set("name", name)
	form.Set("email", email)
	form.Set("email2", email)
	form.Set("password", password)
	form.Set("password2", password)
	return ts.post(t, c, "/register", form)
}

// confirmEmail follows the link of the newest e-mail to addr (it must be the
// verification e-mail) and confirms the address.
func (ts *testServer) confirmEmail(t testing.TB, c *http.Client, addr string) {
	t.Helper()
	m := ts.lastMail(t, addr)
	if m.Template != "verify" {
		t.Fatalf("newest e-mail to %s is %q, want verify", addr, m.Template)
	}
	page := ts.get(t, c, ts.localPath(t, mailLink(t, m)))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("verification link: %d", page.StatusCode)
	}
	res := ts.post(t, c, "/verify", url.Values{"token": {hiddenValue(t, page.Body, "token")}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("POST /verify: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// localPath checks that link is built from server.base_url and returns its
// path and query.
func (ts *testServer) localPath(t testing.TB, link string) string {
	t.Helper()
	if !strings.HasPrefix(link, ts.cfg.Server.BaseURL+"/") {
		t.Fatalf("link %q is not built from server.base_url %q", link, ts.cfg.Server.BaseURL)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// consentForm is a complete consent form.
func consentForm(next string) url.Values {
	return url.Values{"consent_privacy": {"1"}, "consent_health_data": {"1"}, "consent_reminders": {"1"},
		"birth_date": {"1985-04-12"}, "postal_code": {"75011"}, "city": {"Paris"}, "next": {next}}
}

// signIn posts the sign-in form and returns the answer.
func (ts *testServer) signIn(t testing.TB, c *http.Client, email, password string, extra url.Values) response {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.post(t, c, "/login", form)
}

// getWith fetches path with extra request headers.
func (ts *testServer) getWith(t testing.TB, c *http.Client, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return ts.do(t, c, req)
}

// upload posts a multipart form with one file, as the application form does.
func (ts *testServer) upload(t testing.TB, c *http.Client, path string, fields url.Values, field, filename string, content []byte) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	req, err := http.NewRequest("POST", ts.URL+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return ts.do(t, c, req)
}

// responseCookie returns the cookie name set by an answer, or nil.
func responseCookie(res response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// rawSetCookie returns the Set-Cookie header line of cookie name.
func rawSetCookie(res response, name string) string {
	for _, v := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// signedIn tells whether c's session opens /account.
func (ts *testServer) signedIn(t testing.TB, c *http.Client) bool {
	t.Helper()
	res := ts.get(t, c, "/account")
	switch {
	case res.StatusCode == http.StatusOK:
		return true
	case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login"):
		return false
	}
	t.Fatalf("GET /account: %d %s", res.StatusCode, res.Header.Get("Location"))
	return false
}

// wantPage fails unless res has status and shows the English message id.
func (ts *testServer) wantPage(t testing.TB, res response, status int, id string, args ...any) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("status %d, want %d (Location %q)", res.StatusCode, status, res.Header.Get("Location"))
	}
	if msg := ts.text(t, "en", id, args...); !pageHas(res.Body, msg) {
		t.Errorf("the page lacks %s %q", id, msg)
	}
}

func TestRegistrationJourney(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.clientLang(t, "en")
	const name, email, pw = "Lager Jacques", "jacques@example.org", "un petit chat gris"
	users := ts.rows(t, "users")

	res := ts.signUp(t, c, name, email, pw)
	ts.wantPage(t, res, http.StatusOK, "register.done", "Email", email)
	if ts.rows(t, "users") != users+1 {
		t.Fatal("no account created")
	}
	u, err := ts.db.FindUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != name || !u.EmailVerifiedAt.IsZero() || u.Locale != "en" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("new account: %+v", u)
	}
	if n := ts.rows(t, "memberships", "user_id = ? AND role = 'patient'", u.ID); n != 1 {
		t.Errorf("patient memberships: %d", n)
	}
	if n := ts.rows(t, "audit", "action = 'auth.register' AND object_id = ?", u.ID); n != 1 {
		t.Errorf("registration audit entries: %d", n)
	}
	m := ts.lastMail(t, email)
	if m.Template != "verify" || m.Subject != ts.text(t, "en", "mail.verify.subject", "Brand", "Daraport") {
		t.Errorf("verification e-mail: %q %q", m.Template, m.Subject)
	}
	if !strings.HasPrefix(mailLink(t, m), ts.cfg.Server.BaseURL+"/verify?token=") {
		t.Errorf("verification link %q", mailLink(t, m))
	}

	t.Run("UnverifiedCannotSignIn", func(t *testing.T) {
		mails := ts.rows(t, "outbox")
		res := ts.signIn(t, c, email, pw, nil)
		ts.wantPage(t, res, http.StatusForbidden, "error.email_unverified")
		if ts.rows(t, "outbox") != mails+1 || ts.lastMail(t, email).Template != "verify" {
			t.Error("no new verification e-mail")
		}
		if ts.rows(t, "sessions", "user_id = ?", u.ID) != 0 {
			t.Error("a session was opened")
		}
	})

	ts.confirmEmail(t, c, email)
	if u, _ := ts.db.FindUserByEmail(context.Background(), email); u.EmailVerifiedAt.IsZero() {
		t.Fatal("address not verified")
	}
	if res := ts.get(t, c, "/login"); !pageHas(res.Body, ts.text(t, "en", "flash.verified")) {
		t.Error("no 'address confirmed' flash")
	}

	// First sign-in: consent is asked before anything else.
	res = ts.signIn(t, c, email, pw, url.Values{"remember": {"1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, p := range []string{"/", "/account", "/pro/apply"} {
		res = ts.get(t, c, p)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/consent?next="+url.QueryEscape(p) {
			t.Errorf("GET %s before consent: %d %q", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res = ts.post(t, c, "/account", url.Values{"name": {"Changed"}, "locale": {"en"}, "time_zone": {"Europe/Paris"}})
	ts.wantPage(t, res, http.StatusForbidden, "error.consent_first")
	res = ts.get(t, c, "/consent?next=%2Faccount")
	ts.wantPage(t, res, http.StatusOK, "consent.item.health_data")
	if !pageHas(res.Body, ts.text(t, "en", "consent.text_title", "Version", consentVersion)) {
		t.Error("the consent page does not show the privacy text's version")
	}

	t.Run("RequiredConsentMissing", func(t *testing.T) {
		form := consentForm("/account")
		form.Del("consent_health_data")
		form.Set("birth_date", "2999-01-01")
		res := ts.post(t, c, "/consent", form)
		ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.consent_required")
		ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.birth_date")
		if ts.rows(t, "consents", "user_id = ?", u.ID) != 0 {
			t.Error("consent records written for a refused form")
		}
	})

	res = ts.post(t, c, "/consent", consentForm("/account"))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
		t.Fatalf("consent: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	u, _ = ts.db.FindUserByEmail(context.Background(), email)
	if u.ConsentVersion != consentVersion || u.BirthDate != "1985-04-12" || u.PostalCode != "75011" || u.City != "Paris" {
		t.Errorf("consent not stored on the account: %+v", u)
	}
	for item, granted := range map[string]int{"privacy": 1, "health_data": 1, "reminders": 1, "directory": 0} {
		if n := ts.rows(t, "consents", "user_id = ? AND item = ? AND version = ? AND granted = ?", u.ID, item, consentVersion, granted); n != 1 {
			t.Errorf("consent record %s granted=%d: %d rows", item, granted, n)
		}
	}
	res = ts.get(t, c, "/")
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, "Hello, "+name) {
		t.Errorf("home after consent: %d, greeting shown: %v", res.StatusCode, pageHas(res.Body, "Hello, "+name))
	}

	t.Run("WithdrawRequiredConsentAsksAgain", func(t *testing.T) {
		res := ts.post(t, c, "/account/privacy", url.Values{"item": {"health_data"}, "grant": {"0"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("withdraw: %d", res.StatusCode)
		}
		if res := ts.get(t, c, "/account"); !strings.HasPrefix(res.Header.Get("Location"), "/consent") {
			t.Errorf("after withdrawing a required consent, /account: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if res := ts.post(t, c, "/consent", consentForm("/")); res.StatusCode != http.StatusSeeOther {
			t.Errorf("consent again: %d", res.StatusCode)
		}
	})

	// Sign out ends the session on the server too.
	res = ts.post(t, c, "/logout", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Errorf("sign-out: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ts.rows(t, "sessions", "user_id = ?", u.ID) != 0 {
		t.Error("the session survived sign-out")
	}
	if ts.signedIn(t, c) {
		t.Error("still signed in after sign-out")
	}
	if res := ts.get(t, c, "/"); pageHas(res.Body, "Hello, "+name) {
		t.Error("greeting after sign-out")
	}
}

func TestKeepMeSignedIn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	for _, tc := range []struct {
		name     string
		remember bool
		life     time.Duration
	}{
		{"SessionCookie", false, ts.cfg.Security.SessionLifetime.Duration},
		{"Remembered", true, ts.cfg.Security.RememberLifetime.Duration},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ts.addUser(t, strings.ToLower(tc.name)+"@example.org", "Pat Patient", store.RolePatient, "")
			c := ts.clientLang(t, "en")
			extra := url.Values{}
			if tc.remember {
				extra.Set("remember", "1")
			}
			res := ts.signIn(t, c, p.Email, p.Password, extra)
			raw := rawSetCookie(res, sessionCookie)
			if raw == "" {
				t.Fatal("no session cookie")
			}
			lower := strings.ToLower(raw)
			persistent := strings.Contains(lower, "max-age=") || strings.Contains(lower, "expires=")
			if persistent != tc.remember {
				t.Errorf("Set-Cookie %q: persistent = %v, want %v", raw, persistent, tc.remember)
			}
			if tc.remember && !strings.Contains(raw, "Max-Age=2592000") {
				t.Errorf("Set-Cookie %q: want Max-Age=2592000 (720 h)", raw)
			}
			for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(raw, attr) {
					t.Errorf("Set-Cookie %q lacks %s", raw, attr)
				}
			}
			list, err := ts.db.UserSessions(context.Background(), p.ID)
			if err != nil || len(list) != 1 {
				t.Fatalf("sessions: %v %d", err, len(list))
			}
			s := list[0]
			if got := s.ExpiresAt.Sub(ts.clock.Now()); s.Remember != tc.remember || got < tc.life-time.Minute || got > tc.life+time.Minute {
				t.Errorf("session: remember %v, expires in %v, want %v", s.Remember, got, tc.life)
			}
			page := ts.get(t, c, "/account/sessions")
			if got := pageHas(page.Body, ts.text(t, "en", "sessions.remembered")); got != tc.remember {
				t.Errorf("sessions page says 'kept signed in' = %v", got)
			}
		})
	}
}

func TestSessionIDChangesAtSignIn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	c := ts.clientLang(t, "en")
	first := responseCookie(ts.signIn(t, c, p.Email, p.Password, nil), sessionCookie)
	second := responseCookie(ts.signIn(t, c, p.Email, p.Password, nil), sessionCookie)
	if first == nil || second == nil || first.Value == second.Value {
		t.Fatal("signing in again did not give a new session cookie")
	}
	if n := ts.rows(t, "sessions", "user_id = ?", p.ID); n != 1 {
		t.Errorf("%d sessions after signing in twice in one browser, want 1 (the old one ends)", n)
	}
	// The first cookie no longer opens anything.
	old := ts.clientLang(t, "en")
	u, _ := url.Parse(ts.URL)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: first.Value, Path: "/"}})
	if ts.signedIn(t, old) {
		t.Error("the session cookie from before sign-in still works")
	}
	if !ts.signedIn(t, c) {
		t.Error("the new session does not work")
	}
	// A cookie made up by someone else is ignored.
	forged := ts.clientLang(t, "en")
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged-value", Path: "/"}})
	if ts.signedIn(t, forged) {
		t.Error("a forged cookie is accepted")
	}
}

func TestPasswordResetEndsSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	old := ts.clientLang(t, "en")
	if res := ts.signIn(t, old, p.Email, p.Password, url.Values{"remember": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	tok := ts.token(t, p)

	c := ts.clientLang(t, "en")
	res := ts.post(t, c, "/reset", url.Values{"email": {p.Email}})
	ts.wantPage(t, res, http.StatusOK, "reset.done")
	m := ts.lastMail(t, p.Email)
	if m.Template != "reset" {
		t.Fatalf("newest e-mail: %q", m.Template)
	}
	link := ts.localPath(t, mailLink(t, m))
	if !strings.HasPrefix(link, "/reset/confirm?token=") {
		t.Fatalf("reset link %q", link)
	}
	page := ts.get(t, c, link)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("reset link: %d", page.StatusCode)
	}
	const newPW = "a brand new passphrase"
	res = ts.post(t, c, "/reset/confirm", url.Values{"token": {hiddenValue(t, page.Body, "token")}, "password": {newPW}, "password2": {newPW}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("reset: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ts.signedIn(t, old) {
		t.Error("a session opened before the reset survived it")
	}
	if ts.rows(t, "sessions", "user_id = ?", p.ID) != 0 {
		t.Error("sessions left after the reset")
	}
	if ts.lastMail(t, p.Email).Template != "password_changed" {
		t.Error("no 'password changed' e-mail")
	}
	if res := ts.signIn(t, c, p.Email, testPassword, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password: %d", res.StatusCode)
	}
	if res := ts.signIn(t, c, p.Email, newPW, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("new password: %d", res.StatusCode)
	}
	// API tokens are not sessions: they stay until revoked.
	if res := ts.api(t, "GET", "/api/v1/me", tok, nil); res.StatusCode != http.StatusOK {
		t.Errorf("API token after reset: %d", res.StatusCode)
	}
}

func TestDisabledAccountEndsSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ac, pc := ts.clientLang(t, "en"), ts.clientLang(t, "en")
	ts.login(t, ac, admin)
	ts.login(t, pc, p)
	tok := ts.token(t, p)

	res := ts.post(t, ac, "/admin/users/"+admin.ID+"/disable", nil)
	ts.wantPage(t, res, http.StatusConflict, "error.self_disable")

	res = ts.post(t, ac, "/admin/users/"+p.ID+"/disable", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if ts.signedIn(t, pc) {
		t.Error("the disabled person is still signed in")
	}
	if ts.rows(t, "sessions", "user_id = ?", p.ID) != 0 {
		t.Error("sessions left")
	}
	res = ts.signIn(t, pc, p.Email, p.Password, nil)
	ts.wantPage(t, res, http.StatusForbidden, "error.account_disabled")
	if res := ts.api(t, "GET", "/api/v1/me", tok, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API token of a disabled account: %d", res.StatusCode)
	}
	if res := ts.get(t, ac, "/admin/users/"+p.ID); !pageHas(res.Body, "Disabled since") {
		t.Error("the admin page does not say the account is disabled")
	}
	if n := ts.rows(t, "audit", "action = 'admin.user_disabled' AND object_id = ? AND actor_id = ?", p.ID, admin.ID); n != 1 {
		t.Errorf("audit entries: %d", n)
	}
	// Enabled again, the person signs in.
	if res := ts.post(t, ac, "/admin/users/"+p.ID+"/enable", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	if res := ts.signIn(t, pc, p.Email, p.Password, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in after enabling: %d", res.StatusCode)
	}
}

func TestStaffIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.Security.StaffIdleTimeout = Duration{30 * time.Minute} })
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ac, pc := ts.clientLang(t, "en"), ts.clientLang(t, "en")
	ts.login(t, ac, admin)
	ts.login(t, pc, p)

	// Activity keeps a staff session alive: idle, not absolute, time counts.
	ts.clock.Advance(20 * time.Minute)
	if !ts.signedIn(t, ac) {
		t.Fatal("admin signed out after 20 min")
	}
	ts.clock.Advance(20 * time.Minute)
	if !ts.signedIn(t, ac) {
		t.Fatal("admin signed out 20 min after their last request")
	}
	ts.clock.Advance(31 * time.Minute)
	if ts.signedIn(t, ac) {
		t.Error("an admin session idle for 31 min is still open")
	}
	if res := ts.get(t, ac, "/login"); !pageHas(res.Body, ts.text(t, "en", "flash.idle_timeout")) {
		t.Error("no idle time-out message")
	}
	if ts.rows(t, "sessions", "user_id = ?", admin.ID) != 0 {
		t.Error("the idle session is still stored")
	}
	if !ts.signedIn(t, pc) {
		t.Error("a patient's session ended after 71 min idle (only staff sessions time out)")
	}
}

// sessionRowRe finds, per row of /account/sessions, whether it is the
// current session and its revoke key.
var sessionRowRe = regexp.MustCompile(`(?s)<tr>\s*<td>(.*?)</td>.*?/account/sessions/([0-9a-f]{16})/revoke`)

func TestMySessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	other := ts.addUser(t, "other@example.org", "Otto Other", store.RolePatient, "")
	c1, c2, c3, oc := ts.clientLang(t, "en"), ts.clientLang(t, "en"), ts.clientLang(t, "en"), ts.clientLang(t, "en")
	ts.login(t, c1, p)
	ts.login(t, c2, p)
	ts.login(t, oc, other)

	keys := func() (current string, others []string) {
		t.Helper()
		page := ts.get(t, c1, "/account/sessions")
		if page.StatusCode != http.StatusOK {
			t.Fatalf("sessions page: %d", page.StatusCode)
		}
		for _, m := range sessionRowRe.FindAllStringSubmatch(page.Body, -1) {
			if strings.Contains(m[1], ts.text(t, "en", "sessions.this")) {
				current = m[2]
			} else {
				others = append(others, m[2])
			}
		}
		return current, others
	}
	current, others := keys()
	if current == "" || len(others) != 1 {
		t.Fatalf("sessions page: current %q, others %v; want one of each", current, others)
	}
	// Another person's session key is not found.
	otherKey := ts.sessionKeys(t, other.ID)[0]
	if res := ts.post(t, c1, "/account/sessions/"+otherKey+"/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("revoking another person's session: %d", res.StatusCode)
	}
	if !ts.signedIn(t, oc) {
		t.Error("another person's session was revoked")
	}
	res := ts.post(t, c1, "/account/sessions/"+others[0]+"/revoke", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/sessions" {
		t.Fatalf("revoke: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ts.signedIn(t, c2) {
		t.Error("the revoked session still works")
	}
	if !ts.signedIn(t, c1) {
		t.Error("revoking another session ended this one")
	}

	ts.login(t, c2, p)
	ts.login(t, c3, p)
	if res := ts.post(t, c1, "/account/sessions/revoke-others", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke others: %d", res.StatusCode)
	}
	if ts.signedIn(t, c2) || ts.signedIn(t, c3) || !ts.signedIn(t, c1) {
		t.Error("'sign out every other session' did not do just that")
	}
	if _, others := keys(); len(others) != 0 {
		t.Errorf("other sessions still listed: %v", others)
	}
	// Revoking the current session signs out.
	res = ts.post(t, c1, "/account/sessions/"+current+"/revoke", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Errorf("revoking the current session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ts.signedIn(t, c1) {
		t.Error("still signed in after revoking the current session")
	}
}

// totpSecret reads the secret shown on /account/2fa.
func (ts *testServer) totpSecret(t testing.TB, c *http.Client) string {
	t.Helper()
	page := ts.get(t, c, "/account/2fa")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("/account/2fa: %d", page.StatusCode)
	}
	return hiddenValue(t, page.Body, "secret")
}

// totpCode is the code of secret at the server's time.
func (ts *testServer) totpCode(t testing.TB, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, ts.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enableTOTP turns two-step sign-in on for the signed-in c and returns the secret.
func (ts *testServer) enableTOTP(t testing.TB, c *http.Client, password string) string {
	t.Helper()
	secret := ts.totpSecret(t, c)
	res := ts.post(t, c, "/account/2fa/enable", url.Values{"secret": {secret}, "current": {password}, "code": {ts.totpCode(t, secret)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable 2FA: %d", res.StatusCode)
	}
	ts.clock.Advance(30 * time.Second) // codes are single use per 30 s step
	return secret
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()
	c := ts.clientLang(t, "en")
	ts.login(t, c, p)

	secret := ts.enableTOTP(t, c, p.Password)
	if u, _ := ts.db.FindUserByID(ctx, p.ID); u.TOTPEnabledAt.IsZero() {
		t.Fatal("2FA not enabled")
	}
	if res := ts.get(t, c, "/account/2fa"); !pageHas(res.Body, ts.text(t, "en", "totp.on")) || strings.Contains(res.Body, secret) {
		t.Error("the 2FA page should say it is on, and no longer show the secret")
	}
	ts.post(t, c, "/logout", nil)

	// Sign-in now stops at the second step; the pending session opens nothing else.
	res := ts.signIn(t, c, p.Email, p.Password, url.Values{"next": {"/account/privacy"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/2fa?next=%2Faccount%2Fprivacy" {
		t.Fatalf("sign-in with 2FA: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, path := range []string{"/account", "/", "/contact"} {
		if res := ts.get(t, c, path); res.Header.Get("Location") != "/login/2fa" {
			t.Errorf("pending 2FA, GET %s: %d %q", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := ts.get(t, c, "/login/2fa"); res.StatusCode != http.StatusOK {
		t.Errorf("2FA page: %d", res.StatusCode)
	}
	code := ts.totpCode(t, secret)
	res = ts.post(t, c, "/login/2fa", url.Values{"code": {code}, "next": {"/account/privacy"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/privacy" {
		t.Fatalf("2FA step: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if !ts.signedIn(t, c) {
		t.Fatal("not signed in after the second step")
	}

	t.Run("CodeSingleUse", func(t *testing.T) {
		c2 := ts.clientLang(t, "en")
		if res := ts.signIn(t, c2, p.Email, p.Password, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatal("sign-in")
		}
		res := ts.post(t, c2, "/login/2fa", url.Values{"code": {code}})
		ts.wantPage(t, res, http.StatusUnauthorized, "error.bad_totp")
		if ts.signedIn(t, c2) {
			t.Error("a replayed code let someone in")
		}
	})

	ts.clock.Advance(30 * time.Second)
	res = ts.post(t, c, "/account/2fa/disable", url.Values{"current": {p.Password}, "code": {ts.totpCode(t, secret)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable 2FA: %d", res.StatusCode)
	}
	if u, _ := ts.db.FindUserByID(ctx, p.ID); !u.TOTPEnabledAt.IsZero() {
		t.Error("2FA still enabled")
	}
	c3 := ts.clientLang(t, "en")
	if res := ts.signIn(t, c3, p.Email, p.Password, nil); res.Header.Get("Location") != "/" {
		t.Errorf("sign-in after disabling 2FA: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, a := range []string{"auth.2fa_enabled", "auth.2fa_disabled"} {
		if ts.rows(t, "audit", "action = ? AND actor_id = ?", a, p.ID) != 1 {
			t.Errorf("no audit entry %s", a)
		}
	}
}

var setupLinkRe = regexp.MustCompile(`https?://\S+/setup\?code=(\S+)`)

func TestFirstRunSetup(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	c := ts.clientLang(t, "en")
	for _, p := range []string{"/", "/login", "/register", "/admin"} {
		if res := ts.get(t, c, p); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/setup" {
			t.Errorf("GET %s before setup: %d %q, want /setup", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := ts.get(t, c, "/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("/healthz before setup: %d", res.StatusCode)
	}
	if res := ts.api(t, "GET", "/api/v1/practitioners", "", nil); res.StatusCode != http.StatusOK {
		t.Errorf("the API before setup: %d", res.StatusCode)
	}

	var buf bytes.Buffer
	if err := ts.srv.announceSetup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	m := setupLinkRe.FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no setup link in %q", buf.String())
	}
	link := ts.localPath(t, m[0])
	code, _ := url.QueryUnescape(m[1])
	page := ts.get(t, c, link)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Body, `value="`+code+`"`) {
		t.Fatalf("setup page: %d, code filled in: %v", page.StatusCode, strings.Contains(page.Body, code))
	}
	form := url.Values{"code": {code}, "name": {"Ada Admin"}, "email": {"ada@example.org"}, "password": {"a long setup passphrase"},
		"password2": {"a long setup passphrase"}, "practitioner": {"1"}, "practice_name": {"Cabinet Ada"}}

	t.Run("WrongCode", func(t *testing.T) {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("code", "not-the-code")
		res := ts.post(t, c, "/setup", bad)
		ts.wantPage(t, res, http.StatusForbidden, "error.setup_code")
		if ts.rows(t, "users") != 0 || ts.rows(t, "practices") != 0 || ts.rows(t, "sessions") != 0 {
			t.Error("a refused setup wrote something")
		}
	})
	t.Run("BadForm", func(t *testing.T) {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("password2", "something else entirely")
		res := ts.post(t, c, "/setup", bad)
		ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.passwords_differ")
		if ts.rows(t, "users") != 0 {
			t.Error("a refused setup wrote something")
		}
	})

	res := ts.post(t, c, "/setup", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin" {
		t.Fatalf("setup: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	u, err := ts.db.FindUserByEmail(ctx, "ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := ts.db.Memberships(ctx, u.ID)
	var practice string
	roles := map[string]bool{}
	for _, m := range ms {
		roles[m.Role] = true
		if m.Role == store.RolePractitioner {
			practice = m.PracticeID
		}
	}
	if !roles[store.RoleAdmin] || !roles[store.RolePractitioner] || u.EmailVerifiedAt.IsZero() {
		t.Errorf("the first admin: roles %v, verified %v", roles, !u.EmailVerifiedAt.IsZero())
	}
	if pr, err := ts.db.FindPracticeByID(ctx, practice); err != nil || pr.Status != store.PracticeVerified || pr.Name != "Cabinet Ada" {
		t.Errorf("the admin's practice: %v %+v", err, pr)
	}
	// Signed in at once; consent comes first as for everyone.
	if res := ts.get(t, c, "/admin"); !strings.HasPrefix(res.Header.Get("Location"), "/consent") {
		t.Errorf("/admin right after setup: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	ts.post(t, c, "/consent", consentForm("/admin"))
	if res := ts.get(t, c, "/admin"); res.StatusCode != http.StatusOK {
		t.Errorf("/admin after consent: %d", res.StatusCode)
	}
	// Setup is over: the page and the code are gone.
	for _, res := range []response{ts.get(t, ts.clientLang(t, "en"), link), ts.post(t, ts.clientLang(t, "en"), "/setup", form)} {
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("/setup after setup: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	}
	if ts.rows(t, "users") != 1 || ts.rows(t, "meta", "key = ?", setupMetaKey) != 0 {
		t.Error("setup ran twice or left its code")
	}
	if res := ts.api(t, "GET", "/api/v1/practitioners", "", nil); !strings.Contains(res.Body, "Cabinet Ada") {
		t.Errorf("the admin's practice is not in the directory: %s", res.Body)
	}
}

// tinyPNG is a real 1×1 PNG image.
func tinyPNG(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPractitionerApplication(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	alice := ts.addUser(t, "alice@example.org", "Alice Doctor", store.RolePatient, "")
	bob := ts.addUser(t, "bob@example.org", "Bob Doctor", store.RolePatient, "")
	ac, alc, bc := ts.clientLang(t, "en"), ts.clientLang(t, "en"), ts.clientLang(t, "en")
	ts.login(t, ac, admin)
	ts.login(t, alc, alice)
	ts.login(t, bc, bob)
	fields := url.Values{"practice_name": {"Cabinet Alice"}, "profession": {"Oncologist"}, "rpps": {"10001234567"}}
	nothingWritten := func(t *testing.T) {
		t.Helper()
		if n := ts.rows(t, "verifications") + ts.rows(t, "documents") + ts.rows(t, "practices"); n != 0 {
			t.Errorf("a refused application wrote %d rows", n)
		}
	}

	t.Run("Refused", func(t *testing.T) {
		big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0"), maxProofBytes)...)
		for _, tc := range []struct {
			name, filename string
			content        []byte
			status         int
			msg            string
		}{
			{"SVG", "proof.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), http.StatusUnprocessableEntity, "error.proof_type"},
			{"SVGNamedPNG", "proof.png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), http.StatusUnprocessableEntity, "error.proof_type"},
			{"ExeNamedPDF", "proof.pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), bytes.Repeat([]byte{0}, 200)...), http.StatusUnprocessableEntity, "error.proof_type"},
			{"Empty", "proof.pdf", nil, http.StatusUnprocessableEntity, "error.proof_required"},
			{"JustOverLimit", "proof.pdf", big, http.StatusUnprocessableEntity, "error.proof_too_big"},
			{"FarOverLimit", "proof.pdf", append(big, bytes.Repeat([]byte("0"), 3<<20)...), http.StatusRequestEntityTooLarge, "error.proof_too_big"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := ts.upload(t, alc, "/pro/apply", fields, "proof", tc.filename, tc.content)
				ts.wantPage(t, res, tc.status, tc.msg)
				nothingWritten(t)
			})
		}
		res := ts.upload(t, alc, "/pro/apply", url.Values{"practice_name": {"Cabinet Alice"}, "profession": {"Oncologist"}, "rpps": {"123"}},
			"proof", "proof.pdf", []byte(tinyPDF))
		ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.rpps")
		nothingWritten(t)
	})

	proof := tinyPNG(t)
	res := ts.upload(t, alc, "/pro/apply", fields, "proof", "card.png", proof)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pro/apply" {
		t.Fatalf("apply: %d %s", res.StatusCode, res.Body)
	}
	list, _ := ts.db.FindVerifications(ctx, "", alice.ID)
	if len(list) != 1 || list[0].State != store.VerificationPending || list[0].Profession != "Oncologist" || list[0].RPPS != "10001234567" {
		t.Fatalf("verification: %+v", list)
	}
	v := list[0]
	if pr, _ := ts.db.FindPracticeByID(ctx, v.PracticeID); pr.Status != store.PracticePending {
		t.Errorf("practice before decision: %s", pr.Status)
	}
	page := ts.get(t, alc, "/pro/apply")
	if !pageHas(page.Body, ts.text(t, "en", "flash.apply_sent")) || !pageHas(page.Body, ts.text(t, "en", "apply.state.pending")) {
		t.Error("the apply page does not say the request is being checked")
	}
	res = ts.upload(t, alc, "/pro/apply", fields, "proof", "card.png", proof)
	ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.apply_pending")
	if res := ts.api(t, "GET", "/api/v1/practitioners", "", nil); strings.Contains(res.Body, "Cabinet Alice") {
		t.Error("a practice awaiting verification is public")
	}
	if res := ts.get(t, alc, "/pro"); res.StatusCode != http.StatusForbidden {
		t.Errorf("/pro before approval: %d", res.StatusCode)
	}
	// The admin sees the request and its proof, as uploaded.
	if res := ts.get(t, ac, "/admin/verifications/"+v.ID); res.StatusCode != http.StatusOK || !pageHas(res.Body, "Alice Doctor") {
		t.Errorf("verification page: %d", res.StatusCode)
	}
	if res := ts.get(t, ac, "/documents/"+v.DocumentID); res.StatusCode != http.StatusOK || res.Body != string(proof) ||
		res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("proof for the admin: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := ts.get(t, bc, "/documents/"+v.DocumentID); res.StatusCode != http.StatusNotFound {
		t.Errorf("proof for another person: %d", res.StatusCode)
	}

	res = ts.post(t, ac, "/admin/verifications/"+v.ID+"/approve", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", res.StatusCode)
	}
	if pr, _ := ts.db.FindPracticeByID(ctx, v.PracticeID); pr.Status != store.PracticeVerified {
		t.Errorf("practice after approval: %s", pr.Status)
	}
	if n := ts.rows(t, "memberships", "user_id = ? AND role = 'practitioner' AND practice_id = ?", alice.ID, v.PracticeID); n != 1 {
		t.Error("no practitioner role in the new practice")
	}
	m := ts.lastMail(t, alice.Email)
	if m.Template != "practitioner_approved" || !strings.HasPrefix(mailLink(t, m), ts.cfg.Server.BaseURL+"/pro") {
		t.Errorf("approval e-mail: %q", m.Template)
	}
	if res := ts.get(t, alc, "/pro"); res.StatusCode != http.StatusOK || !pageHas(res.Body, "Cabinet Alice") {
		t.Errorf("/pro after approval: %d", res.StatusCode)
	}
	if res := ts.api(t, "GET", "/api/v1/practitioners", "", nil); !strings.Contains(res.Body, "Cabinet Alice") {
		t.Error("the verified practice is not public")
	}
	res = ts.post(t, ac, "/admin/verifications/"+v.ID+"/reject", nil)
	ts.wantPage(t, res, http.StatusConflict, "error.already_decided")

	// Rejected: the person is told why, nothing goes public.
	res = ts.upload(t, bc, "/pro/apply", url.Values{"practice_name": {"Cabinet Bob"}, "profession": {"Dentist"}}, "proof", "card.pdf", []byte(tinyPDF))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("apply: %d", res.StatusCode)
	}
	list, _ = ts.db.FindVerifications(ctx, "", bob.ID)
	res = ts.post(t, ac, "/admin/verifications/"+list[0].ID+"/reject", url.Values{"note": {"The card is unreadable."}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject: %d", res.StatusCode)
	}
	m = ts.lastMail(t, bob.Email)
	if m.Template != "practitioner_rejected" || !strings.Contains(m.TextBody, "The card is unreadable.") {
		t.Errorf("rejection e-mail %q lacks the note: %s", m.Template, m.TextBody)
	}
	if pr, _ := ts.db.FindPracticeByID(ctx, list[0].PracticeID); pr.Status != store.PracticeRejected {
		t.Errorf("rejected practice: %s", pr.Status)
	}
	if ts.rows(t, "memberships", "user_id = ? AND role = 'practitioner'", bob.ID) != 0 {
		t.Error("a rejected applicant became a practitioner")
	}
	if res := ts.api(t, "GET", "/api/v1/practitioners", "", nil); strings.Contains(res.Body, "Cabinet Bob") {
		t.Error("a rejected practice is public")
	}
}

func TestContactForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	const secret = "My question about invoice 4242, kept private"
	c := ts.clientLang(t, "en")
	page := ts.get(t, c, "/contact")

	t.Run("WrongCaptcha", func(t *testing.T) {
		form := url.Values{"name": {"Ann Onymous"}, "email": {"ann@example.org"}, "subject": {"Hello"}, "body": {secret},
			"captcha_token": {hiddenValue(t, page.Body, "captcha_token")}, "captcha_answer": {"999"}}
		res := ts.post(t, c, "/contact", form)
		ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.captcha")
		if ts.rows(t, "contact_messages") != 0 || ts.rows(t, "outbox") != 0 {
			t.Error("a refused message was stored")
		}
	})

	form := captchaSolution(t, page.Body)
	form.Set("name", "Ann Onymous")
	form.Set("email", "ann@example.org")
	form.Set("subject", "A billing question")
	form.Set("body", secret)
	res := ts.post(t, c, "/contact", form)
	ts.wantPage(t, res, http.StatusOK, "contact.done")
	if ts.rows(t, "contact_messages") != 1 {
		t.Fatal("message not stored")
	}
	m := ts.lastMail(t, admin.Email)
	if m.Template != "contact_notice" {
		t.Fatalf("admin notice: %q", m.Template)
	}
	if strings.Contains(m.TextBody, "4242") || strings.Contains(m.HTMLBody, "4242") || strings.Contains(m.Subject, "4242") {
		t.Error("the admin notice carries the message's content")
	}
	ac := ts.clientLang(t, "en")
	ts.login(t, ac, admin)
	if res := ts.get(t, ac, "/admin/messages"); !pageHas(res.Body, secret) || !pageHas(res.Body, "ann@example.org") {
		t.Error("the message is not readable on /admin/messages")
	}

	// Signed in, the form needs no captcha and sends as the account.
	pc := ts.clientLang(t, "en")
	ts.login(t, pc, p)
	if page := ts.get(t, pc, "/contact"); strings.Contains(page.Body, "data-altcha") {
		t.Error("a captcha for a signed-in person")
	}
	res = ts.post(t, pc, "/contact", url.Values{"subject": {"About my data"}, "body": {"Please send me a copy."}})
	ts.wantPage(t, res, http.StatusOK, "contact.done")
	list, _ := ts.db.FindContactMessages(context.Background(), 0)
	if len(list) != 2 || list[0].UserID != p.ID || list[0].Email != p.Email {
		t.Errorf("signed-in message: %+v", list[0])
	}
}

var htmlLangRe = regexp.MustCompile(`<html lang="([a-z]+)"`)

func pageLang(res response) string {
	m := htmlLangRe.FindStringSubmatch(res.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()

	// Default: the brand's language.
	if got := pageLang(ts.get(t, ts.client(t), "/login")); got != "fr" {
		t.Errorf("no choice, no Accept-Language: %q, want fr", got)
	}
	// Accept-Language when nobody chose.
	c := ts.client(t)
	res := ts.getWith(t, c, "/login", map[string]string{"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
	if got := pageLang(res); got != "de" {
		t.Errorf("Accept-Language de: %q", got)
	}
	if ts.hasCatalogue("de", "nav.login") {
		if !pageHas(res.Body, ts.text(t, "de", "nav.login")) {
			t.Error("Accept-Language de: the page is not in German")
		}
	} else {
		t.Log("no German catalogue yet: checked the page's lang only")
	}
	if got := pageLang(ts.getWith(t, c, "/login", map[string]string{"Accept-Language": "it, es;q=0.8"})); got != "es" {
		t.Errorf("Accept-Language it, es: %q, want es", got)
	}
	// The language menu sets a cookie, which beats Accept-Language.
	res = ts.post(t, c, "/lang", url.Values{"lang": {"es"}, "next": {"/register"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/register" {
		t.Errorf("POST /lang: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if ck := responseCookie(res, "lang"); ck == nil || ck.Value != "es" || ck.MaxAge <= 0 {
		t.Errorf("lang cookie: %+v", ck)
	}
	if got := pageLang(ts.getWith(t, c, "/login", map[string]string{"Accept-Language": "de"})); got != "es" {
		t.Errorf("cookie es, Accept-Language de: %q", got)
	}
	res = ts.post(t, c, "/lang", url.Values{"lang": {"xx"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "es", "error.locale")) {
		t.Errorf("unknown language: %d, Spanish message shown: %v", res.StatusCode, pageHas(res.Body, ts.text(t, "es", "error.locale")))
	}

	// The account's own language wins over the cookie and the header.
	ts.login(t, c, p)
	if got := pageLang(ts.getWith(t, c, "/account", map[string]string{"Accept-Language": "de"})); got != "en" {
		t.Errorf("account locale en, cookie es, Accept-Language de: %q", got)
	}
	// Choosing a language while signed in changes the account's.
	ts.post(t, c, "/lang", url.Values{"lang": {"de"}, "next": {"/account"}})
	if u, _ := ts.db.FindUserByID(ctx, p.ID); u.Locale != "de" {
		t.Errorf("account locale after choosing de: %q", u.Locale)
	}
	fresh := ts.client(t)
	ts.login(t, fresh, p)
	if got := pageLang(ts.getWith(t, fresh, "/account", map[string]string{"Accept-Language": "fr"})); got != "de" {
		t.Errorf("another browser of the account: %q, want de", got)
	}
}

func TestNextIsLocal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	evil := []string{"//evil.example", "https://evil.example", `/\evil.example`, "javascript:alert(1)", "///evil.example", "/\t/evil.example",
		"http:evil.example", "evil.example", "%2F%2Fevil.example"}
	signedIn := ts.clientLang(t, "en")
	ts.login(t, signedIn, p)
	for _, next := range evil {
		t.Run(next, func(t *testing.T) {
			c := ts.clientLang(t, "en")
			res := ts.signIn(t, c, p.Email, p.Password, url.Values{"next": {next}})
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/" {
				t.Errorf("sign-in with next=%q: %d %q", next, res.StatusCode, loc)
			}
			if loc := ts.get(t, signedIn, "/login?next="+url.QueryEscape(next)).Header.Get("Location"); loc != "/" {
				t.Errorf("GET /login?next=%q signed in: %q", next, loc)
			}
			if loc := ts.post(t, c, "/lang", url.Values{"lang": {"en"}, "next": {next}}).Header.Get("Location"); loc != "/" {
				t.Errorf("POST /lang next=%q: %q", next, loc)
			}
			if loc := ts.post(t, signedIn, "/consent", consentForm(next)).Header.Get("Location"); loc != "/" {
				t.Errorf("POST /consent next=%q: %q", next, loc)
			}
		})
	}
	t.Run("LocalPathKept", func(t *testing.T) {
		// An anonymous visit comes back, with its query, after signing in.
		c := ts.clientLang(t, "en")
		want := "/account/sessions?a=1&b=2"
		res := ts.get(t, c, want)
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || loc.Path != "/login" || loc.Query().Get("next") != want {
			t.Fatalf("anonymous GET %s: %d %q, want /login with next=%s", want, res.StatusCode, res.Header.Get("Location"), want)
		}
		res = ts.signIn(t, c, p.Email, p.Password, url.Values{"next": {loc.Query().Get("next")}})
		if res.Header.Get("Location") != want {
			t.Errorf("after sign-in: %q, want %q", res.Header.Get("Location"), want)
		}
	})
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	res := ts.get(t, ts.client(t), "/healthz")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/healthz: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var body struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || body.Status != "ok" || body.Version == "" {
		t.Errorf("/healthz body %s: %v", res.Body, err)
	}
}

// apiError is the API's error shape.
type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (ts *testServer) wantAPIError(t testing.TB, res response, status int, code, msgID string) {
	t.Helper()
	if res.StatusCode != status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("status %d %q, want %d JSON", res.StatusCode, res.Header.Get("Content-Type"), status)
	}
	var e apiError
	if err := json.Unmarshal([]byte(res.Body), &e); err != nil || e.Error == nil {
		t.Fatalf("error body %s: %v", res.Body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("error %+v, want code %q", *e.Error, code)
	}
	if msgID != "" {
		if want := ts.srv.i18n.T("fr", msgID); e.Error.Message != want {
			t.Errorf("message %q, want %q (the default language)", e.Error.Message, want)
		}
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.Security.APIRate = 2 })
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	applicant := ts.addUser(t, "applicant@example.org", "Ann Applicant", store.RolePatient, "")
	ts.addApplication(t, applicant, "Cabinet Pending", []byte(tinyPDF))

	t.Run("Me", func(t *testing.T) {
		for _, u := range []*testUser{p, pro} {
			res := ts.api(t, "GET", "/api/v1/me", ts.token(t, u), nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("/me: %d %s", res.StatusCode, res.Body)
			}
			var me map[string]any
			if err := json.Unmarshal([]byte(res.Body), &me); err != nil {
				t.Fatal(err)
			}
			if me["id"] != u.ID || me["email"] != u.Email || me["name"] != u.Name {
				t.Errorf("/me: %s", res.Body)
			}
			roles, _ := me["roles"].([]any)
			got := map[string]string{}
			for _, r := range roles {
				m, _ := r.(map[string]any)
				role, ok1 := m["role"].(string)
				practice, ok2 := m["practice_id"].(string)
				if !ok1 || !ok2 {
					t.Errorf("role entry %v lacks role or practice_id", m)
				}
				got[role] = practice
			}
			if _, ok := got["patient"]; !ok {
				t.Errorf("roles %v lack patient", got)
			}
			if u == pro && got["practitioner"] != pro.PracticeID {
				t.Errorf("practitioner role %v, want practice %s", got, pro.PracticeID)
			}
		}
	})
	t.Run("Unauthorized", func(t *testing.T) {
		ts.wantAPIError(t, ts.api(t, "GET", "/api/v1/me", "", nil), http.StatusUnauthorized, "unauthorized", "error.sign_in_first")
		ts.wantAPIError(t, ts.api(t, "GET", "/api/v1/me", "not-a-token", nil), http.StatusUnauthorized, "unauthorized", "error.bad_token")
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Basic cGF0OnB3")
		ts.wantAPIError(t, ts.do(t, http.DefaultClient, req), http.StatusUnauthorized, "unauthorized", "error.bad_token")
		// The message follows Accept-Language.
		req, _ = http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
		req.Header.Set("Accept-Language", "en")
		res := ts.do(t, http.DefaultClient, req)
		if !strings.Contains(res.Body, ts.text(t, "en", "error.sign_in_first")) {
			t.Errorf("English API error: %s", res.Body)
		}
	})
	t.Run("RateLimitPerToken", func(t *testing.T) {
		tok, other := ts.token(t, p), ts.token(t, pro)
		limited := 0
		var last response
		for range 10 {
			res := ts.api(t, "GET", "/api/v1/me", tok, nil)
			if res.StatusCode == http.StatusTooManyRequests {
				limited++
				last = res
			}
		}
		if limited == 0 {
			t.Fatal("10 requests at once with api_rate = 2: never 429")
		}
		ts.wantAPIError(t, last, http.StatusTooManyRequests, "rate_limited", "error.rate_limited")
		if last.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		if res := ts.api(t, "GET", "/api/v1/me", other, nil); res.StatusCode != http.StatusOK {
			t.Errorf("another token is limited too: %d", res.StatusCode)
		}
	})
	t.Run("OpenAPI", func(t *testing.T) {
		res := ts.api(t, "GET", "/api/v1/openapi.json", "", nil)
		var doc map[string]any
		if err := json.Unmarshal([]byte(res.Body), &doc); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("openapi.json: %d %v", res.StatusCode, err)
		}
		if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
			t.Errorf("openapi: %q", v)
		}
		paths, _ := doc["paths"].(map[string]any)
		for _, p := range []string{"/me", "/practitioners"} {
			if paths[p] == nil {
				t.Errorf("openapi.json does not describe %s", p)
			}
		}
	})
	t.Run("Practitioners", func(t *testing.T) {
		res := ts.api(t, "GET", "/api/v1/practitioners", "", nil)
		var list []map[string]any
		if err := json.Unmarshal([]byte(res.Body), &list); err != nil {
			t.Fatalf("practitioners %s: %v", res.Body, err)
		}
		if len(list) != 1 || list[0]["id"] != pro.PracticeID || list[0]["name"] != "Paula Pro" {
			t.Errorf("practitioners: %s", res.Body)
		}
		for _, k := range []string{"id", "name", "specialties", "city", "teleconsultation"} {
			if _, ok := list[0][k]; !ok {
				t.Errorf("directory entry lacks %q", k)
			}
		}
	})
}
