package app

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"daraport/store"
)

// Bad input: each refused with a clear, localized message, the right
// status, and nothing written.

// dataTables are the tables a refused request must leave as they were.
var dataTables = []string{"users", "memberships", "sessions", "api_tokens", "email_tokens", "consents", "documents",
	"verifications", "practices", "outbox", "audit", "contact_messages"}

// snapshot counts the rows of every data table.
func (ts *testServer) snapshot(t testing.TB) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, table := range dataTables {
		m[table] = ts.rows(t, table)
	}
	return m
}

// unchanged fails if any data table's row count moved since before.
func (ts *testServer) unchanged(t testing.TB, before map[string]int) {
	t.Helper()
	for table, n := range ts.snapshot(t) {
		if n != before[table] {
			t.Errorf("%s: %d rows, was %d: a refused request wrote something", table, n, before[table])
		}
	}
}

// wantMsg fails unless the page shows message id of the lang catalogue.
func (ts *testServer) wantMsg(t testing.TB, res response, lang, id string, args ...any) {
	t.Helper()
	if msg := ts.text(t, lang, id, args...); !pageHas(res.Body, msg) {
		t.Errorf("the page lacks the %s message %s %q", lang, id, msg)
	}
}

// registrationForm is a valid registration with the captcha of page solved.
func registrationForm(t testing.TB, page response, name, email string) url.Values {
	form := captchaSolution(t, page.Body)
	form.Set("name", name)
	form.Set("email", email)
	form.Set("email2", email)
	form.Set("password", "a quiet evening walk")
	form.Set("password2", "a quiet evening walk")
	return form
}

func TestBadRegistration(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	for _, tc := range []struct {
		name   string
		lang   string
		change func(f url.Values)
		msg    string
	}{
		{"PasswordsDiffer", "en", func(f url.Values) { f.Set("password2", "a quiet evening stroll") }, "error.passwords_differ"},
		{"PasswordsDifferFR", "fr", func(f url.Values) { f.Set("password2", "a quiet evening stroll") }, "error.passwords_differ"},
		{"EmailsDiffer", "en", func(f url.Values) { f.Set("email2", "someone.else@example.org") }, "error.emails_differ"},
		{"EmailInvalid", "en", func(f url.Values) { f.Set("email", "not-an-address"); f.Set("email2", "not-an-address") }, "error.email_invalid"},
		{"PasswordShort", "en", func(f url.Values) { f.Set("password", "short1"); f.Set("password2", "short1") }, "error.password_short"},
		{"PasswordCommon", "en", func(f url.Values) { f.Set("password", "password123"); f.Set("password2", "password123") }, "error.password_common"},
		{"PasswordRepetitive", "en", func(f url.Values) { f.Set("password", "abababababab"); f.Set("password2", "abababababab") }, "error.password_common"},
		{"PasswordPersonal", "en", func(f url.Values) { f.Set("password", "newuser is my name"); f.Set("password2", "newuser is my name") }, "error.password_personal"},
		{"WrongCaptcha", "en", func(f url.Values) { f.Del("altcha"); f.Set("captcha_answer", "999") }, "error.captcha"},
		{"WrongCaptchaFR", "fr", func(f url.Values) { f.Del("altcha"); f.Set("captcha_answer", "999") }, "error.captcha"},
		{"ForgedCaptcha", "en", func(f url.Values) { f.Set("altcha", "eyJhbGdvcml0aG0iOiJTSEEtMjU2In0=") }, "error.captcha"},
		{"NoCaptcha", "en", func(f url.Values) { f.Del("altcha"); f.Del("captcha_token") }, "error.captcha"},
		{"Name10000", "en", func(f url.Values) { f.Set("name", strings.Repeat("Jacques ", 1250)) }, "error.name_long"},
		{"Name10000FR", "fr", func(f url.Values) { f.Set("name", strings.Repeat("J", 10000)) }, "error.name_long"},
		{"NameEmpty", "en", func(f url.Values) { f.Set("name", "   ") }, "error.name_required"},
		{"NameControlCharacters", "en", func(f url.Values) { f.Set("name", "Ann\x00\x1b[31mBob") }, "error.name_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.clientLang(t, tc.lang)
			page := ts.get(t, c, "/register")
			form := registrationForm(t, page, "New User", "newuser@example.org")
			tc.change(form)
			before := ts.snapshot(t)
			res := ts.post(t, c, "/register", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422", res.StatusCode)
			}
			ts.wantMsg(t, res, tc.lang, tc.msg)
			ts.unchanged(t, before)
			if strings.Contains(res.Body, form.Get("password")) {
				t.Error("the refused page echoes the password")
			}
			// A fresh captcha comes with the form again.
			if !strings.Contains(res.Body, "data-altcha=") {
				t.Error("no new captcha on the refused form")
			}
		})
	}
}

func TestRegisterDuplicateEmail(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	owner := ts.addUser(t, "taken@example.org", "Olivia Owner", store.RolePatient, "")
	ctx := context.Background()

	register := func(email string) (response, time.Duration) {
		c := ts.clientLang(t, "en")
		page := ts.get(t, c, "/register")
		form := registrationForm(t, page, "Mallory Other", email)
		start := time.Now()
		res := ts.post(t, c, "/register", form)
		return res, time.Since(start)
	}
	users := ts.rows(t, "users")
	fresh, freshTime := register("fresh@example.org")
	before := ts.snapshot(t)
	dup, dupTime := register(owner.Email)

	// The same answer, so the page tells nothing about the address.
	if fresh.StatusCode != http.StatusOK || dup.StatusCode != fresh.StatusCode {
		t.Errorf("status: fresh %d, duplicate %d", fresh.StatusCode, dup.StatusCode)
	}
	a := strings.ReplaceAll(mainOf(fresh.Body), "fresh@example.org", "EMAIL")
	b := strings.ReplaceAll(mainOf(dup.Body), owner.Email, "EMAIL")
	if a == "" || a != b {
		t.Errorf("the pages differ:\nfresh:     %s\nduplicate: %s", a, b)
	}
	ts.wantMsg(t, dup, "en", "register.done", "Email", owner.Email)
	for _, d := range []time.Duration{freshTime, dupTime} {
		if d < authFloor-10*time.Millisecond {
			t.Errorf("a registration answered in %v, before authFloor", d)
		}
	}
	// No second account, the owner's untouched, and told by e-mail.
	if n := ts.rows(t, "users"); n != users+1 {
		t.Errorf("%d users, want %d (only the fresh one added)", n, users+1)
	}
	if n := ts.rows(t, "users", "email = ?", owner.Email); n != 1 {
		t.Errorf("%d accounts with the address", n)
	}
	u, _ := ts.db.FindUserByID(ctx, owner.ID)
	if u.Name != owner.Name || u.PasswordHash != owner.PasswordHash {
		t.Error("the existing account changed")
	}
	m := ts.lastMail(t, owner.Email)
	if m.Template != "account_exists" || !strings.HasPrefix(mailLink(t, m), ts.cfg.Server.BaseURL+"/reset") {
		t.Errorf("owner's e-mail: %q", m.Template)
	}
	after := ts.snapshot(t)
	for table, n := range after {
		want := before[table]
		if table == "outbox" {
			want++
		}
		if n != want {
			t.Errorf("%s: %d rows, want %d (only the owner's e-mail is written)", table, n, want)
		}
	}
}

// captchaNumber reads the number the text captcha of a page asks for.
func (ts *testServer) captchaNumber(t testing.TB, body, lang string) int {
	t.Helper()
	for n := 1; n <= 20; n++ {
		q := ts.text(t, lang, "captcha.question", "Number", ts.text(t, lang, fmt.Sprintf("captcha.n%d", n)))
		if pageHas(body, q+"<") || pageHas(body, q+"</label>") {
			return n
		}
	}
	t.Fatal("no captcha question in the page")
	return 0
}

func TestCaptchaReplay(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	for _, tc := range []struct {
		name  string
		solve func(t *testing.T, page response) url.Values
	}{
		{"ProofOfWork", func(t *testing.T, page response) url.Values { return captchaSolution(t, page.Body) }},
		{"TextQuestion", func(t *testing.T, page response) url.Values {
			return url.Values{"captcha_token": {hiddenValue(t, page.Body, "captcha_token")},
				"captcha_answer": {fmt.Sprint(ts.captchaNumber(t, page.Body, "en"))}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.clientLang(t, "en")
			page := ts.get(t, c, "/register")
			solution := tc.solve(t, page)
			form := func(email string) url.Values {
				f := registrationForm(t, page, "Carl Captcha", email)
				f.Del("altcha")
				f.Del("captcha_token")
				for k, v := range solution {
					f[k] = v
				}
				return f
			}
			first := strings.ToLower(tc.name) + "1@example.org"
			if res := ts.post(t, c, "/register", form(first)); res.StatusCode != http.StatusOK {
				t.Fatalf("first use of the solution: %d", res.StatusCode)
			}
			before := ts.snapshot(t)
			res := ts.post(t, c, "/register", form(strings.ToLower(tc.name)+"2@example.org"))
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("replayed solution: %d, want 422", res.StatusCode)
			}
			ts.wantMsg(t, res, "en", "error.captcha")
			ts.unchanged(t, before)
		})
	}
	t.Run("TextQuestionExpired", func(t *testing.T) {
		c := ts.clientLang(t, "en")
		page := ts.get(t, c, "/register")
		f := registrationForm(t, page, "Carl Captcha", "late@example.org")
		f.Del("altcha")
		f.Set("captcha_answer", fmt.Sprint(ts.captchaNumber(t, page.Body, "en")))
		ts.clock.Advance(captchaTTL + time.Minute)
		before := ts.snapshot(t)
		res := ts.post(t, c, "/register", f)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("expired captcha: %d", res.StatusCode)
		}
		ts.wantMsg(t, res, "en", "error.captcha")
		ts.unchanged(t, before)
	})
}

func TestNamesEscapedAndIntact(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	const script = "<script>alert(1)</script>"
	names := []string{
		"Eve " + script,
		"Zoé 👩🏽‍⚕️ Martin 🎉",
		"مريم الحسن",
		"דוד כהן",
	}
	var pages []response
	for i, name := range names {
		email := fmt.Sprintf("name%d@example.org", i)
		c := ts.clientLang(t, "en")
		if res := ts.signUp(t, c, name, email, "a quiet evening walk"); res.StatusCode != http.StatusOK {
			t.Fatalf("%q refused: %d", name, res.StatusCode)
		}
		u, err := ts.db.FindUserByEmail(context.Background(), email)
		if err != nil || u.Name != name {
			t.Fatalf("stored name %q, want %q (%v)", u.Name, name, err)
		}
		m := ts.lastMail(t, email)
		if strings.Contains(m.HTMLBody, script) {
			t.Errorf("the HTML e-mail holds the raw %s", script)
		}
		ts.confirmEmail(t, c, email)
		if res := ts.signIn(t, c, email, "a quiet evening walk", nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		ts.post(t, c, "/consent", consentForm("/"))
		account := ts.get(t, c, "/account")
		if account.StatusCode != http.StatusOK {
			t.Fatalf("/account: %d", account.StatusCode)
		}
		// The name comes back intact: in the greeting and in the form.
		if !pageHas(account.Body, "Hello, "+name) {
			t.Errorf("/account does not greet %q", name)
		}
		if v := hiddenOrInput(account.Body, "name"); v != name {
			t.Errorf("/account name field %q, want %q", v, name)
		}
		if !strings.Contains(name, "<") && !strings.Contains(account.Body, name) {
			t.Errorf("the bytes of %q are not in the page as they are", name)
		}
		pages = append(pages, account, ts.get(t, c, "/"), ts.get(t, c, "/contact"), ts.get(t, c, "/account/sessions"))
		if i == 0 && !strings.Contains(account.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("the escaped form of the script is not on /account")
		}
	}
	ac := ts.clientLang(t, "en")
	ts.login(t, ac, admin)
	list := ts.get(t, ac, "/admin/users")
	for _, name := range names[1:] {
		if !strings.Contains(list.Body, name) {
			t.Errorf("/admin/users does not show %q intact", name)
		}
	}
	eve, _ := ts.db.FindUserByEmail(context.Background(), "name0@example.org")
	pages = append(pages, list, ts.get(t, ac, "/admin/users/"+eve.ID), ts.get(t, ac, "/admin/audit"), ts.get(t, ac, "/admin/outbox"),
		ts.get(t, ac, "/admin/outbox/"+ts.lastMail(t, "name0@example.org").ID))
	for i, p := range pages {
		if strings.Contains(p.Body, script) {
			t.Errorf("page %d holds the raw %s", i, script)
		}
	}
}

var inputValueRe = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// hiddenOrInput returns the (unescaped) value of the input named name.
func hiddenOrInput(body, name string) string {
	for _, m := range inputValueRe.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return html.UnescapeString(m[2])
		}
	}
	return ""
}

// requestReset asks for a reset link for email and returns the link's path.
func (ts *testServer) requestReset(t testing.TB, email string) string {
	t.Helper()
	if res := ts.post(t, ts.clientLang(t, "en"), "/reset", url.Values{"email": {email}}); res.StatusCode != http.StatusOK {
		t.Fatalf("reset request: %d", res.StatusCode)
	}
	m := ts.lastMail(t, email)
	if m.Template != "reset" {
		t.Fatalf("newest e-mail: %q", m.Template)
	}
	return ts.localPath(t, mailLink(t, m))
}

func TestBadResetToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()
	hash := func() string {
		u, err := ts.db.FindUserByID(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	tokenOf := func(link string) string {
		u, _ := url.Parse(link)
		return u.Query().Get("token")
	}
	// refused checks a bad link, opened and posted: 400, the message,
	// password and every table unchanged.
	refused := func(t *testing.T, link, lang string) {
		t.Helper()
		c := ts.clientLang(t, lang)
		before, pw := ts.snapshot(t), hash()
		res := ts.get(t, c, link)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET: %d, want 400", res.StatusCode)
		}
		ts.wantMsg(t, res, lang, "error.reset_link")
		res = ts.post(t, c, "/reset/confirm", url.Values{"token": {tokenOf(link)}, "password": {"yet another passphrase"}, "password2": {"yet another passphrase"}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("POST: %d, want 400", res.StatusCode)
		}
		ts.wantMsg(t, res, lang, "error.reset_link")
		ts.unchanged(t, before)
		if hash() != pw {
			t.Error("the password changed")
		}
	}

	t.Run("Reused", func(t *testing.T) {
		link := ts.requestReset(t, p.Email)
		c := ts.clientLang(t, "en")
		res := ts.post(t, c, "/reset/confirm", url.Values{"token": {tokenOf(link)}, "password": {"first new passphrase"}, "password2": {"first new passphrase"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d", res.StatusCode)
		}
		refused(t, link, "en")
		refused(t, link, "fr")
	})
	t.Run("Expired", func(t *testing.T) {
		link := ts.requestReset(t, p.Email)
		ts.clock.Advance(resetTTL + time.Minute)
		refused(t, link, "en")
	})
	t.Run("Superseded", func(t *testing.T) {
		older := ts.requestReset(t, p.Email)
		ts.requestReset(t, p.Email)
		refused(t, older, "en")
	})
	t.Run("Unknown", func(t *testing.T) {
		refused(t, "/reset/confirm?token=made-up", "en")
	})
	t.Run("PasswordsDifferKeepTheLink", func(t *testing.T) {
		link := ts.requestReset(t, p.Email)
		c := ts.clientLang(t, "en")
		before, pw := ts.snapshot(t), hash()
		res := ts.post(t, c, "/reset/confirm", url.Values{"token": {tokenOf(link)}, "password": {"second new passphrase"}, "password2": {"second new passphrase!"}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("status %d", res.StatusCode)
		}
		ts.wantMsg(t, res, "en", "error.passwords_differ")
		ts.unchanged(t, before)
		if hash() != pw {
			t.Error("the password changed")
		}
		if res := ts.get(t, c, link); res.StatusCode != http.StatusOK {
			t.Errorf("the link no longer works after a refused form: %d", res.StatusCode)
		}
	})
}

// wrongCode returns a six-digit code that is not valid for secret around now.
func wrongCode(t testing.TB, secret string, now time.Time) string {
	var valid []string
	for _, skew := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.GenerateCodeCustom(secret, now.Add(skew), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		valid = append(valid, c)
	}
	for _, c := range []string{"000000", "123456", "654321", "111111"} {
		if !slices.Contains(valid, c) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

func TestWrongTOTP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()
	c := ts.clientLang(t, "en")
	ts.login(t, c, p)

	secret := ts.totpSecret(t, c)
	for _, tc := range []struct {
		name, password, code, msg string
	}{
		{"WrongCode", p.Password, wrongCode(t, secret, ts.clock.Now()), "error.bad_totp"},
		{"NotDigits", p.Password, "abcdef", "error.bad_totp"},
		{"WrongPassword", "not my password at all", ts.totpCode(t, secret), "error.bad_password"},
	} {
		t.Run("Enable"+tc.name, func(t *testing.T) {
			before := ts.snapshot(t)
			res := ts.post(t, c, "/account/2fa/enable", url.Values{"secret": {secret}, "current": {tc.password}, "code": {tc.code}})
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("status %d", res.StatusCode)
			}
			ts.wantMsg(t, res, "en", tc.msg)
			ts.unchanged(t, before)
			if u, _ := ts.db.FindUserByID(ctx, p.ID); !u.TOTPEnabledAt.IsZero() {
				t.Error("2FA enabled")
			}
			// The same secret is offered again, so the app set-up stays valid.
			if hiddenValue(t, res.Body, "secret") != secret {
				t.Error("the refused form shows another secret")
			}
		})
	}
	ts.clock.Advance(30 * time.Second)
	secret = ts.enableTOTP(t, c, p.Password)
	ts.post(t, c, "/logout", nil)

	for _, lang := range []string{"en", "fr"} {
		t.Run("SignIn"+strings.ToUpper(lang), func(t *testing.T) {
			c := ts.clientLang(t, lang)
			if res := ts.signIn(t, c, p.Email, p.Password, nil); !strings.HasPrefix(res.Header.Get("Location"), "/login/2fa") {
				t.Fatalf("sign-in: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			before := ts.snapshot(t)
			res := ts.post(t, c, "/login/2fa", url.Values{"code": {wrongCode(t, secret, ts.clock.Now())}})
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", res.StatusCode)
			}
			ts.wantMsg(t, res, lang, "error.bad_totp")
			// Only the failure is recorded; the session stays half-open.
			before["audit"]++
			ts.unchanged(t, before)
			if res := ts.get(t, c, "/account"); res.Header.Get("Location") != "/login/2fa" {
				t.Errorf("after a wrong code, /account: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})
	}
}

// tryPost is post without the test: safe in goroutines.
func (ts *testServer) tryPost(c *http.Client, path string, form url.Values) (response, error) {
	req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{StatusCode: res.StatusCode, Header: res.Header, Body: string(b)}, err
}

// failSignIns makes n wrong sign-ins at once (emails[i % len]) and returns
// their statuses.
func (ts *testServer) failSignIns(t testing.TB, n int, emails ...string) []int {
	t.Helper()
	statuses := make([]int, n)
	fns := make([]func() error, n)
	for i := range n {
		c := ts.client(t)
		fns[i] = func() error {
			res, err := ts.tryPost(c, "/login", url.Values{"email": {emails[i%len(emails)]}, "password": {"wrong password " + fmt.Sprint(i)}})
			statuses[i] = res.StatusCode
			return err
		}
	}
	if err := parallel(5, fns...); err != nil {
		t.Fatal(err)
	}
	return statuses
}

func count(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

func TestSignInThrottled(t *testing.T) {
	t.Parallel()
	t.Run("PerAccount", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, nil) // security.login_attempts = 10
		ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
		p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
		first := ts.failSignIns(t, 10, p.Email)
		second := ts.failSignIns(t, 10, p.Email, strings.ToUpper(p.Email))
		if count(first, http.StatusUnauthorized) != 10 || count(second, http.StatusTooManyRequests) != 10 {
			t.Errorf("20 failed sign-ins: first ten %v, next ten %v; want 401 then 429", first, second)
		}
		// The right password is refused too while the account is locked.
		for _, lang := range []string{"en", "fr"} {
			before := ts.snapshot(t)
			res := ts.signIn(t, ts.clientLang(t, lang), p.Email, p.Password, nil)
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
				t.Errorf("right password while locked: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
			}
			ts.wantMsg(t, res, lang, "error.too_many_attempts")
			ts.unchanged(t, before)
		}
		// The lock lasts 15 minutes.
		ts.clock.Advance(16 * time.Minute)
		if res := ts.signIn(t, ts.clientLang(t, "en"), p.Email, p.Password, nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("after 16 minutes: %d", res.StatusCode)
		}
	})
	t.Run("PerIP", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, nil)
		ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
		p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
		var emails []string
		for i := range 20 {
			emails = append(emails, fmt.Sprintf("unknown%d@example.org", i))
		}
		if got := ts.failSignIns(t, 20, emails...); count(got, http.StatusUnauthorized) != 20 {
			t.Errorf("20 failures on 20 addresses: %v", got)
		}
		res := ts.signIn(t, ts.clientLang(t, "en"), p.Email, p.Password, nil)
		if res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("another account from the same address: %d, want 429", res.StatusCode)
		}
		ts.wantMsg(t, res, "en", "error.too_many_attempts")
	})
}

// crossSite posts form as another site's page would.
func (ts *testServer) crossSite(t testing.TB, c *http.Client, path string, form url.Values, fetchMetadata bool) response {
	t.Helper()
	req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if fetchMetadata {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	return ts.do(t, c, req)
}

func TestCrossSitePostRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	signedIn := ts.clientLang(t, "en")
	ts.login(t, signedIn, p)
	anon := ts.clientLang(t, "en")
	reg := registrationForm(t, ts.get(t, anon, "/register"), "Mallory Cross", "cross@example.org")
	for _, tc := range []struct {
		name, path string
		c          *http.Client
		form       url.Values
		lang       string
	}{
		{"Login", "/login", anon, url.Values{"email": {p.Email}, "password": {p.Password}}, "en"},
		{"Register", "/register", anon, reg, "en"},
		{"Account", "/account", signedIn, url.Values{"name": {"Hacked Name"}, "locale": {"de"}, "time_zone": {"Europe/Berlin"}}, "en"},
		{"RegisterFR", "/register", anon, reg, "fr"},
		{"Password", "/account/password", signedIn, url.Values{"current": {p.Password}, "password": {"attacker passphrase"}, "password2": {"attacker passphrase"}}, "en"},
	} {
		for _, fm := range []bool{true, false} {
			name := tc.name
			if !fm {
				name += "OriginOnly"
			}
			t.Run(name, func(t *testing.T) {
				if tc.lang == "fr" {
					u, _ := url.Parse(ts.URL)
					tc.c.Jar.SetCookies(u, []*http.Cookie{{Name: "lang", Value: "fr", Path: "/"}})
					defer tc.c.Jar.SetCookies(u, []*http.Cookie{{Name: "lang", Value: "en", Path: "/"}})
				}
				before := ts.snapshot(t)
				res := ts.crossSite(t, tc.c, tc.path, tc.form, fm)
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", res.StatusCode)
				}
				ts.wantMsg(t, res, tc.lang, "error.cross_origin")
				ts.unchanged(t, before)
				if rawSetCookie(res, sessionCookie) != "" {
					t.Error("a session cookie was set")
				}
				u, _ := ts.db.FindUserByID(context.Background(), p.ID)
				if u.Name != p.Name || u.Locale != p.Locale || u.PasswordHash != p.PasswordHash {
					t.Error("the account changed")
				}
			})
		}
	}
	// The same forms from the site itself work.
	if res := ts.post(t, signedIn, "/account", url.Values{"name": {"Pat Renamed"}, "locale": {"en"}, "time_zone": {"Europe/Paris"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST /account: %d", res.StatusCode)
	}
}

func TestUnknownConfigKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, toml, key string }{
		{"Key", "[security]\nstaff_idle_timout = \"10m\"\n", "security.staff_idle_timout"},
		{"Section", "[securty]\nstaff_idle_timeout = \"10m\"\n", "securty"},
		{"TopLevel", "base_url = \"https://rdv.example\"\n[server]\naddr = \":8080\"\n", "base_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "daraport.toml")
			if err := os.WriteFile(path, []byte(tc.toml+"\n[log]\nlevel = \"info\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path, nil)
			if err == nil {
				t.Fatal("LoadConfig accepted an unknown key")
			}
			if !strings.Contains(err.Error(), `"`+tc.key+`"`) || !strings.Contains(err.Error(), "unknown key") {
				t.Errorf("error %q does not name the unknown key %q", err, tc.key)
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestNoEnumeration(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	const unknown = "nobody@example.org"

	// measure posts form for each address in turn, tries times, and
	// returns the durations and the last answers per address.
	measure := func(path string, tries int, forms map[string]url.Values) (map[string][]time.Duration, map[string]response) {
		times, last := map[string][]time.Duration{}, map[string]response{}
		for range tries {
			for addr, form := range forms {
				start := time.Now()
				res := ts.post(t, ts.clientLang(t, "en"), path, form)
				times[addr] = append(times[addr], time.Since(start))
				last[addr] = res
			}
		}
		return times, last
	}
	same := func(t *testing.T, times map[string][]time.Duration, last map[string]response) {
		t.Helper()
		known, other := last[p.Email], last[unknown]
		if known.StatusCode != other.StatusCode {
			t.Errorf("status: known %d, unknown %d", known.StatusCode, other.StatusCode)
		}
		a := strings.ReplaceAll(mainOf(known.Body), p.Email, "EMAIL")
		b := strings.ReplaceAll(mainOf(other.Body), unknown, "EMAIL")
		if a == "" || a != b {
			t.Errorf("the answers differ:\nknown:   %s\nunknown: %s", a, b)
		}
		mk, mu := median(times[p.Email]), median(times[unknown])
		t.Logf("median: known %v, unknown %v", mk, mu)
		if d := mk - mu; d > 100*time.Millisecond || d < -100*time.Millisecond {
			t.Errorf("median answer times differ by %v (known %v, unknown %v)", d, mk, mu)
		}
		for _, d := range append(slices.Clone(times[p.Email]), times[unknown]...) {
			if d < authFloor-10*time.Millisecond {
				t.Errorf("an answer came in %v, before authFloor", d)
			}
		}
	}
	t.Run("SignIn", func(t *testing.T) {
		times, last := measure("/login", 5, map[string]url.Values{
			p.Email: {"email": {p.Email}, "password": {"not the password"}},
			unknown: {"email": {unknown}, "password": {"not the password"}},
		})
		same(t, times, last)
		ts.wantMsg(t, last[unknown], "en", "error.bad_credentials")
	})
	t.Run("Reset", func(t *testing.T) {
		times, last := measure("/reset", 3, map[string]url.Values{p.Email: {"email": {p.Email}}, unknown: {"email": {unknown}}})
		same(t, times, last)
		ts.wantMsg(t, last[unknown], "en", "reset.done")
		if ts.rows(t, "outbox", "to_addr = ?", unknown) != 0 {
			t.Error("an e-mail to an unknown address")
		}
	})
}
