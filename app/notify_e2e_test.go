package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"daraport/store"
)

// TestBookingConfirmationOverSMTP: issue 6's first test, end to end. A
// booking (in French, the patient's language) reaches a real SMTP server as
// a confirmation whose text/calendar part, read back with go-ical, is the
// appointment: METHOD:REQUEST, its UID, its start with the practice's TZID.
func TestBookingConfirmationOverSMTP(t *testing.T) {
	k := newSMTPSink(t, func(k *smtpSink) { k.keep = true })
	w := newNoticesWorld(t, time.Time{}, useSink(k))
	ts := w.ts
	ctx := context.Background()
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE users SET locale = 'fr' WHERE id = ?", w.patient.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.patient.User.Locale = "fr"
	ts.runWorker(t)
	at := localAt(t, ts.srv.clock(), 3, 10, 30)
	a := w.book(t, at, w.visit, "Douleur au genou", "")
	waitFor(t, "the confirmation at the SMTP server", func() bool { return len(k.copies()) > 0 })
	raw, rcpt := k.last(t)
	if rcpt != w.patient.Email {
		t.Fatalf("RCPT TO %q", rcpt)
	}
	p := parseMail(t, raw)
	subject, _ := p.Header.Subject()
	if want := ts.text(t, "fr", "mail.appointment_confirmed.subject", "Brand", ts.cfg.Brand.Name); subject != want {
		t.Errorf("subject %q, want the French %q", subject, want)
	}
	if strings.Contains(subject, "genou") || strings.Contains(p.Text, "genou") || strings.Contains(p.Calendar, "genou") {
		t.Error("the reason is in the e-mail")
	}
	if p.CalType["method"] != "REQUEST" {
		t.Errorf("calendar part parameters %v", p.CalType)
	}
	cal, err := ical.NewDecoder(strings.NewReader(p.Calendar)).Decode()
	if err != nil {
		t.Fatalf("calendar: %v\n%s", err, p.Calendar)
	}
	if m, _ := cal.Props.Text(ical.PropMethod); m != "REQUEST" {
		t.Errorf("METHOD %q", m)
	}
	events := cal.Events()
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	ev := events[0]
	if uid, _ := ev.Props.Text(ical.PropUID); uid != a.ID+"@daraport" {
		t.Errorf("UID %q, want %s@daraport", uid, a.ID)
	}
	dt := ev.Props.Get(ical.PropDateTimeStart)
	if dt == nil || dt.Params.Get(ical.ParamTimezoneID) != "Europe/Paris" {
		t.Fatalf("DTSTART %+v", dt)
	}
	start, err := dt.DateTime(paris(t))
	if err != nil || !start.Equal(at) {
		t.Errorf("DTSTART is %v (%v), booked %v", start, err, at)
	}
}

// TestWebhookDeliveredSigned: a practice's endpoint receives the booking
// event from the outbox worker, signed at send time with its secret.
func TestWebhookDeliveredSigned(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer recv.Close()
	w := newNoticesWorld(t, time.Time{}, func(c *Config) { c.Delivery.AllowPrivateWebhooks = true })
	ts := w.ts
	ctx := context.Background()
	// The page refuses loopback URLs; the test endpoint is written directly.
	hook := &store.Webhook{PracticeID: w.practice.ID, URL: recv.URL + "/in", Secret: "whsec_test", Events: []string{EventCreated}}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateWebhook(ctx, hook) }); err != nil {
		t.Fatal(err)
	}
	ts.runWorker(t)
	a := w.book(t, localAt(t, ts.srv.clock(), 3, 11, 0), w.visit, "", "")
	waitFor(t, "the webhook", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	sig := r.Header.Get("X-Daraport-Signature")
	ts0, v1, ok := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
	if !ok {
		t.Fatalf("signature header %q", sig)
	}
	mac := hmac.New(sha256.New, []byte("whsec_test"))
	mac.Write([]byte(ts0 + "."))
	mac.Write(body)
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(v1), []byte(want)) {
		t.Fatalf("signature does not verify: %s", sig)
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != EventCreated || ev.Data.ID != a.ID {
		t.Fatalf("event %s: %v", body, err)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
}
