package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"daraport/app/mail"
	"daraport/store"
)

// The outbox worker. Every e-mail, SMS and webhook is a row written in the
// transaction of the change that causes it (store.Enqueue); this worker
// delivers them:
//
//   - a dispatcher claims due rows in small batches (one short write
//     transaction each: state "sending" with a lease), so 10,000 due rows
//     never sit in memory at once;
//   - smtp.max_connections senders each hold one SMTP connection and send
//     message after message over it; four HTTP senders carry SMS and
//     webhooks;
//   - a sender records each outcome as soon as it learns it, in a group
//     commit shared with the other senders (the recorder), and only then
//     takes its next message: a crash can leave at most the messages in
//     flight unrecorded, and those were not yet accepted, or had just been
//     (the stable Message-ID lets the receiving side recognise that copy);
//   - at start, rows left "sending" by a crash go back to the queue.
//
// Retries follow DESIGN §5: about 15 s, 30 s, 1 min, 2 min, 5 min, then
// doubling up to 1 h, with jitter, for delivery.retry_for (3 days).

const (
	deliveryBatch    = 50               // rows claimed per transaction
	deliveryLease    = 15 * time.Minute // a claimed row's lease
	deliveryTick     = 15 * time.Second // look for due rows at least this often
	deliveryIdle     = 10 * time.Second // an idle SMTP connection is closed after this
	deliveryPerConn  = 100              // messages per SMTP connection before a fresh one
	deliveryHTTPConc = 4                // SMS and webhook senders
	maxLastError     = 500
)

// retrySteps is the start of the backoff; after it the delay doubles up to an hour.
var retrySteps = []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}

// retryDelay is the wait after the failed attempt number n (0 for the
// first), with ±15 % jitter so messages failing together spread out.
func retryDelay(n int) time.Duration {
	var d time.Duration
	if n < len(retrySteps) {
		d = retrySteps[n]
	} else {
		d = retrySteps[len(retrySteps)-1]
		for i := len(retrySteps) - 1; i < n && d < time.Hour; i++ {
			d *= 2
		}
		d = min(d, time.Hour)
	}
	return time.Duration(float64(d) * (0.85 + 0.3*rand.Float64()))
}

// delivery is the worker's configuration and state.
type delivery struct {
	s    *Server
	wake chan struct{}
	smtp *mail.Config
	from *netmail.Address
	dkim *mail.DKIM
	http *httpSenders
	// results carries outcomes to the recorder while the worker runs.
	results chan recordReq
	mu      sync.Mutex
	run     bool
}

// newDelivery prepares the transports from the configuration: the extra CA
// and the DKIM key (created in the data directory when missing) are read
// now, so a bad file stops start-up.
func newDelivery(s *Server) (*delivery, error) {
	cfg := s.cfg
	d := &delivery{s: s, wake: make(chan struct{}, 1)}
	from, err := netmail.ParseAddress(cfg.SMTP.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from: %w", err)
	}
	d.from = from
	d.smtp = &mail.Config{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Security: cfg.SMTP.Security,
		Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, Timeout: cfg.SMTP.Timeout.Duration, HelloName: helloName(from)}
	if cfg.SMTP.CAFile != "" {
		pem, err := os.ReadFile(cfg.SMTP.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp.ca_file: %s holds no PEM certificate", cfg.SMTP.CAFile)
		}
		d.smtp.RootCAs = pool
	}
	if cfg.SMTP.DKIMDomain != "" {
		path := cfg.SMTP.DKIMKeyFile
		if path == "" {
			path = filepath.Join(cfg.Server.DataDir, "dkim.key")
		}
		key, err := mail.LoadDKIMKey(path)
		if err != nil {
			return nil, fmt.Errorf("smtp.dkim_key_file: %w", err)
		}
		d.dkim = &mail.DKIM{Domain: cfg.SMTP.DKIMDomain, Selector: cfg.SMTP.DKIMSelector, Key: key}
	}
	d.http = newHTTPSenders(cfg)
	return d, nil
}

// helloName is the name given in EHLO: this machine's name when it is a
// full domain name, else the sender's domain.
func helloName(from *netmail.Address) string {
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		return h
	}
	if _, dom, ok := strings.Cut(from.Address, "@"); ok && dom != "" {
		return dom
	}
	return "localhost"
}

// outboxState is the state a new outbox row of kind starts in: held when
// its transport is not configured (no smtp.host, no sms.url), so it waits
// in the admin's viewer instead of the queue.
func (s *Server) outboxState(kind string) string {
	switch kind {
	case store.OutboxEmail, "":
		if s.cfg.SMTP.Host == "" {
			return store.OutboxHeld
		}
	case store.OutboxSMS:
		if s.cfg.SMS.URL == "" {
			return store.OutboxHeld
		}
	}
	return store.OutboxQueued
}

// kinds are the outbox kinds whose transport is configured.
func (d *delivery) kinds() []string {
	k := []string{store.OutboxWebhook}
	if d.s.cfg.SMTP.Host != "" {
		k = append(k, store.OutboxEmail)
	}
	if d.s.cfg.SMS.URL != "" {
		k = append(k, store.OutboxSMS)
	}
	return k
}

// wakeDelivery asks the worker to look for due rows now. It never blocks.
func (s *Server) wakeDelivery() {
	if s.dlv == nil {
		return
	}
	select {
	case s.dlv.wake <- struct{}{}:
	default:
	}
}

// claimed is a row in the worker's hands.
type claimed struct {
	m  *store.OutboxMessage
	at time.Time // when it was claimed (real time)
}

// startDelivery starts the worker and returns the function that stops it:
// no new message is started, each sender finishes the one in flight and
// records it, rows claimed but not started go back to the queue.
func (s *Server) startDelivery(ctx context.Context) (stop func()) {
	d := s.dlv
	d.mu.Lock()
	if d.run {
		d.mu.Unlock()
		return func() {}
	}
	d.run = true
	d.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	s.db.OnOutbox(s.wakeDelivery)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.loop(ctx)
	}()
	return func() {
		cancel()
		<-done
		s.db.OnOutbox(nil)
		d.mu.Lock()
		d.run = false
		d.mu.Unlock()
	}
}

func (d *delivery) loop(ctx context.Context) {
	log := d.s.log
	bg := context.WithoutCancel(ctx)
	if n, err := d.s.db.RequeueOutbox(bg, true); err != nil {
		log.Error("outbox: requeue at start", "err", err)
	} else if n > 0 {
		log.Warn("outbox: messages interrupted by a stop or crash are queued again", "count", n)
	}
	emailCh, httpCh := make(chan claimed), make(chan claimed)
	d.results = make(chan recordReq, 64)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.recorder(bg)
	}()
	var wg sync.WaitGroup
	for range d.s.cfg.SMTP.MaxConnections {
		wg.Go(func() { d.emailSender(bg, emailCh) })
	}
	for range deliveryHTTPConc {
		wg.Go(func() { d.httpSender(bg, httpCh) })
	}
	lastRequeue := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		if time.Since(lastRequeue) > time.Minute {
			lastRequeue = time.Now()
			if _, err := d.s.db.RequeueOutbox(bg, false); err != nil {
				log.Error("outbox: requeue expired leases", "err", err)
			}
		}
		kinds := d.kinds()
		batch, err := d.s.db.ClaimOutbox(bg, kinds, deliveryBatch, deliveryLease)
		if err != nil {
			log.Error("outbox: claim", "err", err)
			d.sleep(ctx, timer, time.Second)
			continue
		}
		if len(batch) == 0 {
			wait := deliveryTick
			if next, ok, err := d.s.db.NextOutboxDue(bg, kinds); err == nil && ok {
				wait = min(wait, max(next.Sub(d.s.clock())+50*time.Millisecond, 10*time.Millisecond))
			}
			d.sleep(ctx, timer, wait)
			continue
		}
		now := time.Now()
		for i, m := range batch {
			ch := httpCh
			if m.Kind == store.OutboxEmail {
				ch = emailCh
			}
			select {
			case ch <- claimed{m, now}:
				continue
			case <-ctx.Done():
			}
			d.release(bg, batch[i:])
			break
		}
	}
	close(emailCh)
	close(httpCh)
	wg.Wait()
	close(d.results)
	<-recorded
}

// sleep waits for wait, a wake-up or the end of ctx.
func (d *delivery) sleep(ctx context.Context, timer *time.Timer, wait time.Duration) {
	timer.Reset(wait)
	select {
	case <-timer.C:
	case <-d.wake:
	case <-ctx.Done():
	}
}

func (d *delivery) release(ctx context.Context, ms []*store.OutboxMessage) {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	if err := d.s.db.Update(ctx, func(tx *store.Tx) error { return tx.ReleaseOutbox(ctx, ids) }); err != nil {
		d.s.log.Error("outbox: release", "err", err)
	}
}

// fresh reports whether a claimed row is still safely ours: a row that
// waited most of its lease goes back rather than risk a second worker.
func (c claimed) fresh() bool { return time.Since(c.at) < deliveryLease-2*time.Minute }

// emailSender sends e-mail over one SMTP connection at a time, reused for
// successive messages and closed when idle.
func (d *delivery) emailSender(ctx context.Context, ch <-chan claimed) {
	var conn *mail.Conn
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return
			}
			if !c.fresh() {
				d.release(ctx, []*store.OutboxMessage{c.m})
				continue
			}
			var err error
			conn, err = d.sendEmail(ctx, conn, c.m, nil)
			d.record(ctx, c.m, err)
			idle.Reset(deliveryIdle)
		case <-idle.C:
			if conn != nil {
				conn.Close()
				conn = nil
			}
		}
	}
}

// sendEmail builds and sends m over conn (dialling when conn is nil, broken
// or used enough) and returns the connection to use next. A reused
// connection that turns out dead before the message started (the server
// closed it while idle) is replaced once.
func (d *delivery) sendEmail(ctx context.Context, conn *mail.Conn, m *store.OutboxMessage, transcript *limitedBuffer) (*mail.Conn, error) {
	data, env, err := mail.Build(&mail.Message{From: d.from, To: m.To, Subject: m.Subject, Text: m.TextBody, HTML: m.HTMLBody,
		ICS: m.ICS, Headers: m.Headers, MessageID: m.MessageID, Date: d.s.clock()}, d.dkim)
	if err != nil {
		return conn, err
	}
	for try := 0; ; try++ {
		if conn != nil && (conn.Broken() || conn.Sent() >= deliveryPerConn) {
			conn.Close()
			conn = nil
		}
		reused := conn != nil
		if conn == nil {
			var w io.Writer
			if transcript != nil {
				w = transcript
			}
			if conn, err = mail.Dial(ctx, d.smtp, w); err != nil {
				return nil, err
			}
		}
		err = conn.Send(env, data)
		var me *mail.Error
		if err != nil && reused && try == 0 && !mail.Refusal(err) && errors.As(err, &me) && me.Stage == "mail" {
			conn.Close()
			conn = nil
			continue
		}
		return conn, err
	}
}

// outcome turns a delivery error into the row's next state.
func (d *delivery) outcome(m *store.OutboxMessage, err error) store.OutboxResult {
	if err == nil {
		return store.OutboxResult{State: store.OutboxSent}
	}
	msg := oneLineError(err)
	if !deliveryTemporary(err) {
		return store.OutboxResult{State: store.OutboxFailed, Error: msg}
	}
	delay := retryDelay(m.Attempts)
	var he *httpStatusError
	if errors.As(err, &he) && he.retryAfter > delay {
		delay = he.retryAfter // the receiver asked for a longer pause
	}
	next := d.s.clock().Add(delay)
	if next.After(m.RetryFrom.Add(d.s.cfg.Delivery.RetryFor.Duration)) {
		return store.OutboxResult{State: store.OutboxFailed, Error: fmt.Sprintf("gave up after %d attempts: %s", m.Attempts+1, msg)}
	}
	return store.OutboxResult{State: store.OutboxQueued, NextAttemptAt: next, Error: msg}
}

// record stores the outcome of one attempt, grouped with the other
// senders' in one commit, and returns when it is durable.
func (d *delivery) record(ctx context.Context, m *store.OutboxMessage, err error) {
	res := d.outcome(m, err)
	if res.State == store.OutboxFailed {
		// The id and kind only: the error may name the recipient.
		d.s.log.Warn("outbox: delivery failed for good", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts+1)
	}
	req := recordReq{store.OutboxAttempt{ID: m.ID, Result: res}, make(chan error, 1)}
	d.results <- req
	if rerr := <-req.done; rerr != nil {
		d.s.log.Error("outbox: record attempt", "id", m.ID, "err", rerr)
	}
}

// recordReq is one outcome waiting for the recorder's commit.
type recordReq struct {
	a    store.OutboxAttempt
	done chan error
}

// recorder commits the senders' outcomes: whatever is waiting when it
// starts a transaction goes into it (one fsync for all), through one
// prepared statement. It ends when results is closed.
func (d *delivery) recorder(ctx context.Context) {
	var batch []recordReq
	var attempts []store.OutboxAttempt
	for first := range d.results {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < 256 {
			select {
			case r, ok := <-d.results:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		attempts = attempts[:0]
		for _, r := range batch {
			attempts = append(attempts, r.a)
		}
		errs, err := d.s.db.RecordOutboxAttempts(ctx, attempts)
		for i, r := range batch {
			if err != nil {
				r.done <- err
			} else {
				r.done <- errs[i]
			}
		}
	}
}

// permanentError marks a delivery failure that retrying cannot fix.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// deliveryTemporary classifies a failure of any transport.
func deliveryTemporary(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var he *httpStatusError
	if errors.As(err, &he) {
		return he.temporary()
	}
	return mail.Temporary(err)
}

// oneLineError keeps what the admin page shows short and on one line.
func oneLineError(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxLastError {
		s = s[:maxLastError] + "…"
	}
	return strings.ToValidUTF8(s, "")
}
