package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"

	"daraport/store"
)

const testICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Daraport//test//EN\r\nMETHOD:REQUEST\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n" +
	"BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nEND:STANDARD\r\n" +
	"BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\n" +
	"END:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nUID:appt-42@daraport\r\nSEQUENCE:0\r\nDTSTAMP:20261120T100000Z\r\nDTSTART;TZID=Europe/Paris:20261124T093000\r\nDTEND;TZID=Europe/Paris:20261124T094500\r\n" +
	"SUMMARY:Rendez-vous\r\nORGANIZER:mailto:no-reply@localhost\r\nATTENDEE;RSVP=FALSE:mailto:ann@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// parsedMail is a received message read back with go-message.
type parsedMail struct {
	Header   gomail.Header
	Text     string
	HTML     string
	Calendar string // the inline text/calendar part
	CalType  map[string]string
	Attached map[string]string // attachment file name → content
}

func parseMail(t testing.TB, raw []byte) *parsedMail {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	p := &parsedMail{Header: r.Header, Attached: map[string]string{}}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch h := part.Header.(type) {
		case *gomail.InlineHeader:
			ct, params, _ := h.ContentType()
			switch ct {
			case "text/plain":
				// A single-part body ends with the CRLF SMTP requires.
				p.Text = strings.TrimSuffix(string(body), "\r\n")
			case "text/html":
				p.HTML = string(body)
			case "text/calendar":
				p.Calendar, p.CalType = string(body), params
			}
		case *gomail.AttachmentHeader:
			name, _ := h.Filename()
			p.Attached[name] = string(body)
		}
	}
	return p
}

func TestDeliveryMultipartInvite(t *testing.T) {
	t.Parallel()
	k := newSMTPSink(t, func(k *smtpSink) { k.keep = true })
	ts := newTestServer(t, useSink(k))
	ts.runWorker(t)
	start := time.Now()
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "Ann Example <ann@example.org>", Locale: "en", Template: "appointment.confirmed",
		Subject: "Your appointment is confirmed", TextBody: "Hello Ann,\n\nSee you on Tuesday.\n", HTMLBody: "<p>Hello Ann,</p><p>See you on Tuesday.</p>",
		ICS:     testICS,
		Headers: map[string]string{"List-Unsubscribe": "<https://rdv.example/unsubscribe?t=abc>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}})
	got := ts.waitState(t, m.ID, store.OutboxSent)
	t.Logf("enqueue to accepted: %v", time.Since(start))
	if got.Attempts != 1 || got.SentAt.IsZero() || got.LastError != "" {
		t.Errorf("row after delivery: attempts %d, sent %v, error %q", got.Attempts, got.SentAt, got.LastError)
	}
	raw, rcpt := k.last(t)
	if rcpt != "ann@example.org" {
		t.Errorf("RCPT TO %q", rcpt)
	}
	p := parseMail(t, raw)
	if ct, _, _ := p.Header.ContentType(); ct != "multipart/mixed" {
		t.Errorf("top content type %q", ct)
	}
	if id, _ := p.Header.MessageID(); "<"+id+">" != m.MessageID {
		t.Errorf("Message-ID %q, want %q", id, m.MessageID)
	}
	if s, _ := p.Header.Subject(); s != m.Subject {
		t.Errorf("subject %q", s)
	}
	from, _ := p.Header.AddressList("From")
	to, _ := p.Header.AddressList("To")
	if len(from) != 1 || from[0].Address != "no-reply@localhost" || len(to) != 1 || to[0].Address != "ann@example.org" || to[0].Name != "Ann Example" {
		t.Errorf("From %v To %v", from, to)
	}
	if d, err := p.Header.Date(); err != nil || d.IsZero() {
		t.Errorf("Date: %v %v", d, err)
	}
	if p.Header.Get("List-Unsubscribe") != "<https://rdv.example/unsubscribe?t=abc>" || p.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe headers lost: %q %q", p.Header.Get("List-Unsubscribe"), p.Header.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(p.Text, "See you on Tuesday.") || !strings.Contains(p.HTML, "<p>See you on Tuesday.</p>") {
		t.Errorf("bodies: text %q html %q", p.Text, p.HTML)
	}
	if p.CalType["method"] != "REQUEST" || p.CalType["charset"] != "utf-8" {
		t.Errorf("calendar part parameters %v", p.CalType)
	}
	if p.Attached["invite.ics"] == "" {
		t.Errorf("no invite.ics attachment (attachments %v)", p.Attached)
	}
	for name, text := range map[string]string{"inline": p.Calendar, "attachment": p.Attached["invite.ics"]} {
		cal, err := ical.NewDecoder(strings.NewReader(text)).Decode()
		if err != nil {
			t.Fatalf("%s calendar: %v", name, err)
		}
		if meth, _ := cal.Props.Text(ical.PropMethod); meth != "REQUEST" {
			t.Errorf("%s calendar METHOD %q", name, meth)
		}
		ev := cal.Events()
		if len(ev) != 1 {
			t.Fatalf("%s calendar: %d events", name, len(ev))
		}
		if uid, _ := ev[0].Props.Text(ical.PropUID); uid != "appt-42@daraport" {
			t.Errorf("%s calendar UID %q", name, uid)
		}
		paris, _ := time.LoadLocation("Europe/Paris")
		startAt, err := ev[0].DateTimeStart(paris)
		if err != nil || !startAt.Equal(time.Date(2026, 11, 24, 9, 30, 0, 0, paris)) {
			t.Errorf("%s calendar DTSTART %v (%v)", name, startAt, err)
		}
		if tz := ev[0].Props.Get(ical.PropDateTimeStart).Params.Get(ical.ParamTimezoneID); tz != "Europe/Paris" {
			t.Errorf("%s calendar TZID %q", name, tz)
		}
	}

	// Plain text only: a single text/plain part; text and HTML: alternative.
	m2 := ts.enqueueMail(t, &store.OutboxMessage{To: "bob@example.org", Subject: "Plain", TextBody: "Only text"})
	ts.waitState(t, m2.ID, store.OutboxSent)
	raw, _ = k.last(t)
	if p := parseMail(t, raw); p.Text != "Only text" {
		t.Errorf("plain message text %q", p.Text)
	}
	m3 := ts.enqueueMail(t, &store.OutboxMessage{To: "bob@example.org", Subject: "Both", TextBody: "T", HTMLBody: "<p>H</p>"})
	ts.waitState(t, m3.ID, store.OutboxSent)
	raw, _ = k.last(t)
	p = parseMail(t, raw)
	if ct, _, _ := p.Header.ContentType(); ct != "multipart/alternative" || p.Text != "T" || p.HTML != "<p>H</p>" {
		t.Errorf("alternative: %q text %q html %q", ct, p.Text, p.HTML)
	}
}

func TestDeliveryHeaderInjection(t *testing.T) {
	t.Parallel()
	k := newSMTPSink(t, func(k *smtpSink) { k.keep = true })
	ts := newTestServer(t, useSink(k))
	ts.runWorker(t)
	long := strings.Repeat("Motif très long, sans retour à la ligne. ", 250)[:10000]

	t.Run("SubjectCRLF", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "Hello\r\nBcc: victim@example.org\r\n\r\nInjected body", TextBody: "x"})
		ts.waitState(t, m.ID, store.OutboxSent)
		raw, rcpt := k.last(t)
		if rcpt != "ann@example.org" {
			t.Errorf("RCPT %q", rcpt)
		}
		p := parseMail(t, raw)
		if p.Header.Has("Bcc") || bytes.Contains(raw, []byte("\r\nBcc:")) {
			t.Errorf("a Bcc header was injected:\n%s", raw)
		}
		if s, _ := p.Header.Subject(); s != "Hello Bcc: victim@example.org Injected body" {
			t.Errorf("subject %q", s)
		}
		if p.Text != "x" {
			t.Errorf("body changed: %q", p.Text)
		}
	})
	t.Run("DisplayNameTrick", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: `"admin@bank.example" <patient@example.org>`, Subject: "S", TextBody: "x"})
		ts.waitState(t, m.ID, store.OutboxSent)
		raw, rcpt := k.last(t)
		if rcpt != "patient@example.org" {
			t.Errorf("RCPT %q, want the real address", rcpt)
		}
		to, err := parseMail(t, raw).Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "patient@example.org" || to[0].Name != "admin@bank.example" {
			t.Errorf("To %v (%v)", to, err)
		}
	})
	t.Run("NonASCII", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "Élodie Dupré\r\n <elodie@example.org>", Subject: "Rendez-vous confirmé – Ärztin Ñúñez", TextBody: "Bonjour Élodie"})
		got := ts.waitState(t, m.ID, store.OutboxFailed)
		if !strings.Contains(got.LastError, "line break") {
			t.Errorf("recipient with a line break: %q", got.LastError)
		}
		m = ts.enqueueMail(t, &store.OutboxMessage{To: "Élodie Dupré <elodie@example.org>", Subject: "Rendez-vous confirmé – Ärztin Ñúñez", TextBody: "Bonjour Élodie"})
		ts.waitState(t, m.ID, store.OutboxSent)
		raw, _ := k.last(t)
		head := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
		for _, line := range strings.Split(head, "\r\n") {
			for _, b := range []byte(line) {
				if b >= 0x80 {
					t.Fatalf("raw 8-bit byte in header line %q", line)
				}
			}
		}
		if !strings.Contains(head, "=?utf-8?") && !strings.Contains(head, "=?UTF-8?") {
			t.Errorf("no RFC 2047 encoded word in:\n%s", head)
		}
		p := parseMail(t, raw)
		if s, _ := p.Header.Subject(); s != "Rendez-vous confirmé – Ärztin Ñúñez" {
			t.Errorf("subject %q", s)
		}
		to, _ := p.Header.AddressList("To")
		if len(to) != 1 || to[0].Name != "Élodie Dupré" || to[0].Address != "elodie@example.org" {
			t.Errorf("To %v", to)
		}
		if p.Text != "Bonjour Élodie" {
			t.Errorf("text %q", p.Text)
		}
	})
	t.Run("RecipientLists", func(t *testing.T) {
		before := k.count.Load()
		for _, to := range []string{"a@example.org, b@example.org", "a@example.org\r\nBcc: b@example.org", "Group: a@example.org, b@example.org;", "not an address", ""} {
			m := ts.enqueueMail(t, &store.OutboxMessage{To: to, Subject: "S", TextBody: "x"})
			got := ts.waitState(t, m.ID, store.OutboxFailed)
			if got.Attempts != 1 {
				t.Errorf("%q: %d attempts, want 1 (permanent)", to, got.Attempts)
			}
		}
		if k.count.Load() != before {
			t.Errorf("the server received %d messages for bad recipients", k.count.Load()-before)
		}
	})
	t.Run("UTF8AddressWithoutSMTPUTF8", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "élodie@exämple.org", Subject: "S", TextBody: "x"})
		got := ts.waitState(t, m.ID, store.OutboxFailed)
		if got.Attempts != 1 || !strings.Contains(got.LastError, "SMTPUTF8") {
			t.Errorf("non-ASCII address: %d attempts, %q", got.Attempts, got.LastError)
		}
	})
	t.Run("ExtraHeaders", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "S", TextBody: "x", Headers: map[string]string{
			"Bcc": "spy@example.org", "X-Evil": "1", "From": "ceo@bank.example", "Content-Type": "text/html",
			"List-Unsubscribe": "<https://rdv.example/u>\r\nBcc: spy@example.org", "list-id": "Daraport news <news.rdv.example>"}})
		ts.waitState(t, m.ID, store.OutboxSent)
		raw, rcpt := k.last(t)
		p := parseMail(t, raw)
		if rcpt != "ann@example.org" || p.Header.Has("Bcc") || p.Header.Has("X-Evil") {
			t.Errorf("unlisted headers passed: rcpt %q\n%s", rcpt, raw)
		}
		if from, _ := p.Header.AddressList("From"); len(from) != 1 || from[0].Address != "no-reply@localhost" {
			t.Errorf("From overridden: %v", from)
		}
		if ct, _, _ := p.Header.ContentType(); ct != "text/plain" {
			t.Errorf("Content-Type overridden: %q", ct)
		}
		if v := p.Header.Get("List-Unsubscribe"); v != "<https://rdv.example/u> Bcc: spy@example.org" {
			t.Errorf("List-Unsubscribe %q", v)
		}
		if p.Header.Get("List-Id") != "Daraport news <news.rdv.example>" {
			t.Errorf("List-Id %q", p.Header.Get("List-Id"))
		}
	})
	t.Run("LongBody", func(t *testing.T) {
		m := ts.enqueueMail(t, &store.OutboxMessage{To: "ann@example.org", Subject: "Long", TextBody: long, HTMLBody: "<p>" + long + "</p>"})
		ts.waitState(t, m.ID, store.OutboxSent)
		raw, _ := k.last(t)
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d octets (SMTP allows 998)", len(line))
			}
		}
		p := parseMail(t, raw)
		if p.Text != long || p.HTML != "<p>"+long+"</p>" {
			t.Errorf("10,000-character body changed in transit (%d, %d characters)", len(p.Text), len(p.HTML))
		}
	})
}

func TestDeliveryDKIM(t *testing.T) {
	t.Parallel()
	k := newSMTPSink(t, func(k *smtpSink) { k.keep = true })
	ts := newTestServer(t, func(c *Config) {
		useSink(k)(c)
		c.SMTP.From = "Cabinet <rdv@clinic.example>"
		c.SMTP.DKIMDomain, c.SMTP.DKIMSelector = "clinic.example", "s2026"
	})
	ts.runWorker(t)
	m := ts.enqueueMail(t, &store.OutboxMessage{To: "Ann <ann@example.org>", Subject: "Signé", TextBody: "Bonjour", HTMLBody: "<p>Bonjour</p>", ICS: testICS})
	ts.waitState(t, m.ID, store.OutboxSent)
	raw, _ := k.last(t)
	in := ts.srv.deliveryInfo(context.Background(), nil)
	if in.DKIMName != "s2026._domainkey.clinic.example" || !strings.HasPrefix(in.DKIMRecord, "v=DKIM1; k=rsa; p=") {
		t.Fatalf("DKIM record %q at %q", in.DKIMRecord, in.DKIMName)
	}
	lookups := 0
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		lookups++
		if domain != in.DKIMName {
			t.Errorf("looked up %q", domain)
		}
		return []string{in.DKIMRecord}, nil
	}})
	if err != nil || len(verifications) != 1 || lookups != 1 {
		t.Fatalf("verify: %v (%d verifications)", err, len(verifications))
	}
	if v := verifications[0]; v.Err != nil || v.Domain != "clinic.example" {
		t.Errorf("signature: domain %q, error %v", v.Domain, v.Err)
	}
	// A changed byte breaks it.
	tampered := bytes.Replace(raw, []byte("Bonjour"), []byte("Bonsoir"), 1)
	verifications, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{in.DKIMRecord}, nil }})
	if err != nil || len(verifications) != 1 || verifications[0].Err == nil {
		t.Errorf("a tampered message verified: %v", err)
	}
	// The key lives in the data directory and is reused.
	again, err := newDelivery(ts.srv)
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := mailDKIMRecord(again); rec != in.DKIMRecord {
		t.Errorf("the DKIM key changed on restart")
	}
	// The admin sees the record to publish.
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.client(t)
	ts.login(t, c, admin)
	res := ts.get(t, c, "/admin/outbox")
	if !strings.Contains(res.Body, "s2026._domainkey.clinic.example") || !strings.Contains(res.Body, in.DKIMRecord[:40]) {
		t.Errorf("the outbox page does not show the DKIM record")
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 15 * time.Second}, {1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {4, 5 * time.Minute},
		{5, 10 * time.Minute}, {6, 20 * time.Minute}, {7, 40 * time.Minute}, {8, time.Hour}, {30, time.Hour}} {
		for range 20 {
			d := retryDelay(c.n)
			if d < c.want*85/100 || d > c.want*115/100 {
				t.Errorf("retryDelay(%d) = %v, want %v ± 15%%", c.n, d, c.want)
			}
		}
	}
	// Three days of retries is about 80 attempts.
	total, n := time.Duration(0), 0
	for ; total < 72*time.Hour; n++ {
		total += retryDelay(n)
	}
	if n < 70 || n > 90 {
		t.Errorf("%d attempts in 3 days", n)
	}
}

func TestDeliveryConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  string
		want string
	}{
		{"DARAPORT_SMTP_TIMEOUT=10ms", "smtp.timeout"},
		{"DARAPORT_SMTP_MAX_CONNECTIONS=0", "smtp.max_connections"},
		{"DARAPORT_SMTP_DKIM_DOMAIN=not a domain", "smtp.dkim_domain"},
		{"DARAPORT_SMS_URL=ftp://gw.example/send", "sms.url"},
		{"DARAPORT_SMS_METHOD=DELETE", "sms.method"},
		{"DARAPORT_SMS_HEADERS=Bad Header: x", "sms.headers"},
		{"DARAPORT_SMS_CONTENT_TYPE=text/html", "sms.content_type"},
		{"DARAPORT_SMS_SUCCESS_STATUS=42", "sms.success_status"},
		{"DARAPORT_DELIVERY_RETRY_FOR=10s", "delivery.retry_for"},
	} {
		_, err := LoadConfig("", []string{c.env})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.env, err, c.want)
		}
	}
	cfg, err := LoadConfig("", []string{"DARAPORT_SMS_URL=https://gw.example/send?to={{to}}&text={{text}}", "DARAPORT_SMS_METHOD=GET",
		"DARAPORT_SMS_HEADERS=Authorization: Bearer k", "DARAPORT_SMTP_CA_FILE=/nonexistent.pem"})
	if err != nil {
		t.Fatal(err)
	}
	// A CA file that cannot be read stops start-up, naming the key.
	cfg.Server.DataDir = t.TempDir()
	db, err := store.Open(context.Background(), store.Options{Dir: cfg.Server.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets")); err == nil || !strings.Contains(err.Error(), "smtp.ca_file") {
		t.Errorf("unreadable CA file: %v", err)
	}
	// GET: placeholders go into the URL, escaped.
	h := newHTTPSenders(cfg)
	req, err := h.smsRequest(context.Background(), "+33612345678", "À demain & merci")
	if err != nil {
		t.Fatal(err)
	}
	if q := req.URL.Query(); q.Get("to") != "+33612345678" || q.Get("text") != "À demain & merci" || req.Body != nil || req.Header.Get("Authorization") != "Bearer k" {
		t.Errorf("GET SMS request %s %v", req.URL, req.Header)
	}
}
