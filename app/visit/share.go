package visit

// TURN over TLS on the HTTPS port (turn.tls_listen = "https"): a patient on
// a network that lets only 443 out (a hospital's Wi-Fi) reaches the relay
// where it reaches the site. One TCP listener takes every connection and
// tells apart, without consuming anything, what goes to the HTTPS server
// and what goes to the relay:
//
//   - The raw ClientHello is read and parsed (by crypto/tls itself, so
//     fragmented or unusual hellos parse as they would in a real
//     handshake), and every byte read is replayed to whoever gets the
//     connection.
//   - A hello offering an HTTP protocol ("h2", "http/1.1"), ACME's
//     TLS-ALPN-01 ("acme-tls/1") or anything else but "stun.turn" goes to
//     the HTTPS server untouched: a *tls.Conn made with the HTTPS
//     configuration, so HTTP/2, r.TLS and certificate challenges work as
//     on a listener of their own. Every browser and HTTP library offers
//     ALPN, so pages never take the other way.
//   - A hello offering "stun.turn" (RFC 7443) or no ALPN at all (what
//     browsers' and pion's TURN clients send) is terminated here; the first
//     decrypted byte decides: a STUN message (first two bits 00, what a TURN
//     connection opens with) goes to the relay, anything else (an HTTP/1
//     client without ALPN: "G" of GET is 0x47) to the HTTPS server, the
//     byte replayed, with the TLS state attached for ShareConnContext and
//     WithShareTLS.
//
// Reading the hello and the first byte is bounded in size and in time (a
// client that says nothing is dropped after the peek timeout), and closing
// the share ends every goroutine it started.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ALPN protocol names the share routes by.
const (
	alpnTURN = "stun.turn"  // RFC 7443
	alpnACME = "acme-tls/1" // RFC 8737, certmagic's TLS-ALPN-01
)

// maxClientHello bounds what is read to parse a ClientHello: one full TLS
// record (16 KiB) and then some; real hellos, post-quantum key shares
// included, are under 2 KiB.
const maxClientHello = 32 << 10

// DefaultPeekTimeout is how long a new connection on a shared port has to
// complete its ClientHello and, on the relay's side, its handshake and
// first message (the HTTPS server's own handshake timeout is as long).
const DefaultPeekTimeout = 10 * time.Second

// PortShare is one TCP listener carrying both HTTPS and TURN over TLS.
type PortShare struct {
	raw       net.Listener
	httpsConf *tls.Config // the HTTPS server's, for its connections
	turnConf  *tls.Config // the same certificates, ALPN "stun.turn" only
	peek      time.Duration
	http      *shareListener
	turn      *shareListener

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	routing   map[net.Conn]struct{} // connections not yet handed on
}

// SharePort starts routing ln's connections. httpsConf is the HTTPS
// server's TLS configuration (its certificates serve both sides); peek is
// the time a connection has to show what it is (0: DefaultPeekTimeout).
// Serve HTTPS on HTTP() and give TURN() to the relay (Config.TLSListener);
// closing HTTP() or the PortShare closes ln.
func SharePort(ln net.Listener, httpsConf *tls.Config, peek time.Duration) *PortShare {
	if peek <= 0 {
		peek = DefaultPeekTimeout
	}
	tc := httpsConf.Clone()
	// Confirms RFC 7443's ALPN to a TURN client that offers it; a client
	// offering none is not asked for any.
	tc.NextProtos = []string{alpnTURN}
	p := &PortShare{raw: ln, httpsConf: httpsConf, turnConf: tc, peek: peek, done: make(chan struct{}),
		routing: map[net.Conn]struct{}{}}
	p.http = &shareListener{p: p, ch: make(chan net.Conn), closed: make(chan struct{})}
	p.turn = &shareListener{p: p, ch: make(chan net.Conn), closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p
}

// HTTP is the listener of the HTTPS server's connections (each a *tls.Conn
// still to handshake, or a connection ShareTLSState knows).
func (p *PortShare) HTTP() net.Listener { return p.http }

// TURN is the listener of the relay's decrypted TURN connections. Closing
// it closes the connections it handed out (the relay stopped) but not the
// port; TURN connections arriving later are closed.
func (p *PortShare) TURN() net.Listener { return p.turn }

// Close stops listening, closes the connections being routed and both
// listeners (and the TURN connections handed out), and waits for the
// share's goroutines to end.
func (p *PortShare) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.done)
		err = p.raw.Close()
		p.mu.Lock()
		for c := range p.routing {
			c.Close()
		}
		p.mu.Unlock()
		p.turn.Close()
		p.wg.Wait()
	})
	return err
}

func (p *PortShare) accept() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.raw.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				go p.Close() // Close waits for this goroutine
				return
			}
			// Out of file descriptors and the like: wait as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-p.done:
				return
			}
			continue
		}
		backoff = 0
		p.mu.Lock()
		select {
		case <-p.done:
			p.mu.Unlock()
			c.Close()
			return
		default:
		}
		p.routing[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.route(c)
	}
}

// route finds where c goes and hands it on.
func (p *PortShare) route(c net.Conn) {
	defer p.wg.Done()
	handed := false
	defer func() {
		p.mu.Lock()
		delete(p.routing, c)
		p.mu.Unlock()
		if !handed {
			c.Close()
		}
	}()
	deadline := time.Now().Add(p.peek)
	if c.SetDeadline(deadline) != nil {
		return
	}
	protos, peeked, err := readClientHello(c)
	rc := &replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(peeked), c)}
	if err != nil {
		var ne net.Error
		if len(peeked) == 0 || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout()) {
			return // silent, gone or too slow: dropped
		}
		// Not TLS (plain HTTP sent to the HTTPS port, say): the HTTPS
		// server answers it as on a listener of its own.
		_ = c.SetDeadline(time.Time{})
		handed = p.http.deliver(tls.Server(rc, p.httpsConf))
		return
	}
	if !toRelay(protos) {
		// Left to the HTTPS server, which sets its own handshake deadline.
		_ = c.SetDeadline(time.Time{})
		handed = p.http.deliver(tls.Server(rc, p.httpsConf))
		return
	}
	tc := tls.Server(rc, p.turnConf)
	var first [1]byte
	if tc.Handshake() != nil {
		return
	}
	if _, err := io.ReadFull(tc, first[:]); err != nil {
		return
	}
	if c.SetDeadline(time.Time{}) != nil {
		return
	}
	st := tc.ConnectionState()
	sc := &sharedConn{Conn: tc, first: first[0], pending: true, state: &st}
	// A TURN connection opens with a STUN request (Allocate; its first two
	// bits are 00). ChannelData (first byte 0x40-0x4F) comes only after a
	// ChannelBind, and shares its first byte with "GET", "HEAD",
	// "DELETE", "OPTIONS" and "CONNECT": it must not decide.
	if first[0] < 0x40 {
		handed = p.turn.deliver(sc)
	} else {
		handed = p.http.deliver(sc)
	}
}

// toRelay tells whether a ClientHello's ALPN list sends the connection to
// the TLS-terminating side: "stun.turn" offered, or nothing offered; ACME's
// challenge always goes to the HTTPS server.
func toRelay(protos []string) bool {
	if slices.Contains(protos, alpnACME) {
		return false
	}
	return len(protos) == 0 || slices.Contains(protos, alpnTURN)
}

// errHelloRead stops the parsing handshake once the hello is read.
var errHelloRead = errors.New("visit: client hello read")

// readClientHello reads c's ClientHello and returns its ALPN protocols and
// every byte read (to be replayed). crypto/tls parses it: a handshake is
// started on a connection that records what it reads and refuses to write,
// and abandoned once the hello is known.
func readClientHello(c net.Conn) (protos []string, peeked []byte, err error) {
	var buf bytes.Buffer
	rec := &recordConn{Conn: c, r: io.TeeReader(io.LimitReader(c, maxClientHello), &buf)}
	got := false
	err = tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		protos, got = slices.Clone(h.SupportedProtos), true
		return nil, errHelloRead
	}}).HandshakeContext(context.Background())
	if got {
		return protos, buf.Bytes(), nil
	}
	if err == nil {
		err = errors.New("visit: no client hello")
	}
	return nil, buf.Bytes(), err
}

// recordConn reads through r and writes nothing (the parsing handshake's
// alert must not reach the client).
type recordConn struct {
	net.Conn
	r io.Reader
}

func (c *recordConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *recordConn) Write([]byte) (int, error)  { return 0, io.ErrClosedPipe }

// replayConn reads the peeked bytes again before the rest.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// sharedConn is a connection the share terminated: the first decrypted
// byte, read to route it, comes back first.
type sharedConn struct {
	*tls.Conn
	mu      sync.Mutex
	first   byte
	pending bool
	state   *tls.ConnectionState
}

func (c *sharedConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.pending && len(b) > 0 {
		b[0], c.pending = c.first, false
		c.mu.Unlock()
		return 1, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(b)
}

// ShareTLSState returns the TLS state of a connection the share terminated
// before handing it to the HTTPS server (an HTTP/1 client that offered no
// ALPN), or nil for any other connection (a *tls.Conn included: the HTTP
// server reads its state itself).
func ShareTLSState(c net.Conn) *tls.ConnectionState {
	if sc, ok := c.(*sharedConn); ok {
		return sc.state
	}
	return nil
}

type shareTLSKey struct{}

// ShareConnContext is the http.Server.ConnContext of a server on
// PortShare.HTTP: it keeps the TLS state of the connections the share
// terminated for WithShareTLS.
func ShareConnContext(ctx context.Context, c net.Conn) context.Context {
	if st := ShareTLSState(c); st != nil {
		return context.WithValue(ctx, shareTLSKey{}, st)
	}
	return ctx
}

// WithShareTLS sets r.TLS on the requests of connections the share
// terminated, so handlers see them as the HTTPS requests they are (the HTTP
// server sets r.TLS only for a *tls.Conn).
func WithShareTLS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(shareTLSKey{}).(*tls.ConnectionState); ok {
				r2 := *r
				r2.TLS = st
				r = &r2
			}
		}
		h.ServeHTTP(w, r)
	})
}

// shareListener hands the share's connections to one consumer.
type shareListener struct {
	p      *PortShare
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // handed out and still open (TURN only); nil: not tracked
}

// deliver hands c to the consumer's Accept; it reports false (c left to the
// caller to close) when the listener or the share is closed first.
func (l *shareListener) deliver(c net.Conn) bool {
	if l.conns != nil {
		l.mu.Lock()
		select {
		case <-l.closed:
			l.mu.Unlock()
			return false
		default:
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		c = tc
	}
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
	case <-l.p.done:
	}
	if tc, ok := c.(*trackedConn); ok {
		tc.forget()
	}
	return false
}

func (l *shareListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
	case <-l.p.done:
	}
	return nil, net.ErrClosed
}

// Close closes the listener; the HTTPS side's closes the whole share (the
// server is shutting down), the relay's the TURN connections it holds.
func (l *shareListener) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		close(l.closed)
		conns := make([]net.Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	if l == l.p.http {
		return l.p.Close()
	}
	return nil
}

func (l *shareListener) Addr() net.Addr { return l.p.raw.Addr() }

// trackedConn is a TURN connection the relay holds, closed with the TURN
// listener so no connection outlives the relay.
type trackedConn struct {
	net.Conn
	l *shareListener
}

func (c *trackedConn) forget() {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
}

func (c *trackedConn) Close() error {
	c.forget()
	return c.Conn.Close()
}
