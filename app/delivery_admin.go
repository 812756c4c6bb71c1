package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"daraport/app/mail"
	"daraport/store"
)

// deliveryInfo is what the outbox viewer shows about the transports.
type deliveryInfo struct {
	SMTPHost   string
	SMSOn      bool
	Failed     int
	DKIMName   string // <selector>._domainkey.<domain>
	DKIMRecord string // its TXT value
	TestTo     string // default recipient of the test e-mail: the admin
	States     []string
	s          *Server
}

// Retryable reports whether the viewer offers "retry now" for m.
func (in *deliveryInfo) Retryable(m *store.OutboxMessage) bool { return in.s.retryable(m) }

func (s *Server) deliveryInfo(ctx context.Context, a *Actor) *deliveryInfo {
	in := &deliveryInfo{SMTPHost: s.cfg.SMTP.Host, SMSOn: s.cfg.SMS.URL != "", s: s,
		States: []string{store.OutboxQueued, store.OutboxSending, store.OutboxSent, store.OutboxFailed, store.OutboxHeld}}
	if a != nil && a.User != nil {
		in.TestTo = a.User.Email
	}
	if counts, err := s.db.CountOutbox(ctx); err == nil {
		in.Failed = counts[store.OutboxFailed]
	}
	if d := s.dlv.dkim; d != nil {
		in.DKIMName = d.Selector + "._domainkey." + d.Domain
		in.DKIMRecord, _ = mail.DKIMRecord(d.Key)
	}
	return in
}

// retryable reports whether m may be queued again by hand: failed
// messages, and held ones once their transport is configured.
func (s *Server) retryable(m *store.OutboxMessage) bool {
	switch m.State {
	case store.OutboxFailed:
		return true
	case store.OutboxHeld:
		return s.outboxState(m.Kind) == store.OutboxQueued
	}
	return false
}

// limitedBuffer keeps the first 64 KiB written to it: an SMTP transcript
// for the admin, without the message body's bulk.
type limitedBuffer struct {
	mu  sync.Mutex
	b   strings.Builder
	cut bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 64<<10 - l.b.Len(); room < len(p) {
		if room > 0 {
			l.b.Write(p[:room])
		}
		l.cut = true
		return len(p), nil
	}
	l.b.Write(p)
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return l.b.String() + "\n…"
	}
	return l.b.String()
}

type deliveryTestPage struct {
	*Page
	To         string
	OK         bool
	Failure    string
	Transcript string
	MessageID  string
	OutboxID   string
}

// handleDeliveryTest sends a test e-mail now, through the outbox (the row
// records it) but on a connection of its own, and shows the SMTP
// conversation, so an operator sees why a setting does not work.
func (s *Server) handleDeliveryTest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	if s.cfg.SMTP.Host == "" {
		s.error(w, r, errorf(ECodeInvalid, "error.delivery.smtp_off"))
		return
	}
	to := strings.TrimSpace(r.FormValue("to"))
	if to == "" {
		to = a.User.Email
	}
	if _, err := mail.ParseRecipient(to); err != nil || len(to) > 254 {
		e := errorf(ECodeInvalid, "error.delivery.bad_to")
		e.Field = "to"
		s.error(w, r, e)
		return
	}
	p := &deliveryTestPage{Page: s.newPage(w, r, "delivery.test.title"), To: to}
	m := &store.OutboxMessage{Kind: store.OutboxEmail, To: to, Locale: p.Lang, Template: "delivery.test",
		Subject:  p.T("delivery.test.subject", "Brand", s.cfg.Brand.Name),
		TextBody: p.T("delivery.test.body", "Brand", s.cfg.Brand.Name, "Link", s.link("/admin/outbox", nil)) + "\n",
		// Held, so the worker leaves it to this request.
		State: store.OutboxHeld}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Enqueue(ctx, m); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.outbox_test", "outbox", m.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	claimed, err := s.db.ClaimOutboxByID(ctx, m.ID, deliveryLease)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var tr limitedBuffer
	conn, sendErr := s.dlv.sendEmail(context.WithoutCancel(ctx), nil, claimed, &tr)
	if conn != nil {
		conn.Close()
	}
	res := store.OutboxResult{State: store.OutboxSent}
	if sendErr != nil {
		// A diagnostic is not retried: its outcome is what the admin reads now.
		res = store.OutboxResult{State: store.OutboxFailed, Error: oneLineError(sendErr)}
		p.Failure = res.Error
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.RecordOutboxAttempt(ctx, m.ID, res) }); err != nil {
		s.error(w, r, err)
		return
	}
	p.OK, p.Transcript, p.MessageID, p.OutboxID = sendErr == nil, tr.String(), m.MessageID, m.ID
	status := http.StatusOK
	if sendErr != nil {
		status = http.StatusBadGateway
	}
	s.render(w, r, status, "admin_outbox_test", p)
}

// handleDeliveryRetry queues a failed (or held) message again, due now.
func (s *Server) handleDeliveryRetry(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	m, err := s.db.FindOutboxByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !s.retryable(m) {
		id := "error.delivery.not_retryable"
		if m.State == store.OutboxHeld {
			id = "error.delivery.transport_off"
		}
		s.error(w, r, errorf(ECodeConflict, id))
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.RetryOutbox(ctx, m.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.outbox_retry", "outbox", m.ID, "")
	})
	if errors.Is(err, store.ErrConflict) {
		err = errorf(ECodeConflict, "error.delivery.not_retryable")
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.delivery_retried")
	http.Redirect(w, r, "/admin/outbox/"+m.ID, http.StatusSeeOther)
}

// handleDeliveryRetryFailed queues every failed message whose transport is
// configured again.
func (s *Server) handleDeliveryRetryFailed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		n, err := tx.RetryFailedOutbox(ctx, s.dlv.kinds())
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.outbox_retry_failed", "outbox", "", strconv.Itoa(n))
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.delivery_retried_all")
	http.Redirect(w, r, "/admin/outbox?state=failed", http.StatusSeeOther)
}

// mailDKIMRecord is the TXT record of d's key ("" without DKIM).
func mailDKIMRecord(d *delivery) (string, error) {
	if d.dkim == nil {
		return "", nil
	}
	return mail.DKIMRecord(d.dkim.Key)
}
