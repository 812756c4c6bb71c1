package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config says how to reach the SMTP server.
type Config struct {
	Host      string
	Port      int
	Security  string // "starttls", "tls" (implicit) or "none"
	Username  string // empty: no authentication
	Password  string
	Timeout   time.Duration  // connecting, and waiting for each reply
	RootCAs   *x509.CertPool // nil: the system's roots
	HelloName string         // name given in EHLO; empty: "localhost"
}

// Conn is one open, authenticated SMTP connection. It sends several
// messages in turn; it is not safe for concurrent use.
type Conn struct {
	c      *smtp.Client
	sent   int
	broken bool
}

// Error is a failed SMTP step.
type Error struct {
	Stage string // connect, tls, hello, auth, mail, rcpt, data
	Err   error
}

func (e *Error) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// deadlineConn bounds every write: go-smtp sets deadlines for replies but
// not while the message body is written.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c deadlineConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(b)
}

// SetDeadline caps the deadlines go-smtp sets (5 minutes for the greeting
// before the configured timeout applies) at four timeouts.
func (c deadlineConn) SetDeadline(t time.Time) error {
	if limit := time.Now().Add(4 * c.timeout); !t.IsZero() && t.After(limit) {
		t = limit
	}
	return c.Conn.SetDeadline(t)
}

// Dial connects to the server, secures the connection as configured
// (certificates verified against RootCAs or the system's roots) and
// authenticates with PLAIN, or LOGIN when the server offers only that.
// transcript, when not nil, receives the conversation with the
// authentication exchange left out. Errors are *Error.
func Dial(ctx context.Context, cfg *Config, transcript io.Writer) (*Conn, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{"connect", err}
	}
	var conn net.Conn = deadlineConn{raw, timeout}
	tcfg := &tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	if cfg.Security == "tls" {
		tc := tls.Client(conn, tcfg)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, &Error{"tls", err}
		}
		conn = tc
		if transcript != nil {
			fmt.Fprintf(transcript, "[TLS: %s, certificate of %s verified]\n", tls.VersionName(tc.ConnectionState().Version), cfg.Host)
		}
	}
	var c *smtp.Client
	if cfg.Security == "starttls" {
		// NewClientStartTLS greets as "localhost" before TLS; the real
		// name follows once encrypted.
		c, err = smtp.NewClientStartTLS(conn, tcfg)
		if err != nil {
			raw.Close()
			return nil, &Error{"tls", err}
		}
		c.CommandTimeout, c.SubmissionTimeout = timeout, 4*timeout
		c.DebugWriter = transcript
		if st, ok := c.TLSConnectionState(); ok && transcript != nil {
			fmt.Fprintf(transcript, "[STARTTLS: %s, certificate of %s verified]\n", tls.VersionName(st.Version), cfg.Host)
		}
	} else {
		c = smtp.NewClient(conn)
		c.CommandTimeout, c.SubmissionTimeout = timeout, 4*timeout
		c.DebugWriter = transcript
	}
	if cfg.HelloName != "" {
		if err := c.Hello(cfg.HelloName); err != nil {
			c.Close()
			return nil, &Error{"hello", err}
		}
	}
	if cfg.Username != "" {
		var a sasl.Client
		if ok, _ := c.Extension("AUTH"); !ok {
			// Extension runs EHLO if needed; no AUTH offered is an error.
			c.Close()
			return nil, &Error{"auth", errors.New("the server offers no authentication (AUTH); check smtp.security and smtp.port")}
		}
		if c.SupportsAuth("PLAIN") || !c.SupportsAuth("LOGIN") {
			a = sasl.NewPlainClient("", cfg.Username, cfg.Password)
		} else {
			a = sasl.NewLoginClient(cfg.Username, cfg.Password)
		}
		c.DebugWriter = nil // never record credentials
		err := c.Auth(a)
		if transcript != nil {
			if err != nil {
				fmt.Fprintf(transcript, "AUTH (hidden): %v\n", err)
			} else {
				fmt.Fprintf(transcript, "AUTH (hidden): 235 accepted\n")
			}
		}
		c.DebugWriter = transcript
		if err != nil {
			c.Close()
			return nil, &Error{"auth", err}
		}
	}
	return &Conn{c: c}, nil
}

// Sent is how many messages this connection delivered.
func (c *Conn) Sent() int { return c.sent }

// Broken reports whether the connection can no longer be used.
func (c *Conn) Broken() bool { return c.broken }

// Send delivers one message. After a refusal the transaction is reset
// (RSET) so the connection can carry the next message; after a network
// error the connection is broken. Errors are *Error; classify them with
// Temporary.
func (c *Conn) Send(env *Envelope, data []byte) error {
	var opts *smtp.MailOptions
	if env.UTF8 {
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			// Retrying cannot help: this server never takes such an address.
			return &Error{"mail", fmt.Errorf("%w: the address is not ASCII and the server does not offer SMTPUTF8", ErrBadMessage)}
		}
		opts = &smtp.MailOptions{UTF8: true}
	}
	fail := func(stage string, err error) error {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code != 421 {
			if rerr := c.c.Reset(); rerr != nil {
				c.broken = true
			}
		} else {
			c.broken = true
		}
		return &Error{stage, err}
	}
	if err := c.c.Mail(env.From, opts); err != nil {
		return fail("mail", err)
	}
	if err := c.c.Rcpt(env.To, nil); err != nil {
		return fail("rcpt", err)
	}
	w, err := c.c.Data()
	if err != nil {
		return fail("data", err)
	}
	if _, err := w.Write(data); err != nil {
		c.broken = true
		return &Error{"data", err}
	}
	if err := w.Close(); err != nil {
		return fail("data", err)
	}
	c.sent++
	return nil
}

// Close says QUIT and closes the connection.
func (c *Conn) Close() error {
	if c.broken {
		return c.c.Close()
	}
	if err := c.c.Quit(); err != nil {
		return c.c.Close()
	}
	return nil
}

// Temporary reports whether a delivery that failed with err may succeed
// later: network trouble, timeouts, TLS and authentication problems (the
// operator can fix the configuration; the retry policy gives up in the
// end) and 4xx replies are temporary; 5xx replies to the message itself and
// messages that cannot be built are permanent.
func Temporary(err error) bool {
	if errors.Is(err, ErrBadMessage) {
		return false
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code/100 == 4 {
			return true
		}
		var e *Error
		if errors.As(err, &e) && (e.Stage == "auth" || e.Stage == "hello" || e.Stage == "tls") {
			return true
		}
		switch se.Code {
		case 530, 534, 535, 538: // authentication required / failed: a configuration problem
			return true
		}
		return false
	}
	return true
}

// Refusal reports whether err is the server's reply (rather than a network
// failure) to MAIL, RCPT or DATA: the connection is still good.
func Refusal(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}
