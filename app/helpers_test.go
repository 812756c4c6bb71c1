package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/store"
)

// testServer is the whole application on a real SQLite file under
// t.TempDir(), served by a real HTTP server on 127.0.0.1.
type testServer struct {
	*httptest.Server
	srv   *Server
	db    *store.DB
	cfg   Config
	clock *testClock
}

// testClock is a settable clock shared by the store and the server.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// newTestServer starts a server; change tweaks the configuration first.
// No account exists: until a test adds an admin (ts.addUser with
// store.RoleAdmin), pages redirect to /setup as on a fresh installation.
func newTestServer(t testing.TB, change func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Server.DataDir = dir
	cfg.Server.BaseURL = "http://" + ln.Addr().String()
	if change != nil {
		change(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	clock := &testClock{}
	db, err := store.Open(context.Background(), store.Options{Dir: dir, Key: key, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets"), WithClock(clock.Now), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	ts := &testServer{Server: hs, srv: srv, db: db, cfg: cfg, clock: clock}
	t.Cleanup(func() {
		hs.Close()
		db.Close()
	})
	return ts
}

// testPassword is the password of every account the helpers create.
const testPassword = "correct horse battery staple"

// testUser is an account made by the helpers.
type testUser struct {
	*store.User
	PracticeID string
	Password   string
}

// addUser creates a verified account that has already given consent, with
// role (and practiceID for practice roles; "" for a practitioner makes a new
// verified practice).
func (ts *testServer) addUser(t testing.TB, email, name, role, practiceID string) *testUser {
	t.Helper()
	ctx := context.Background()
	uid, pid, err := AddUser(ctx, ts.db, ts.cfg, UserSpec{Email: email, Name: name, Role: role, PracticeID: practiceID, Password: testPassword, Locale: "en"})
	if err != nil {
		t.Fatalf("add %s: %v", email, err)
	}
	v, now := consentVersion, time.Now()
	bd, pc, city := "1980-01-02", "06000", "Nice"
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		return tx.UpdateUser(ctx, uid, store.UserUpdate{ConsentVersion: &v, ConsentAt: &now, BirthDate: &bd, PostalCode: &pc, City: &city})
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ts.db.FindUserByID(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	return &testUser{User: u, PracticeID: pid, Password: testPassword}
}

// client returns an HTTP client with its own cookie jar that does not
// follow redirects (tests look at them).
func (ts *testServer) client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login signs u in with c and fails the test unless it works.
func (ts *testServer) login(t testing.TB, c *http.Client, u *testUser) {
	t.Helper()
	res := ts.post(t, c, "/login", url.Values{"email": {u.Email}, "password": {u.Password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d: %s", u.Email, res.StatusCode, res.Body)
	}
}

// response is a read HTTP answer.
type response struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func (ts *testServer) do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{StatusCode: res.StatusCode, Header: res.Header, Body: string(b)}
}

// get fetches path with c.
func (ts *testServer) get(t testing.TB, c *http.Client, path string) response {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts.do(t, c, req)
}

// post sends a same-origin form, as a browser on the site would.
func (ts *testServer) post(t testing.TB, c *http.Client, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return ts.do(t, c, req)
}

// api calls the JSON API with a bearer token.
func (ts *testServer) api(t testing.TB, method, path, token string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return ts.do(t, http.DefaultClient, req)
}

// token makes an API token for u.
func (ts *testServer) token(t testing.TB, u *testUser) string {
	t.Helper()
	tok, err := AddToken(context.Background(), ts.db, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// lastMail returns the newest outbox message to addr.
func (ts *testServer) lastMail(t testing.TB, addr string) *store.OutboxMessage {
	t.Helper()
	list, err := ts.db.FindOutbox(context.Background(), store.OutboxFilter{To: addr, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		t.Fatalf("no e-mail to %s", addr)
	}
	return list[0]
}

var linkRe = regexp.MustCompile(`https?://[^\s]+`)

// mailLink returns the first link of an e-mail's text part.
func mailLink(t testing.TB, m *store.OutboxMessage) string {
	t.Helper()
	l := linkRe.FindString(m.TextBody)
	if l == "" {
		t.Fatalf("no link in e-mail %q", m.Subject)
	}
	return l
}

// hiddenValue returns the value of a hidden input named name in an HTML page.
func hiddenValue(t testing.TB, body, name string) string {
	t.Helper()
	re := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no hidden input %q", name)
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#43;", "+")
	return r.Replace(s)
}

// clientLang is client with the language cookie set, so anonymous pages come
// in lang whatever the server's default.
func (ts *testServer) clientLang(t testing.TB, lang string) *http.Client {
	t.Helper()
	c := ts.client(t)
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "lang", Value: lang, Path: "/"}})
	return c
}

var tableNameRe = regexp.MustCompile(`^[a-z_]+$`)

// rows counts the rows of a table (optionally with a WHERE clause and its
// arguments), read straight from the database file: tests use it to show
// that a refused request wrote nothing.
func (ts *testServer) rows(t testing.TB, table string, where ...any) int {
	t.Helper()
	if !tableNameRe.MatchString(table) {
		t.Fatalf("rows: bad table name %q", table)
	}
	db, err := sql.Open("sqlite", "file:"+ts.db.Path()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, args := "SELECT count(*) FROM "+table, []any(nil)
	if len(where) > 0 {
		q += " WHERE " + where[0].(string)
		args = where[1:]
	}
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("rows %s: %v", table, err)
	}
	return n
}

var mainRe = regexp.MustCompile(`(?s)<main[^>]*>(.*)</main>`)

// mainOf returns the content of a page's <main> element ("" if none).
func mainOf(body string) string {
	m := mainRe.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

var altchaAttrRe = regexp.MustCompile(`data-altcha="([^"]*)"`)

// captchaSolution reads the captcha of a form page (the data-altcha
// attribute) and solves it as the browser script does.
func captchaSolution(t testing.TB, body string) url.Values {
	t.Helper()
	m := altchaAttrRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no data-altcha attribute in the page")
	}
	payload, err := solveAltcha(htmlUnescape(m[1]))
	if err != nil || payload == "" {
		t.Fatalf("solve captcha: %v", err)
	}
	return url.Values{"altcha": {payload}, "captcha_token": {hiddenValue(t, body, "captcha_token")}}
}

// text returns message id of the lang catalogue, failing the test when that
// catalogue lacks it (a missing message would render as its id).
func (ts *testServer) text(t testing.TB, lang, id string, args ...any) string {
	t.Helper()
	if !ts.srv.i18n.ids[lang][id] {
		t.Fatalf("the %s catalogue has no message %q", lang, id)
	}
	return ts.srv.i18n.T(lang, id, args...)
}

// hasCatalogue tells whether the lang catalogue holds message id (the fr, de
// and es catalogues are written after the English one).
func (ts *testServer) hasCatalogue(lang, id string) bool { return ts.srv.i18n.ids[lang][id] }

// pageHas tells whether an HTML page shows text (compared unescaped).
func pageHas(body, text string) bool { return strings.Contains(html.UnescapeString(body), text) }
