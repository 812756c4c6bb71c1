package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"daraport/store"
)

// tlsSink is a sink offering STARTTLS (or implicit TLS) with a test
// certificate for 127.0.0.1 and requiring AUTH; caFile is that certificate.
func tlsSink(t *testing.T, implicit bool) (k *smtpSink, caFile string) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	k = newSMTPSink(t, func(k *smtpSink) {
		k.keep, k.user, k.pass = true, "clinic", "s3cret-pass"
		k.tls, k.implicitTLS = &tls.Config{Certificates: []tls.Certificate{cert}}, implicit
	})
	return k, certFile
}

func TestDeliverySTARTTLSAuth(t *testing.T) {
	t.Parallel()
	for _, implicit := range []bool{false, true} {
		name := map[bool]string{false: "STARTTLS", true: "ImplicitTLS"}[implicit]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k, ca := tlsSink(t, implicit)
			ts := newTestServer(t, func(c *Config) {
				useSink(k)(c)
				c.SMTP.Security = map[bool]string{false: "starttls", true: "tls"}[implicit]
				c.SMTP.CAFile, c.SMTP.Username, c.SMTP.Password = ca, "clinic", "s3cret-pass"
			})
			ts.runWorker(t)
			m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "Over TLS", TextBody: "x"})
			ts.waitState(t, m.ID, store.OutboxSent)
			k.mu.Lock()
			usedTLS := k.usedTLS[len(k.usedTLS)-1]
			k.mu.Unlock()
			if !usedTLS {
				t.Errorf("the message travelled in clear")
			}
		})
	}
	t.Run("LoginMechanism", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile, _ := selfSigned(t, t.TempDir())
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		k := newSMTPSink(t, func(k *smtpSink) {
			k.user, k.pass, k.loginOnly = "clinic", "s3cret-pass", true
			k.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
		})
		ts := newTestServer(t, func(c *Config) {
			useSink(k)(c)
			c.SMTP.Security, c.SMTP.CAFile, c.SMTP.Username, c.SMTP.Password = "starttls", certFile, "clinic", "s3cret-pass"
		})
		ts.runWorker(t)
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
		ts.waitState(t, m.ID, store.OutboxSent)
	})
	t.Run("ErrUnknownCertificate", func(t *testing.T) {
		t.Parallel()
		k, _ := tlsSink(t, false)
		ts := newTestServer(t, func(c *Config) {
			useSink(k)(c)
			c.SMTP.Security, c.SMTP.Username, c.SMTP.Password = "starttls", "clinic", "s3cret-pass"
		})
		ts.runWorker(t)
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
		got := ts.waitAttempts(t, m.ID, 1)
		if got.State != store.OutboxQueued || !strings.Contains(got.LastError, "certificate") || k.count.Load() != 0 {
			t.Errorf("unverified certificate: state %s, error %q, delivered %d", got.State, got.LastError, k.count.Load())
		}
	})
}

func TestDeliveryWrongPassword(t *testing.T) {
	t.Parallel()
	k, ca := tlsSink(t, false)
	ts := newTestServer(t, func(c *Config) {
		useSink(k)(c)
		c.SMTP.Security, c.SMTP.CAFile, c.SMTP.Username, c.SMTP.Password = "starttls", ca, "clinic", "wrong-password"
		c.Delivery.RetryFor = Duration{time.Hour}
	})
	ts.runWorker(t)
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
	got := ts.waitAttempts(t, m.ID, 1)
	// A bad password is the operator's to fix: retried, not dropped at once.
	if got.State != store.OutboxQueued || !strings.Contains(got.LastError, "535") || !strings.Contains(got.LastError, "auth") {
		t.Fatalf("after a refused login: state %s, error %q", got.State, got.LastError)
	}
	if strings.Contains(got.LastError, "wrong-password") {
		t.Errorf("the password shows in the error")
	}
	// The policy (delivery.retry_for = 1h) runs out: failed for good.
	for i := 2; ; i++ {
		ts.later(20 * time.Minute)
		got = ts.waitAttempts(t, m.ID, i)
		if got.State == store.OutboxFailed {
			break
		}
		if i > 10 {
			t.Fatalf("still %s after %d attempts", got.State, i)
		}
	}
	if !strings.Contains(got.LastError, "gave up after") || k.count.Load() != 0 {
		t.Errorf("final error %q, delivered %d", got.LastError, k.count.Load())
	}
	attempts := got.Attempts
	ts.later(2 * time.Hour)
	time.Sleep(100 * time.Millisecond)
	if n := ts.outboxRow(t, m.ID).Attempts; n != attempts {
		t.Errorf("a failed message was tried again (%d → %d attempts)", attempts, n)
	}

	// The admin sees it, with the error and a retry button, and the test
	// e-mail shows the conversation's error without the password.
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, admin)
	res := ts.get(t, c, "/admin/outbox?state=failed")
	if !strings.Contains(res.Body, "/admin/outbox/"+m.ID) || !strings.Contains(res.Body, "535") ||
		!strings.Contains(res.Body, `action="/admin/outbox/`+m.ID+`/retry"`) || !strings.Contains(res.Body, ts.text(t, "en", "delivery.failed_banner", "Count", 1)) {
		t.Errorf("the failed message is not shown to the admin:\n%s", res.Body)
	}
	res = ts.post(t, c, "/admin/outbox/test", url.Values{"to": {"admin@example.org"}})
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Body, "535") || !strings.Contains(res.Body, "STARTTLS") || strings.Contains(res.Body, "wrong-password") {
		t.Errorf("test e-mail with a bad password: %d\n%s", res.StatusCode, res.Body)
	}
}

func TestDeliveryServerDownThenUp(t *testing.T) {
	t.Parallel()
	k := newSMTPSink(t, nil)
	ts := newTestServer(t, useSink(k))
	k.stop()
	ts.runWorker(t)
	var ids []string
	for i := range 30 {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "p" + string(rune('a'+i%26)) + "@example.org", Subject: "S", TextBody: "x"})
		ids = append(ids, m.ID)
	}
	for _, id := range ids {
		got := ts.waitAttempts(t, id, 1)
		if got.State != store.OutboxQueued || !strings.Contains(got.LastError, "connect") {
			t.Fatalf("server down: state %s, error %q", got.State, got.LastError)
		}
	}
	ts.later(40 * time.Second) // a second failed round
	for _, id := range ids {
		ts.waitAttempts(t, id, 2)
	}
	k.restart()
	ts.later(2 * time.Minute)
	for _, id := range ids {
		ts.waitState(t, id, store.OutboxSent)
	}
	copies := k.copies()
	if len(copies) != len(ids) {
		t.Errorf("%d distinct messages received, want %d", len(copies), len(ids))
	}
	// Connections are reused: at most smtp.max_connections for 30 messages.
	if n := k.opened.Load(); n < 1 || n > int64(ts.cfg.SMTP.MaxConnections) {
		t.Errorf("%d SMTP connections for %d messages (max_connections %d)", n, len(ids), ts.cfg.SMTP.MaxConnections)
	}
	for id, n := range copies {
		if n != 1 {
			t.Errorf("%s received %d times", id, n)
		}
	}
}

func TestDeliveryGreylisted(t *testing.T) {
	t.Parallel()
	k := newSMTPSink(t, func(k *smtpSink) {
		k.reply = func(n int64) error {
			if n < 3 {
				return smtpReply(451, "greylisted, try again later")
			}
			return nil
		}
	})
	ts := newTestServer(t, useSink(k))
	ts.runWorker(t)
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
	for i := 1; i <= 3; i++ {
		got := ts.waitAttempts(t, m.ID, i)
		if got.State != store.OutboxQueued || !strings.Contains(got.LastError, "451") {
			t.Fatalf("attempt %d: state %s error %q", i, got.State, got.LastError)
		}
		// Jitter is ±15 %; the row is read a moment after it was written,
		// longer on a loaded machine, hence the wider lower bound.
		wait := got.NextAttemptAt.Sub(ts.srv.clock())
		if want := retrySteps[i-1]; wait < want*70/100 || wait > want*120/100 {
			t.Errorf("attempt %d: next in %v, want about %v", i, wait, want)
		}
		ts.later(got.NextAttemptAt.Sub(ts.srv.clock()) + time.Second)
	}
	got := ts.waitState(t, m.ID, store.OutboxSent)
	if got.Attempts != 4 || k.count.Load() != 1 || k.copies()[m.MessageID] != 1 {
		t.Errorf("attempts %d, accepted %d", got.Attempts, k.count.Load())
	}
}

func TestDeliveryRejected(t *testing.T) {
	t.Parallel()
	var reject atomic.Bool
	reject.Store(true)
	k := newSMTPSink(t, func(k *smtpSink) {
		k.reply = func(int64) error {
			if reject.Load() {
				return smtpReply(550, "no such user")
			}
			return nil
		}
	})
	ts := newTestServer(t, useSink(k))
	ts.runWorker(t)
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "nobody@example.org", Subject: "S", TextBody: "x"})
	got := ts.waitState(t, m.ID, store.OutboxFailed)
	if got.Attempts != 1 || !strings.Contains(got.LastError, "550") {
		t.Errorf("after 550: attempts %d error %q", got.Attempts, got.LastError)
	}
	ts.later(24 * time.Hour)
	// The connection is still good after the refusal: the next message goes out.
	reject.Store(false)
	m2 := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
	ts.waitState(t, m2.ID, store.OutboxSent)
	if got := ts.outboxRow(t, m.ID); got.Attempts != 1 || got.State != store.OutboxFailed {
		t.Errorf("a 550 was retried: %d attempts, %s", got.Attempts, got.State)
	}
	if k.attempts.Load() != 2 {
		t.Errorf("%d DATA commands, want 2", k.attempts.Load())
	}

	// Retry now (admin) queues it again at once.
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, admin)
	res := ts.post(t, c, "/admin/outbox/"+m.ID+"/retry", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d %s", res.StatusCode, res.Body)
	}
	got = ts.waitState(t, m.ID, store.OutboxSent)
	if got.Attempts != 1 {
		t.Errorf("after retry now: %d attempts", got.Attempts)
	}
	if res := ts.post(t, c, "/admin/outbox/"+m.ID+"/retry", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("retrying a sent message: %d", res.StatusCode)
	}
	entries, err := ts.db.FindAudit(context.Background(), store.AuditFilter{Action: "admin.outbox_retry"})
	if err != nil || len(entries) != 1 || entries[0].ObjectID != m.ID {
		t.Errorf("retry not audited: %v %v", entries, err)
	}

	// "Retry all failed" does the same for every failed message.
	reject.Store(true)
	var failed []string
	for range 3 {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "nobody@example.org", Subject: "S", TextBody: "x"})
		ts.waitState(t, m.ID, store.OutboxFailed)
		failed = append(failed, m.ID)
	}
	reject.Store(false)
	if res := ts.post(t, c, "/admin/outbox/retry-failed", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry all: %d", res.StatusCode)
	}
	for _, id := range failed {
		ts.waitState(t, id, store.OutboxSent)
	}
	entries, err = ts.db.FindAudit(context.Background(), store.AuditFilter{Action: "admin.outbox_retry_failed"})
	if err != nil || len(entries) != 1 || entries[0].Detail != "3" {
		t.Errorf("retry all not audited: %v %v", entries, err)
	}
}

func TestDeliveryTestEmail(t *testing.T) {
	t.Parallel()
	var deny atomic.Bool
	k := newSMTPSink(t, func(k *smtpSink) {
		k.keep = true
		k.reply = func(int64) error {
			if deny.Load() {
				return smtpReply(554, "relay denied")
			}
			return nil
		}
	})
	ts := newTestServer(t, useSink(k))
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.clientLang(t, "fr")
	ts.login(t, c, admin)
	res := ts.get(t, c, "/admin/outbox")
	if !strings.Contains(res.Body, `action="/admin/outbox/test"`) {
		t.Fatalf("no test e-mail button")
	}
	res = ts.post(t, c, "/admin/outbox/test", url.Values{"to": {"ops@example.org"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, ts.text(t, "en", "delivery.test.ok", "To", "ops@example.org")) || !strings.Contains(res.Body, "250") {
		t.Fatalf("test e-mail: %d\n%s", res.StatusCode, res.Body)
	}
	raw, rcpt := k.last(t)
	if p := parseMail(t, raw); rcpt != "ops@example.org" || mustSubject(p) != ts.text(t, "en", "delivery.test.subject", "Brand", "Daraport") {
		t.Errorf("test e-mail: rcpt %q subject %q", rcpt, mustSubject(p))
	}
	for _, bad := range []string{"a@example.org, b@example.org", "x\r\nBcc: y@example.org", "nope"} {
		if res := ts.post(t, c, "/admin/outbox/test", url.Values{"to": {bad}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("test e-mail to %q: %d", bad, res.StatusCode)
		}
	}
	deny.Store(true)
	res = ts.post(t, c, "/admin/outbox/test", nil)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Body, "554") || !strings.Contains(res.Body, "relay denied") {
		t.Errorf("failed test e-mail: %d\n%s", res.StatusCode, res.Body)
	}
}

func mustSubject(p *parsedMail) string {
	s, _ := p.Header.Subject()
	return s
}

func TestDeliverySMSGateway(t *testing.T) {
	t.Parallel()
	type smsReq struct {
		Query, Auth, ContentType string
		Body                     map[string]string
	}
	var mu sync.Mutex
	var got []smsReq
	var status atomic.Int32
	status.Store(http.StatusCreated)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("gateway got invalid JSON %q: %v", b, err)
		}
		mu.Lock()
		got = append(got, smsReq{r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		mu.Unlock()
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(gw.Close)
	ts := newTestServer(t, func(c *Config) {
		c.SMS = SMSConfig{URL: gw.URL + "/send?to={{to}}", Method: "POST", Headers: []string{"Authorization: Bearer gw-key"},
			ContentType: "application/json", Body: `{"to":"{{to}}","text":"{{text}}"}`, SuccessStatus: 201}
	})
	ts.runWorker(t)
	text := "Rappel : rendez-vous demain 9h30 \"Dr Dupré\"\nhttps://rdv.example/v/abc?x=1&y=2"
	m := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxSMS, To: "+33612345678", TextBody: text})
	ts.waitState(t, m.ID, store.OutboxSent)
	mu.Lock()
	r := got[0]
	mu.Unlock()
	if r.Query != "to=%2B33612345678" || r.Auth != "Bearer gw-key" || r.ContentType != "application/json" || r.Body["to"] != "+33612345678" || r.Body["text"] != text {
		t.Errorf("gateway request %+v", r)
	}
	bad := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxSMS, To: "06 12 34 56 78", TextBody: "x"})
	if g := ts.waitState(t, bad.ID, store.OutboxFailed); g.Attempts != 1 {
		t.Errorf("bad number: %d attempts", g.Attempts)
	}
	status.Store(http.StatusServiceUnavailable)
	m = ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxSMS, To: "+4915112345678", TextBody: "x"})
	g := ts.waitAttempts(t, m.ID, 1)
	if g.State != store.OutboxQueued || !strings.Contains(g.LastError, "503") {
		t.Errorf("gateway 503: %s %q", g.State, g.LastError)
	}
	status.Store(http.StatusCreated)
	ts.later(time.Minute)
	ts.waitState(t, m.ID, store.OutboxSent)

	// Without a gateway, SMS stay held in the outbox.
	off := newTestServer(t, nil)
	if st := off.srv.outboxState(store.OutboxSMS); st != store.OutboxHeld {
		t.Errorf("SMS without gateway start %q", st)
	}
}

func TestDeliveryWebhook(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var mu sync.Mutex
	var sig, ctype, body string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sig, ctype, body = r.Header.Get("X-Daraport-Signature"), r.Header.Get("Content-Type"), string(b)
		mu.Unlock()
		switch {
		case r.URL.Path == "/gone":
			w.WriteHeader(http.StatusGone)
		case r.URL.Path == "/busy":
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusTooManyRequests)
		case n == 1:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(recv.Close)
	ts := newTestServer(t, func(c *Config) { c.Delivery.AllowPrivateWebhooks = true })
	ts.runWorker(t)
	payload := `{"type":"appointment.created","id":"a1"}`
	m := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxWebhook, To: recv.URL + "/hook", TextBody: payload,
		Headers: map[string]string{"X-Daraport-Signature": "sha256=abc", "Host": "evil.example", "Content-Type": "text/plain"}})
	g := ts.waitAttempts(t, m.ID, 1)
	if g.State != store.OutboxQueued || !strings.Contains(g.LastError, "500") {
		t.Fatalf("after 500: %s %q", g.State, g.LastError)
	}
	ts.later(time.Minute)
	g = ts.waitState(t, m.ID, store.OutboxSent)
	mu.Lock()
	if g.Attempts != 2 || sig != "sha256=abc" || ctype != "application/json" || body != payload {
		t.Errorf("webhook: attempts %d sig %q type %q body %q", g.Attempts, sig, ctype, body)
	}
	mu.Unlock()

	gone := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxWebhook, To: recv.URL + "/gone", TextBody: payload})
	g = ts.waitState(t, gone.ID, store.OutboxFailed)
	before := calls.Load()
	ts.later(time.Hour)
	time.Sleep(100 * time.Millisecond)
	if g.Attempts != 1 || !strings.Contains(g.LastError, "410") || calls.Load() != before {
		t.Errorf("410: attempts %d error %q, calls after %d → %d", g.Attempts, g.LastError, before, calls.Load())
	}
	busy := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxWebhook, To: recv.URL + "/busy", TextBody: payload})
	g = ts.waitAttempts(t, busy.ID, 1)
	if wait := g.NextAttemptAt.Sub(ts.srv.clock()); g.State != store.OutboxQueued || wait < 9*time.Minute || wait > 10*time.Minute {
		t.Errorf("429 with Retry-After 600: %s, next in %v", g.State, wait)
	}
	for _, to := range []string{"ftp://example.org/x", "file:///etc/passwd", "/relative"} {
		bad := ts.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxWebhook, To: to, TextBody: payload})
		ts.waitState(t, bad.ID, store.OutboxFailed)
	}

	// By default a webhook may not reach loopback or private addresses.
	strict := newTestServer(t, nil)
	strict.runWorker(t)
	calls.Store(0)
	m = strict.enqueueMail(t, &store.OutboxMessage{Kind: store.OutboxWebhook, To: recv.URL + "/hook", TextBody: payload})
	g = strict.waitState(t, m.ID, store.OutboxFailed)
	if calls.Load() != 0 || !strings.Contains(g.LastError, "not a public address") {
		t.Errorf("loopback webhook: calls %d error %q", calls.Load(), g.LastError)
	}
}

// TestDeliveryGracefulStop: stopping the worker lets the message in flight
// finish and be recorded; claimed messages not started go back to the queue.
func TestDeliveryGracefulStop(t *testing.T) {
	t.Parallel()
	inData := make(chan struct{}, 10)
	k := newSMTPSink(t, func(k *smtpSink) {
		k.reply = func(int64) error {
			inData <- struct{}{}
			time.Sleep(300 * time.Millisecond)
			return nil
		}
	})
	ts := newTestServer(t, func(c *Config) {
		useSink(k)(c)
		c.SMTP.MaxConnections = 1
	})
	var ids []string
	for range 5 {
		ids = append(ids, ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"}).ID)
	}
	stop := ts.srv.startDelivery(context.Background())
	<-inData
	stop()
	counts, err := ts.db.CountOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.OutboxSent] != 1 || counts[store.OutboxQueued] != 4 || counts[store.OutboxSending] != 0 || k.count.Load() != 1 {
		t.Errorf("after stop: %v, accepted %d", counts, k.count.Load())
	}
	// Started again, it sends the rest.
	go func() {
		for range inData {
		}
	}()
	ts.runWorker(t)
	for _, id := range ids {
		ts.waitState(t, id, store.OutboxSent)
	}
	close(inData)
}

// TestDeliveryTimeout: a server that accepts the connection but never
// answers costs smtp.timeout, and the message is retried later.
func TestDeliveryTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // silent: no greeting
		}
	}()
	ts := newTestServer(t, func(c *Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.Security = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, "none"
		c.SMTP.Timeout = Duration{time.Second}
	})
	ts.runWorker(t)
	start := time.Now()
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x"})
	got := ts.waitAttempts(t, m.ID, 1)
	if got.State != store.OutboxQueued || !strings.Contains(got.LastError, "timeout") {
		t.Errorf("silent server: %s %q", got.State, got.LastError)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the timeout took %v", d)
	}
}
