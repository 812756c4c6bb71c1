package mail

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestTemporary(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"Greylisted", &Error{"data", &smtp.SMTPError{Code: 451}}, true},
		{"MailboxFull", &Error{"rcpt", &smtp.SMTPError{Code: 452}}, true},
		{"NoSuchUser", &Error{"rcpt", &smtp.SMTPError{Code: 550}}, false},
		{"Rejected", &Error{"data", &smtp.SMTPError{Code: 554}}, false},
		{"WrongPassword", &Error{"auth", &smtp.SMTPError{Code: 535}}, true},
		{"AuthRequired", &Error{"mail", &smtp.SMTPError{Code: 530}}, true},
		{"Refused", &Error{"connect", &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, true},
		{"Timeout", &Error{"hello", fmt.Errorf("read: %w", errTimeout{})}, true},
		{"EOF", &Error{"data", io.ErrUnexpectedEOF}, true},
		{"BadMessage", fmt.Errorf("%w: recipient", ErrBadMessage), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Temporary(c.err); got != c.want {
				t.Errorf("Temporary(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

type errTimeout struct{}

func (errTimeout) Error() string { return "i/o timeout" }
func (errTimeout) Timeout() bool { return true }

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, addr, name string
		ok             bool
	}{
		{"ann@example.org", "ann@example.org", "", true},
		{"Ann Example <ann@example.org>", "ann@example.org", "Ann Example", true},
		{`"admin@bank.example" <p@example.org>`, "p@example.org", "admin@bank.example", true},
		{"=?utf-8?q?=C3=89lodie?= <e@example.org>", "e@example.org", "Élodie", true},
		{"a@example.org, b@example.org", "", "", false},
		{"a@example.org\r\nBcc: b@example.org", "", "", false},
		{"G: a@example.org, b@example.org;", "", "", false},
		{"G: a@example.org;", "a@example.org", "", true}, // a group of one is that one address
		{"", "", "", false},
	} {
		a, err := ParseRecipient(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%q: error %v", c.in, err)
			continue
		}
		if c.ok && (a.Address != c.addr || a.Name != c.name) {
			t.Errorf("%q: %q %q", c.in, a.Name, a.Address)
		}
		if !c.ok && !errors.Is(err, ErrBadMessage) {
			t.Errorf("%q: %v does not wrap ErrBadMessage", c.in, err)
		}
	}
}

func TestBuildEnvelopeAndMethod(t *testing.T) {
	t.Parallel()
	from := &mail.Address{Name: "Cabinet\r\nBcc: x@y", Address: "rdv@clinic.example"}
	data, env, err := Build(&Message{From: from, To: "Ann <ann@example.org>", Subject: "S", Text: "t",
		ICS: "BEGIN:VCALENDAR\nMETHOD:cancel\nEND:VCALENDAR\n", MessageID: "<1@clinic.example>", Date: time.Unix(0, 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.From != "rdv@clinic.example" || env.To != "ann@example.org" || env.UTF8 {
		t.Errorf("envelope %+v", env)
	}
	head := string(data[:strings.Index(string(data), "\r\n\r\n")])
	if strings.Contains(head, "\r\nBcc:") || !strings.Contains(string(data), "method=CANCEL") {
		t.Errorf("message:\n%s", data)
	}
	if _, _, err := Build(&Message{From: from, To: "ann@example.org", MessageID: "<a b@c>\r\nBcc: x"}, nil); !errors.Is(err, ErrBadMessage) {
		t.Errorf("bad Message-ID accepted: %v", err)
	}
}
