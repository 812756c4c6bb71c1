// Package mail delivers e-mail: it builds MIME messages (plain text, HTML,
// calendar invites) with emersion/go-message, signs them with DKIM
// (emersion/go-msgauth) and hands them to an SMTP server with
// emersion/go-smtp. It knows nothing of HTTP or of the outbox's schedule;
// app's delivery worker decides what to send when.
//
//	data, env, err := mail.Build(&mail.Message{From: from, To: "Ann <ann@example.org>", Subject: "Hello", Text: "Hi"}, nil)
//	conn, err := mail.Dial(ctx, &mail.Config{Host: "smtp.example.org", Port: 587, Security: "starttls"}, nil)
//	err = conn.Send(env, data) // classify failures with mail.Temporary(err)
package mail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"
)

// Message is an e-mail to build.
type Message struct {
	From      *mail.Address
	To        string // one address, possibly with a display name; parsed, never copied raw
	Subject   string
	Text      string
	HTML      string
	ICS       string            // an iCalendar object: sent as an invite when not empty
	Headers   map[string]string // extra headers; only the names in AllowedHeaders are kept
	MessageID string            // "<id@host>", stable across attempts
	Date      time.Time
}

// Envelope is the SMTP envelope of a built message.
type Envelope struct {
	From string // MAIL FROM
	To   string // RCPT TO
	UTF8 bool   // an address needs SMTPUTF8
}

// AllowedHeaders are the extra header names a Message may carry. Anything
// else is dropped, so a row in the outbox can never set From, Bcc or
// Content-Type.
var AllowedHeaders = []string{
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "List-Help",
	"Auto-Submitted", "Precedence", "X-Auto-Response-Suppress",
	"Reply-To", "In-Reply-To", "References", "Feedback-ID",
}

// ErrBadMessage wraps every error of Build: the message can never be sent
// as it is (a bad address, say), so retrying is pointless.
var ErrBadMessage = errors.New("mail: bad message")

var msgIDRe = regexp.MustCompile(`^<[A-Za-z0-9!#$%&'*+/=?^_{|}~.-]+@[A-Za-z0-9.-]+>$`)

// clean makes s safe for a header: control characters (CR and LF above
// all) become spaces and runs of spaces collapse. Encoding (RFC 2047) of
// what is not ASCII is left to the writer.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// ParseRecipient parses one address (with or without display name). A
// list, a group, or anything net/mail refuses is an error wrapping
// ErrBadMessage. The display name comes back cleaned.
func ParseRecipient(to string) (*mail.Address, error) {
	if strings.ContainsAny(to, "\r\n") {
		return nil, fmt.Errorf("%w: recipient contains a line break", ErrBadMessage)
	}
	a, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(strings.TrimSpace(to))
	if err != nil {
		return nil, fmt.Errorf("%w: recipient is not one e-mail address", ErrBadMessage)
	}
	a.Name = clean(a.Name)
	if a.Address == "" || strings.ContainsAny(a.Address, " <>\r\n,;") {
		return nil, fmt.Errorf("%w: recipient is not one e-mail address", ErrBadMessage)
	}
	return a, nil
}

// Build writes m as an RFC 5322 message: multipart/alternative when both a
// text and an HTML body are given; with an invite, multipart/mixed holding
// that alternative plus the text/calendar part (method from the ICS body)
// and the same calendar as an invite.ics attachment, as Gmail, Outlook and
// Apple Mail expect. When dkim is not nil the message is signed. Errors
// wrap ErrBadMessage.
func Build(m *Message, dkim *DKIM) ([]byte, *Envelope, error) {
	to, err := ParseRecipient(m.To)
	if err != nil {
		return nil, nil, err
	}
	if m.From == nil || m.From.Address == "" {
		return nil, nil, fmt.Errorf("%w: no sender", ErrBadMessage)
	}
	from := &mail.Address{Name: clean(m.From.Name), Address: m.From.Address}
	var h gomail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", []*mail.Address{from})
	h.SetAddressList("To", []*mail.Address{to})
	h.SetSubject(clean(m.Subject))
	if !msgIDRe.MatchString(m.MessageID) {
		return nil, nil, fmt.Errorf("%w: Message-ID %q", ErrBadMessage, clean(m.MessageID))
	}
	h.Set("Message-Id", m.MessageID)
	h.Set("MIME-Version", "1.0")
	for _, name := range AllowedHeaders {
		v, ok := lookupHeader(m.Headers, name)
		if !ok {
			continue
		}
		v = clean(v)
		if v == "" {
			continue
		}
		if name == "Reply-To" {
			a, err := ParseRecipient(v)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: Reply-To", ErrBadMessage)
			}
			h.SetAddressList(name, []*mail.Address{a})
			continue
		}
		if !isASCII(v) {
			return nil, nil, fmt.Errorf("%w: header %s is not ASCII", ErrBadMessage, name)
		}
		h.Set(name, v)
	}
	if !h.Has("Auto-Submitted") {
		// RFC 3834: tells vacation responders not to answer.
		h.Set("Auto-Submitted", "auto-generated")
	}

	var buf bytes.Buffer
	if err := writeBody(&buf, h, m); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	data := buf.Bytes()
	if dkim != nil {
		if data, err = dkim.sign(data); err != nil {
			return nil, nil, err
		}
	}
	env := &Envelope{From: from.Address, To: to.Address, UTF8: !isASCII(from.Address) || !isASCII(to.Address)}
	return data, env, nil
}

func lookupHeader(hs map[string]string, name string) (string, bool) {
	for k, v := range hs {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

var icsMethodRe = regexp.MustCompile(`(?mi)^METHOD:([A-Za-z-]+)\r?$`)

// icsMethod returns the METHOD of an iCalendar object (PUBLISH when absent).
func icsMethod(ics string) string {
	if m := icsMethodRe.FindStringSubmatch(ics); m != nil {
		return strings.ToUpper(m[1])
	}
	return "PUBLISH"
}

// crlf turns every line ending into CRLF, as iCalendar and MIME want.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func writeBody(w io.Writer, h gomail.Header, m *Message) error {
	text := m.Text
	if text == "" && m.HTML == "" {
		text = " "
	}
	textPart := func() gomail.InlineHeader {
		var ih gomail.InlineHeader
		ih.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		return ih
	}
	htmlPart := func() gomail.InlineHeader {
		var ih gomail.InlineHeader
		ih.SetContentType("text/html", map[string]string{"charset": "utf-8"})
		return ih
	}
	writeAlternatives := func(iw *gomail.InlineWriter) error {
		if text != "" {
			if err := writePart(iw, textPart(), crlf(text)); err != nil {
				return err
			}
		}
		if m.HTML != "" {
			if err := writePart(iw, htmlPart(), crlf(m.HTML)); err != nil {
				return err
			}
		}
		if m.ICS != "" {
			var ih gomail.InlineHeader
			ih.SetContentType("text/calendar", map[string]string{"method": icsMethod(m.ICS), "charset": "utf-8"})
			if err := writePart(iw, ih, crlf(m.ICS)); err != nil {
				return err
			}
		}
		return iw.Close()
	}
	if m.ICS == "" {
		if m.HTML == "" {
			h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
			wc, err := gomail.CreateSingleInlineWriter(w, h)
			if err != nil {
				return err
			}
			body := crlf(text)
			if !strings.HasSuffix(body, "\r\n") {
				body += "\r\n" // SMTP ends the data with a line break anyway
			}
			if _, err := io.WriteString(wc, body); err != nil {
				return err
			}
			return wc.Close()
		}
		iw, err := gomail.CreateInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writeAlternatives(iw)
	}
	mw, err := gomail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return err
	}
	if err := writeAlternatives(iw); err != nil {
		return err
	}
	var ah gomail.AttachmentHeader
	ah.SetContentType("application/ics", map[string]string{"name": "invite.ics"})
	ah.SetFilename("invite.ics")
	aw, err := mw.CreateAttachment(ah)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(aw, crlf(m.ICS)); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return mw.Close()
}

type partWriter interface {
	CreatePart(gomail.InlineHeader) (io.WriteCloser, error)
}

func writePart(iw partWriter, h gomail.InlineHeader, body string) error {
	wc, err := iw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(wc, body); err != nil {
		return err
	}
	return wc.Close()
}
