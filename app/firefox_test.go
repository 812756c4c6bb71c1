package app

// A small WebDriver BiDi client, enough to drive a headless Firefox from Go
// tests: Firefox (≥ 129) speaks BiDi natively when started with
// --remote-debugging-port, so no geckodriver and no new dependency are
// needed — the client is JSON commands over one WebSocket (coder/websocket).
//
// What it covers (https://w3c.github.io/webdriver-bidi/): session.new,
// browser.createUserContext (a private cookie jar per participant),
// browsingContext.create/navigate/reload/setViewport/captureScreenshot,
// script.evaluate (the page's own JavaScript: clicks, typing, reading
// state), script.addPreloadScript, and the log.entryAdded and
// network.responseCompleted events, which feed the same "nothing wrong in
// the console" check as the Chromium tests.
//
// The tests need Firefox (Debian: apt-get install -y --no-install-recommends
// firefox-esr; .ci/run installs it). Without it they fail: they never skip.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// firefoxPath finds Firefox, or fails the test saying how to install it.
func firefoxPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Firefox is not installed, and the Firefox browser tests need it: install it with " +
		"`apt-get install -y --no-install-recommends firefox-esr` (Debian/Ubuntu, as root; .ci/run does this), " +
		"so that `firefox-esr` is on PATH")
	return ""
}

// firefoxPrefs go into the fresh profile's user.js. Firefox's remote agent
// already applies its recommended automation preferences (no first-run
// pages, no update checks, no telemetry); these are what a video visit needs.
var firefoxPrefs = map[string]any{
	// A synthetic camera and microphone, granted without a prompt (the
	// equivalent of Chromium's --use-fake-device-for-media-stream and
	// --use-fake-ui-for-media-stream). http://127.0.0.1 is a secure
	// context, so getUserMedia needs no TLS.
	"media.navigator.streams.fake":        true,
	"media.navigator.permission.disabled": true,
	// ICE over the loopback interface, where the test's TURN server listens
	// (Chromium's --allow-loopback-in-peer-connection).
	"media.peerconnection.ice.loopback": true,
	// No sound card on a test machine: a mock audio backend lets Web Audio
	// (the check page's level meter) run.
	"media.cubeb.force_mock_context": true,
	// The tests read the page in English; the language menu is Chromium's job.
	"intl.accept_languages": "en",
	// A closed network: nothing to fetch at start.
	"app.normandy.enabled":                        false,
	"messaging-system.rsexperimentloader.enabled": false,
	"network.captive-portal-service.enabled":      false,
	"network.connectivity-service.enabled":        false,
	"browser.safebrowsing.malware.enabled":        false,
	"browser.safebrowsing.phishing.enabled":       false,
	"extensions.blocklist.enabled":                false,
}

// firefox is one headless Firefox and its BiDi session.
type firefox struct {
	t    *testing.T
	conn *websocket.Conn

	mu       sync.Mutex
	nextID   int
	waiting  map[int]chan bidiMessage
	problems map[string][]string // per browsing context
	status   map[string]int      // last document's HTTP status per browsing context
}

// bidiMessage is a command's answer or an event.
type bidiMessage struct {
	ID      *int            `json:"id"`
	Type    string          `json:"type"` // success, error, event
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

var bidiListeningRe = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// startFirefox starts a headless Firefox with a fresh profile, opens a BiDi
// session, and stops both when the test ends.
func startFirefox(t *testing.T) *firefox {
	t.Helper()
	exe := firefoxPath(t)
	profile := t.TempDir()
	var prefs strings.Builder
	for k, v := range firefoxPrefs {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&prefs, "user_pref(%q, %s);\n", k, b)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-headless", "-no-remote", "-profile", profile, "--remote-debugging-port=0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	// Its own process group: Firefox starts content processes, and the
	// cleanup ends them with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Firefox (%s): %v", exe, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	// The port is the one Firefox prints; the rest of stderr (Firefox's own
	// chatter) is kept for a failure message.
	found := make(chan string, 1)
	var tail []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := bidiListeningRe.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			tailMu.Lock()
			if tail = append(tail, line); len(tail) > 20 {
				tail = tail[1:]
			}
			tailMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-exited:
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("Firefox exited before listening for WebDriver BiDi:\n%s", strings.Join(tail, "\n"))
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("Firefox did not listen for WebDriver BiDi within 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL+"/session", nil)
	if err != nil {
		stop()
		t.Fatalf("connect to Firefox's WebDriver BiDi at %s: %v", wsURL, err)
	}
	conn.SetReadLimit(64 << 20) // full-page screenshots
	f := &firefox{t: t, conn: conn,
		waiting: map[int]chan bidiMessage{}, problems: map[string][]string{}, status: map[string]int{}}
	go f.read()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = f.call(ctx, "browser.close", struct{}{}, nil)
		cancel()
		_ = conn.CloseNow()
		stop()
	})
	var session struct {
		Capabilities struct {
			BrowserVersion string `json:"browserVersion"`
		} `json:"capabilities"`
	}
	f.must("session.new", map[string]any{"capabilities": map[string]any{}}, &session)
	f.must("session.subscribe", map[string]any{"events": []string{"log.entryAdded", "network.responseCompleted"}}, nil)
	// Content-Security-Policy violations reach no BiDi event: report them on
	// the console, where log.entryAdded sees them.
	f.must("script.addPreloadScript", map[string]any{"functionDeclaration": `() => {
		document.addEventListener("securitypolicyviolation", (e) => console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI));
	}`}, nil)
	t.Logf("Firefox %s started in %v", session.Capabilities.BrowserVersion, time.Since(started).Round(time.Millisecond))
	return f
}

// read dispatches answers to their callers and records events.
func (f *firefox) read() {
	for {
		_, data, err := f.conn.Read(context.Background())
		if err != nil {
			f.mu.Lock()
			for id, ch := range f.waiting {
				close(ch)
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			return
		}
		var m bidiMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.Type == "event" {
			f.event(m.Method, m.Params)
			continue
		}
		if m.ID == nil {
			continue
		}
		f.mu.Lock()
		ch := f.waiting[*m.ID]
		delete(f.waiting, *m.ID)
		f.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// event records what the console check needs: console errors, uncaught
// exceptions, failed sub-resources, and each document's status.
func (f *firefox) event(method string, params json.RawMessage) {
	switch method {
	case "log.entryAdded":
		var e struct {
			Level      string                   `json:"level"`
			Type       string                   `json:"type"`
			Text       string                   `json:"text"`
			Source     struct{ Context string } `json:"source"`
			StackTrace *struct {
				CallFrames []struct {
					URL        string `json:"url"`
					LineNumber int    `json:"lineNumber"`
				} `json:"callFrames"`
			} `json:"stackTrace"`
		}
		if json.Unmarshal(params, &e) != nil || e.Level != "error" {
			return
		}
		where := ""
		if e.StackTrace != nil && len(e.StackTrace.CallFrames) > 0 {
			where = fmt.Sprintf(" at %s:%d", e.StackTrace.CallFrames[0].URL, e.StackTrace.CallFrames[0].LineNumber+1)
		}
		f.problem(e.Source.Context, "%s error%s: %s", e.Type, where, e.Text)
	case "network.responseCompleted":
		var e struct {
			Context    string  `json:"context"`
			Navigation *string `json:"navigation"`
			Request    struct {
				URL         string `json:"url"`
				Destination string `json:"destination"`
			} `json:"request"`
			Response struct {
				Status int `json:"status"`
			} `json:"response"`
		}
		if json.Unmarshal(params, &e) != nil {
			return
		}
		if e.Navigation != nil || e.Request.Destination == "document" {
			f.mu.Lock()
			f.status[e.Context] = e.Response.Status
			f.mu.Unlock()
		} else if e.Response.Status >= 400 {
			f.problem(e.Context, "%s answered %d", e.Request.URL, e.Response.Status)
		}
	}
}

func (f *firefox) problem(context, format string, args ...any) {
	f.mu.Lock()
	f.problems[context] = append(f.problems[context], fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// call sends one command and decodes its result into out (if not nil).
func (f *firefox) call(ctx context.Context, method string, params, out any) error {
	ch := make(chan bidiMessage, 1)
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	f.waiting[id] = ch
	f.mu.Unlock()
	forget := func() { f.mu.Lock(); delete(f.waiting, id); f.mu.Unlock() }
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		forget()
		return err
	}
	if err := f.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		forget()
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: the connection to Firefox closed", method)
		}
		if m.Type == "error" {
			return fmt.Errorf("%s: %s: %s", method, m.Error, m.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// must is call with the step timeout, failing the test on an error.
func (f *firefox) must(method string, params, out any) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := f.call(ctx, method, params, out); err != nil {
		f.t.Fatalf("Firefox: %v", err)
	}
}

// ffTab is one person in Firefox: a tab in a user context of its own (own
// cookies), the Firefox counterpart of participant.
type ffTab struct {
	f      *firefox
	t      *testing.T
	who    string
	prefix string // of the screenshot files
	shots  string
	ctx    string // the browsing context id
}

// newTab opens a tab in a fresh user context, width × height CSS pixels.
func (f *firefox) newTab(who, prefix, shots string, width, height int) *ffTab {
	f.t.Helper()
	var uc struct {
		UserContext string `json:"userContext"`
	}
	f.must("browser.createUserContext", struct{}{}, &uc)
	var bc struct {
		Context string `json:"context"`
	}
	f.must("browsingContext.create", map[string]any{"type": "tab", "userContext": uc.UserContext}, &bc)
	p := &ffTab{f: f, t: f.t, who: who, prefix: prefix, shots: shots, ctx: bc.Context}
	// In front, as the tab a person looks at: Firefox throttles timers in
	// background tabs and keeps their media from starting.
	p.must("bring the tab to the front", "browsingContext.activate", map[string]any{}, nil)
	p.setViewport(width, height)
	return p
}

func (p *ffTab) must(what, method string, params map[string]any, out any) {
	p.t.Helper()
	params["context"] = p.ctx
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := p.f.call(ctx, method, params, out); err != nil {
		p.t.Fatalf("%s (Firefox): %s: %v", p.who, what, err)
	}
}

// navigate opens a URL, waits for the page to load, and checks it: the
// wanted HTTP status and nothing wrong in the console.
func (p *ffTab) navigate(u string, wantStatus int) {
	p.t.Helper()
	p.must("open "+u, "browsingContext.navigate", map[string]any{"url": u, "wait": "complete"}, nil)
	p.checkStatus("open "+u, wantStatus)
	p.checkConsole("open " + u)
}

// reload reloads the page and waits for it to load.
func (p *ffTab) reload() {
	p.t.Helper()
	p.must("reload", "browsingContext.reload", map[string]any{"wait": "complete"}, nil)
	p.checkStatus("reload", 200)
}

func (p *ffTab) checkStatus(what string, want int) {
	p.t.Helper()
	// The response event may trail the navigation's answer by a moment.
	deadline := time.Now().Add(2 * time.Second)
	got := 0
	for time.Now().Before(deadline) {
		p.f.mu.Lock()
		got = p.f.status[p.ctx]
		p.f.mu.Unlock()
		if got == want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.f.mu.Lock()
	delete(p.f.status, p.ctx)
	p.f.mu.Unlock()
	if got != want {
		p.t.Fatalf("%s (Firefox): %s: status %d, want %d", p.who, what, got, want)
	}
}

func (p *ffTab) setViewport(width, height int) {
	p.t.Helper()
	p.must("set the viewport", "browsingContext.setViewport",
		map[string]any{"viewport": map[string]int{"width": width, "height": height}}, nil)
}

// eval runs a JavaScript expression in the page (a promise is awaited) and
// decodes its value, passed through JSON, into out (if not nil).
func (p *ffTab) eval(what, expr string, out any) {
	p.t.Helper()
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	p.must(what, "script.evaluate", map[string]any{
		"expression":      "(async () => JSON.stringify(await (" + expr + ")) ?? 'null')()",
		"target":          map[string]string{"context": p.ctx},
		"awaitPromise":    true,
		"resultOwnership": "none",
	}, &res)
	if res.Type == "exception" {
		p.t.Fatalf("%s (Firefox): %s: %s", p.who, what, res.ExceptionDetails.Text)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res.Result.Value), out); err != nil {
			p.t.Fatalf("%s (Firefox): %s: decode %q: %v", p.who, what, res.Result.Value, err)
		}
	}
}

// waitJS polls a JavaScript condition until it is true.
func (p *ffTab) waitJS(what, cond string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		p.eval(what, "!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s (Firefox): %s: not within %v", p.who, what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks the element with the id as a person does: scrolled into
// view, a real mouse press and release at its centre (a user gesture, which
// browsers require before they play sound), and it must be the element
// there, not something covering it.
func (p *ffTab) click(id string) { p.t.Helper(); p.clickCSS("#" + id) }

// clickCSS is click for the first element matching a CSS selector.
func (p *ffTab) clickCSS(sel string) {
	p.t.Helper()
	var at struct{ X, Y float64 }
	q := jsQuote(sel)
	p.eval("find "+sel, `(() => {
		const e = document.querySelector(`+q+`); if (!e) throw new Error("no " + `+q+`);
		e.scrollIntoView({block: "center", inline: "center"});
		const r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		if (!hit || !(hit === e || e.contains(hit))) throw new Error(`+q+` + " is covered by " + (hit ? hit.outerHTML.slice(0, 80) : "nothing"));
		return {X: x, Y: y};
	})()`, &at)
	p.must("click "+sel, "input.performActions", map[string]any{"actions": []any{map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"},
		"actions": []any{
			map[string]any{"type": "pointerMove", "x": int(at.X), "y": int(at.Y)},
			map[string]any{"type": "pointerDown", "button": 0},
			map[string]any{"type": "pointerUp", "button": 0},
		},
	}}}, nil)
}

// text is an element's visible text, white space squashed.
func (p *ffTab) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval("read "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null; })()`, sel), &s)
	return squash(s)
}

// screenshot saves a full-page PNG named <prefix>-<step>.png.
func (p *ffTab) screenshot(step string) {
	p.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	p.must("screenshot "+step, "browsingContext.captureScreenshot", map[string]any{"origin": "document"}, &res)
	buf, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, p.prefix+"-"+step+".png"), buf, 0o644); err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	p.checkConsole(step)
}

// checkConsole fails the test on what the tab reported since the last check.
func (p *ffTab) checkConsole(when string) {
	p.t.Helper()
	p.f.mu.Lock()
	got := p.f.problems[p.ctx]
	delete(p.f.problems, p.ctx)
	p.f.mu.Unlock()
	for _, m := range got {
		p.t.Errorf("%s (Firefox), %s: %s", p.who, when, m)
	}
}

// jsQuote is s as a JavaScript string literal.
func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
