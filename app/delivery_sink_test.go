package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"daraport/store"
)

// smtpSink is a real SMTP server (go-smtp) on 127.0.0.1 that records what
// it accepts and can refuse, require AUTH and STARTTLS, or hold messages.
type smtpSink struct {
	t    testing.TB
	addr string
	port int
	tls  *tls.Config // STARTTLS offered (or implicit TLS with implicitTLS)

	implicitTLS bool
	user, pass  string // AUTH required when set
	loginOnly   bool   // offer AUTH LOGIN only (not PLAIN)
	keep        bool   // keep the accepted messages' bytes

	mu       sync.Mutex
	srv      *smtp.Server
	accepted [][]byte
	rcpts    []string
	ids      map[string]int // Message-ID → accepted copies
	usedTLS  []bool

	count    atomic.Int64 // accepted messages
	attempts atomic.Int64 // DATA commands completed (accepted or not)
	sessions atomic.Int32 // open sessions
	opened   atomic.Int64 // sessions ever opened
	// reply decides the answer to the n-th DATA (0-based); nil accepts.
	reply func(n int64) error
	// holdAfter: once this many messages were accepted, DATA blocks until
	// unhold is closed, then refuses (451): a message the server never
	// accepted. 0: never hold.
	holdAfter atomic.Int64
	holding   atomic.Int32
	unhold    chan struct{}
}

func newSMTPSink(t testing.TB, configure func(*smtpSink)) *smtpSink {
	k := &smtpSink{t: t, ids: map[string]int{}, unhold: make(chan struct{})}
	if configure != nil {
		configure(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	k.port = ln.Addr().(*net.TCPAddr).Port
	k.serve(ln)
	t.Cleanup(func() {
		k.unholdAll()
		k.stop()
	})
	return k
}

func (k *smtpSink) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		k.sessions.Add(1)
		k.opened.Add(1)
		_, isTLS := c.TLSConnectionState()
		return &sinkSession{k: k, tls: isTLS}, nil
	}))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = k.tls == nil
	srv.ErrorLog = discardLogger{}
	if k.tls != nil && !k.implicitTLS {
		srv.TLSConfig = k.tls
	}
	if k.implicitTLS {
		ln = tls.NewListener(ln, k.tls)
	}
	k.mu.Lock()
	k.srv = srv
	k.mu.Unlock()
	go srv.Serve(ln)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// stop closes the server and every connection: the server is down.
func (k *smtpSink) stop() {
	k.mu.Lock()
	srv := k.srv
	k.srv = nil
	k.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart listens again on the same port.
func (k *smtpSink) restart() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", k.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		k.t.Fatal(err)
	}
	k.serve(ln)
}

func (k *smtpSink) unholdAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-k.unhold:
	default:
		close(k.unhold)
	}
}

// copies returns how many times each Message-ID was accepted.
func (k *smtpSink) copies() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int, len(k.ids))
	for id, n := range k.ids {
		out[id] = n
	}
	return out
}

// last returns the newest accepted message and its recipient.
func (k *smtpSink) last(t testing.TB) ([]byte, string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.accepted) == 0 {
		t.Fatal("the SMTP server accepted no message")
	}
	return k.accepted[len(k.accepted)-1], k.rcpts[len(k.rcpts)-1]
}

type sinkSession struct {
	k    *smtpSink
	tls  bool
	auth bool
	to   string
}

func (s *sinkSession) AuthMechanisms() []string {
	if s.k.user == "" {
		return nil
	}
	if s.k.loginOnly {
		return []string{sasl.Login}
	}
	return []string{sasl.Plain}
}

func (s *sinkSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.k.user || pass != s.k.pass {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *sinkSession) Reset()        { s.to = "" }
func (s *sinkSession) Logout() error { s.k.sessions.Add(-1); return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.k.user != "" && !s.auth {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	k := s.k
	n := k.attempts.Add(1) - 1
	if h := k.holdAfter.Load(); h > 0 && k.count.Load() >= h {
		k.holding.Add(1)
		<-k.unhold
		k.holding.Add(-1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "held, try later"}
	}
	if k.reply != nil {
		if err := k.reply(n); err != nil {
			return err
		}
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.ids[h.Get("Message-Id")]++
	if k.keep {
		k.accepted = append(k.accepted, data)
		k.rcpts = append(k.rcpts, s.to)
		k.usedTLS = append(k.usedTLS, s.tls)
	}
	k.mu.Unlock()
	k.count.Add(1)
	return nil
}

// smtpReply builds an SMTP error reply.
func smtpReply(code int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
}

// useSink points the configuration at k (plain SMTP unless k has TLS).
func useSink(k *smtpSink) func(*Config) {
	return func(c *Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.Security = "127.0.0.1", k.port, "none"
		c.SMTP.Timeout = Duration{5 * time.Second}
	}
}

// runWorker starts the server's outbox worker for the test.
func (ts *testServer) runWorker(t testing.TB) {
	stop := ts.srv.startDelivery(context.Background())
	t.Cleanup(stop)
}

// enqueueMail writes a queued e-mail row and returns it.
func (ts *testServer) enqueueMail(t testing.TB, m *store.OutboxMessage) *store.OutboxMessage {
	t.Helper()
	if m.State == "" {
		m.State = ts.srv.outboxState(m.Kind)
	}
	ctx := context.Background()
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.Enqueue(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// outboxRow reads a row back.
func (ts *testServer) outboxRow(t testing.TB, id string) *store.OutboxMessage {
	t.Helper()
	m, err := ts.db.FindOutboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor polls cond for up to 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until the row reaches state.
func (ts *testServer) waitState(t testing.TB, id, state string) *store.OutboxMessage {
	t.Helper()
	var m *store.OutboxMessage
	waitFor(t, "outbox "+id+" "+state, func() bool {
		m = ts.outboxRow(t, id)
		return m.State == state
	})
	return m
}

// waitAttempts waits until the row has had n attempts.
func (ts *testServer) waitAttempts(t testing.TB, id string, n int) *store.OutboxMessage {
	t.Helper()
	var m *store.OutboxMessage
	waitFor(t, "outbox "+id+" attempt "+strconv.Itoa(n), func() bool {
		m = ts.outboxRow(t, id)
		return m.Attempts >= n && m.State != store.OutboxSending
	})
	return m
}

// later moves the clock past the next retry and wakes the worker.
func (ts *testServer) later(d time.Duration) {
	ts.clock.Advance(d)
	ts.srv.wakeDelivery()
}

// loginServer is the server side of AUTH LOGIN (go-sasl has only the client).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // an initial response is the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(response))
}
