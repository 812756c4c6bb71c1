package app

// A real headless Chromium walks the registration journey as people do: a new
// user registers (in French, then in English), an administrator reads the
// verification e-mail in the outbox viewer, the user confirms the address,
// signs in with "keep me signed in", gives consent, is greeted by name and
// signs out. Every page must run without a console error, a JavaScript
// exception, a failed asset or a Content-Security-Policy violation.
//
// The expected texts come from the catalogues in app/locales, so the test
// follows the wording. Screenshots of each step go to $DARAPORT_SCREENSHOTS
// when it is set, else to a temporary directory (the path is logged).
//
// The test needs Chromium (Debian: apt-get install -y chromium; .ci/run
// installs it). Without it the test fails: it never skips.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"daraport/store"
)

// stepTimeout bounds every browser step, so a broken page fails in seconds
// with the step's name instead of hanging until the test binary's timeout.
const stepTimeout = 15 * time.Second

// chromiumPath finds the browser, or fails the test saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const debian = "/usr/lib/chromium/chromium" // the real binary, not the /usr/bin wrapper script
	if fi, err := os.Stat(debian); err == nil && !fi.IsDir() {
		return debian
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("Chromium is not installed, and the browser test needs it: install it with `apt-get install -y chromium` "+
		"(Debian/Ubuntu, as root; .ci/run does this), so that %s or `chromium` on PATH exists", debian)
	return ""
}

// screenshotDir is $DARAPORT_SCREENSHOTS (created if needed), else a
// temporary directory of the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("DARAPORT_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("screenshots: %v", err)
		}
		return d
	}
	return t.TempDir()
}

// startBrowser starts one headless Chromium for a test, with the flags that
// work as root on a closed network (TESTING.md) and a fresh profile, and
// stops it when the test ends. extra flags are appended (video needs some).
func startBrowser(t *testing.T, exe string, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	opts = append(opts, extra...)
	// A safety net only: each step has its own, shorter timeout.
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		stop()
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return browserCtx
}

func TestBrowserRegistrationJourney(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)

	browserCtx := startBrowser(t, exe, 1280, 900)
	start := time.Now()

	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))

	for _, tc := range []journey{
		{lang: "fr", name: "Élodie Dupré", email: "elodie.dupre@example.org", postal: "75011", city: "Saint-Étienne"},
		{lang: "en", name: "Ann O'Neil", email: "ann.oneil@example.org", postal: "SW1A 1AA", city: "London"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			tc.run(t, browserCtx, shots)
		})
	}
}

// journey is one person's registration, in one language.
type journey struct {
	lang, name, email, postal, city string
}

func (j journey) run(t *testing.T, browserCtx context.Context, shots string) {
	began := time.Now()
	cat := loadTestCatalog(t, j.lang)
	ts := newTestServer(t, nil)
	adminEmail := "admin-" + j.lang + "@example.org"
	ts.addUser(t, adminEmail, "Ada Admin", store.RoleAdmin, "")
	password := "a long and quiet river " + j.lang

	user := newParticipant(t, browserCtx, "user", j.lang, shots)
	defer user.close()
	admin := newParticipant(t, browserCtx, "admin", j.lang, shots)
	defer admin.close()

	// 1. Registration, in the language chosen from the page's own menu.
	user.navigate(ts.URL + "/register")
	user.chooseLanguage(j.lang)
	user.expectPath("/register")
	user.do("fill the registration form",
		chromedp.SendKeys(chromedp.ID("name"), j.name),
		chromedp.SendKeys(chromedp.ID("email"), j.email),
		chromedp.SendKeys(chromedp.ID("email2"), j.email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("password2"), password),
	)
	if got := user.value("#name"); got != j.name {
		t.Fatalf("name field holds %q, want %q (typing non-ASCII letters)", got, j.name)
	}
	// The page solves the ALTCHA proof of work by itself; the button stays
	// disabled until then.
	user.do("wait for the captcha to be solved",
		chromedp.WaitReady(chromedp.CSS(`fieldset.captcha[data-solved="true"]`)),
		chromedp.WaitEnabled(chromedp.ID("register-submit")),
	)
	user.screenshot("01-register")
	user.submit("register", chromedp.Click(chromedp.ID("register-submit")))
	done := user.text("main .panel[role=status]")
	if want := cat.msg(t, "register.done", "Email", j.email); !strings.Contains(done, want) {
		t.Fatalf("after registering the page says %q, want %q", done, want)
	}
	user.screenshot("02-register-done")

	// 2. The administrator reads the verification e-mail in the outbox viewer.
	admin.navigate(ts.URL + "/login")
	admin.do("admin signs in",
		chromedp.SendKeys(chromedp.ID("email"), adminEmail),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	admin.submit("admin sign-in", chromedp.Click(chromedp.ID("login-submit")))
	admin.navigate(ts.URL + "/admin/outbox")
	admin.do("filter the outbox by the new address", chromedp.SendKeys(chromedp.ID("to"), j.email))
	admin.submit("outbox filter", chromedp.Submit(chromedp.ID("to")))
	// Newest first: the first subject is the newest message to the address.
	subject := admin.text("a.outbox-subject")
	if want := cat.msg(t, "mail.verify.subject", "Brand", ts.cfg.Brand.Name); subject != want {
		t.Errorf("newest message to %s has subject %q, want %q (the user's language)", j.email, subject, want)
	}
	admin.submit("open the newest message", chromedp.Click(chromedp.CSS("a.outbox-subject")))
	links, err := chromedp.Run(admin.step(), chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#mail-body a")).map(a => a.href)`))
	if err != nil {
		t.Fatalf("read the links of #mail-body: %v", err)
	}
	var link string
	for _, l := range links {
		if u, err := url.Parse(l); err == nil && u.Path == "/verify" && u.Query().Get("token") != "" {
			link = l
			break
		}
	}
	if link == "" {
		t.Fatalf("no clickable verification link in #mail-body; links: %q", links)
	}
	if !strings.HasPrefix(link, ts.URL+"/") {
		t.Errorf("verification link %q is not built from server.base_url %q", link, ts.URL)
	}
	admin.screenshot("03-outbox-message")

	// 3. The user opens the link, confirms, and signs in, remembered.
	user.navigate(link)
	user.expectPath("/verify")
	user.submit("confirm the address", chromedp.Click(chromedp.ID("verify-submit")))
	user.expectPath("/login")
	user.expectFlash(cat.msg(t, "flash.verified"))
	user.do("sign in, keep me signed in",
		chromedp.SendKeys(chromedp.ID("email"), j.email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`input[type=checkbox][name=remember]`)),
	)
	if checked, err := chromedp.Run(user.step(), chromedp.Evaluate[bool](`document.querySelector("input[name=remember]").checked`)); err != nil || !checked {
		t.Fatalf(`"keep me signed in" is not ticked (err %v)`, err)
	}
	user.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	sess := user.cookie(ts.URL, sessionCookie)
	if sess == nil {
		t.Fatalf("no %q cookie after signing in", sessionCookie)
	}
	life := ts.cfg.Security.RememberLifetime.Duration
	expires := time.Unix(int64(sess.Expires), 0)
	if sess.Session || sess.Expires <= 0 {
		t.Errorf("remembered session cookie is a browser-session cookie (no expiry): %+v", sess)
	} else if d := time.Until(expires); d < life-time.Hour || d > life+time.Hour {
		t.Errorf("remembered session cookie expires in %v, want about %v", d.Round(time.Minute), life)
	}
	if !sess.HTTPOnly || sess.SameSite == "" {
		t.Errorf("session cookie lacks HttpOnly or SameSite: %+v", sess)
	}

	// 4. First sign-in: consent.
	user.expectPath("/consent")
	var ticks []chromedp.Action[chromedp.Void]
	for _, it := range consentItems {
		if it.Required {
			sel := chromedp.CSS(fmt.Sprintf(`input[type=checkbox][name="consent_%s"]`, it.ID))
			ticks = append(ticks, chromedp.Click(sel))
		}
	}
	user.do("tick the required consents", ticks...)
	// A date input takes its value in ISO form whatever the displayed format.
	user.do("fill date of birth, postal code and city",
		chromedp.SetValue(chromedp.ID("birth_date"), "1990-05-17"),
		chromedp.SendKeys(chromedp.ID("postal_code"), j.postal),
		chromedp.SendKeys(chromedp.ID("city"), j.city),
	)
	if got := user.value("#birth_date"); got != "1990-05-17" {
		t.Fatalf("date of birth holds %q", got)
	}
	user.screenshot("04-consent")
	user.submit("give consent", chromedp.Click(chromedp.ID("consent-submit")))

	// 5. Greeted by name.
	user.expectPath("/")
	hello := user.text(".who .hello")
	if want := cat.msg(t, "nav.hello", "Name", j.name); hello != want {
		t.Errorf("header greets %q, want %q", hello, want)
	}
	user.screenshot("05-home")
	user.do("narrow (phone) viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	user.screenshot("05-home-mobile")
	user.do("back to the desktop viewport", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// ResetViewport keeps an override (0×0): clear it instead.
		if _, err := cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: false})
		return err
	}))

	// 6. Sign out.
	user.submit("sign out", chromedp.Click(chromedp.CSS(`.who form[action="/logout"] button[type=submit]`)))
	user.expectPath("/")
	user.expectFlash(cat.msg(t, "flash.signed_out"))
	if got, want := user.text(`.who a[href="/login"]`), cat.msg(t, "nav.login"); got != want {
		t.Errorf("sign-in link says %q after signing out, want %q", got, want)
	}
	if n, err := chromedp.Run(user.step(), chromedp.Evaluate[int](`document.querySelectorAll(".who .hello").length`)); err != nil || n != 0 {
		t.Errorf("still greeted after signing out (%d greetings, err %v)", n, err)
	}
	if c := user.cookie(ts.URL, sessionCookie); c != nil && c.Value != "" {
		t.Errorf("session cookie still set after signing out: %+v", c)
	}
	user.screenshot("06-signed-out")

	user.checkConsole("end of journey")
	admin.checkConsole("end of journey")
	t.Logf("%s journey took %v", j.lang, time.Since(began).Round(time.Millisecond))
}

// participant is one person at one browser: a tab in a browser context of
// its own (own cookies), watched for console errors and CSP violations.
type participant struct {
	t      *testing.T
	who    string
	prefix string // of the screenshot files: the journey's language
	shots  string
	ctx    context.Context
	cancel context.CancelFunc
	ids    map[string]bool // catalogue ids, to spot untranslated ones
	lang   string          // once chosen, every page must be in it

	mu       sync.Mutex
	problems []string
	cancels  []context.CancelFunc // of the step contexts
}

func newParticipant(t *testing.T, browserCtx context.Context, who, lang, shots string) *participant {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	p := &participant{t: t, who: who, prefix: lang, shots: shots, ctx: ctx, cancel: cancel, ids: catalogueIDs(t)}
	// Open the tab without a timeout: the first Run binds the tab's life
	// to its context.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("%s: open a tab: %v", who, err)
	}
	// Listen runs on the tab's reading goroutine, before any later command
	// returns: it must only record.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			p.problem("JavaScript exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range e.Args {
					if len(a.Value) > 0 {
						parts = append(parts, string(a.Value))
					} else {
						parts = append(parts, a.Description)
					}
				}
				p.problem("console.%s: %s", e.Type, strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			en := e.Entry
			// Chromium 156 words CSP violations "… violates the following
			// Content Security Policy directive … The action has been
			// blocked." (older versions: "Refused to …"), as security errors.
			csp := en.Source == log.EntrySourceSecurity || strings.Contains(en.Text, "Content Security Policy") ||
				strings.Contains(en.Text, "Refused to")
			if csp || en.Level == log.EntryLevelError {
				p.problem("browser log (%s, %s) at %s: %s", en.Source, en.Level, en.URL, en.Text)
			}
		case *network.EventResponseReceived:
			// A broken asset (script, style sheet, image) is a bug; pages
			// answering 4xx are checked by the steps themselves.
			if e.Type != network.ResourceTypeDocument && e.Response != nil && e.Response.Status >= 400 {
				p.problem("%s %s answered %d", e.Type, e.Response.URL, e.Response.Status)
			}
		}
	})
	if err != nil {
		cancel()
		t.Fatalf("%s: listen to the console: %v", who, err)
	}
	return p
}

func (p *participant) close() {
	p.mu.Lock()
	cs := p.cancels
	p.cancels = nil
	p.mu.Unlock()
	for _, c := range cs {
		c()
	}
	p.cancel()
}

func (p *participant) problem(format string, args ...any) {
	p.mu.Lock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

// checkConsole fails the test on what the pages reported since the last check.
func (p *participant) checkConsole(when string) {
	p.t.Helper()
	p.mu.Lock()
	got := p.problems
	p.problems = nil
	p.mu.Unlock()
	for _, m := range got {
		p.t.Errorf("%s, %s: %s", p.who, when, m)
	}
}

// step is a context for one browser step, ended by close at the latest.
func (p *participant) step() context.Context { return p.timeout(stepTimeout) }

func (p *participant) timeout(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(p.ctx, d)
	p.mu.Lock()
	p.cancels = append(p.cancels, cancel)
	p.mu.Unlock()
	return ctx
}

func (p *participant) fail(what string, err error) {
	p.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no result within %v: %w", stepTimeout, err)
	}
	loc, _ := chromedp.Run(p.ctxNoWait(), chromedp.Location())
	p.t.Fatalf("%s: %s (at %s): %v", p.who, what, loc, err)
}

// ctxNoWait is a short context for diagnostics after a failure.
func (p *participant) ctxNoWait() context.Context { return p.timeout(2 * time.Second) }

func (p *participant) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.step(), actions...); err != nil {
		p.fail(what, err)
	}
}

// navigate opens a URL and checks the answer and the page.
func (p *participant) navigate(u string) {
	p.t.Helper()
	res, err := chromedp.Run(p.step(), chromedp.NavigateResponse(u))
	if err != nil {
		p.fail("open "+u, err)
	}
	p.checkPage("open "+u, res)
}

// submit runs an action that leaves the page (a click on a submit button),
// waits for the next page to load, and checks it.
func (p *participant) submit(what string, action chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	res, err := chromedp.RunResponse(p.step(), action)
	if err != nil {
		p.fail(what, err)
	}
	p.checkPage(what, res)
}

var idTokenRe = regexp.MustCompile(`[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+`)

// checkPage checks a freshly loaded page: a 2xx answer, the journey's
// language, no untranslated catalogue id, nothing wrong in the console.
func (p *participant) checkPage(what string, res *network.Response) {
	p.t.Helper()
	if res == nil {
		p.fail(what, errors.New("no HTTP response for the page"))
	}
	if res.Status >= 400 {
		body, _ := chromedp.Run(p.ctxNoWait(), chromedp.Text(chromedp.CSS("main")))
		p.t.Fatalf("%s: %s: %s answered %d: %s", p.who, what, res.URL, res.Status, squash(body))
	}
	type pageInfo struct {
		Lang string `json:"lang"`
		Text string `json:"text"`
	}
	info, err := chromedp.Run(p.step(), chromedp.Evaluate[pageInfo](
		`({lang: document.documentElement.lang, text: document.body ? document.body.innerText : ""})`))
	if err != nil {
		p.fail(what+": read the page", err)
	}
	if p.lang != "" && info.Lang != p.lang {
		p.t.Errorf("%s: %s: page %s is in %q, want %q", p.who, what, res.URL, info.Lang, p.lang)
	}
	for _, tok := range idTokenRe.FindAllString(info.Text, -1) {
		if p.ids[tok] {
			p.t.Errorf("%s: %s: page %s shows the untranslated id %q", p.who, what, res.URL, tok)
		}
	}
	p.checkConsole(what)
}

// expectPath checks the path of the current page.
func (p *participant) expectPath(path string) {
	p.t.Helper()
	loc, err := chromedp.Run(p.step(), chromedp.Location())
	if err != nil {
		p.fail("read the location", err)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Path != path {
		p.t.Fatalf("%s: at %s, want path %s", p.who, loc, path)
	}
}

func (p *participant) expectFlash(want string) {
	p.t.Helper()
	if got := p.text("main .flash[role=status]"); got != want {
		p.t.Errorf("%s: flash says %q, want %q", p.who, got, want)
	}
}

// text returns the visible text of the first element matching a CSS
// selector, waiting for it to be visible.
func (p *participant) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.step(), chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.fail("read "+sel, err)
	}
	return squash(s)
}

func (p *participant) value(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.step(), chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.fail("read the value of "+sel, err)
	}
	return s
}

// chooseLanguage uses the header's language menu, as a person would.
func (p *participant) chooseLanguage(lang string) {
	p.t.Helper()
	p.do("choose "+lang+" in the language menu", chromedp.SetValue(chromedp.ID("lang-select"), lang))
	p.submit("switch language", chromedp.Click(chromedp.CSS(`form.lang button[type=submit]`)))
	got, err := chromedp.Run(p.step(), chromedp.Evaluate[string](`document.documentElement.lang`))
	if err != nil || got != lang {
		p.t.Fatalf("%s: after choosing %q the page is in %q (err %v)", p.who, lang, got, err)
	}
	p.lang = lang
}

// cookie returns the browser's cookie name for u, or nil.
func (p *participant) cookie(u, name string) *network.Cookie {
	p.t.Helper()
	res, err := chromedp.Call(p.step(), network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		p.fail("read cookies", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// screenshot saves a full-page PNG named <lang>-<step>.png.
func (p *participant) screenshot(step string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.step(), chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		p.fail("screenshot "+step, err)
	}
	name := filepath.Join(p.shots, p.prefix+"-"+step+".png")
	if err := os.WriteFile(name, buf, 0o644); err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	p.checkConsole(step)
}

// squash collapses runs of white space, as a reader sees text.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// testCatalog is one language's messages, read from app/locales the way
// go-i18n reads them (flat "id" = "text", a table with an "other" form, or
// nested tables joined with dots).
type testCatalog map[string]string

func loadTestCatalog(t *testing.T, lang string) testCatalog {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("locales", "*."+lang+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s catalogue: app/locales/*.%s.toml is missing", lang, lang)
	}
	sort.Strings(files)
	cat := testCatalog{}
	for _, f := range files {
		var m map[string]any
		if _, err := toml.DecodeFile(f, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		flattenCatalog(cat, "", m)
	}
	return cat
}

func flattenCatalog(cat testCatalog, prefix string, m map[string]any) {
	for k, v := range m {
		id := k
		if prefix != "" {
			id = prefix + "." + k
		}
		switch v := v.(type) {
		case string:
			cat[id] = v
		case map[string]any:
			if other, ok := v["other"].(string); ok {
				cat[id] = other
			} else {
				flattenCatalog(cat, id, v)
			}
		}
	}
}

// msg renders a message with its arguments (name/value pairs), as the
// application does; the test fails if the catalogue lacks it.
func (c testCatalog) msg(t *testing.T, id string, args ...string) string {
	t.Helper()
	s, ok := c[id]
	if !ok {
		t.Fatalf("the catalogue lacks %q", id)
	}
	data := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		data[args[i]] = args[i+1]
	}
	tmpl, err := template.New(id).Option("missingkey=error").Parse(s)
	if err != nil {
		t.Fatalf("message %q: %v", id, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("message %q: %v", id, err)
	}
	return squash(b.String())
}

var (
	catalogueIDsOnce sync.Once
	catalogueIDSet   map[string]bool
	catalogueIDsErr  error
)

// catalogueIDs returns every message id of every catalogue.
func catalogueIDs(t *testing.T) map[string]bool {
	t.Helper()
	catalogueIDsOnce.Do(func() {
		catalogueIDSet = map[string]bool{}
		catalogueIDsErr = fs.WalkDir(os.DirFS("locales"), ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".toml") {
				return err
			}
			var m map[string]any
			if _, err := toml.DecodeFile(filepath.Join("locales", path), &m); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			cat := testCatalog{}
			flattenCatalog(cat, "", m)
			for id := range cat {
				catalogueIDSet[id] = true
			}
			return nil
		})
	})
	if catalogueIDsErr != nil {
		t.Fatal(catalogueIDsErr)
	}
	return catalogueIDSet
}
