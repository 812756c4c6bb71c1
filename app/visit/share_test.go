package visit

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// sharedPort serves, on one loopback port, an HTTPS server (whose handler
// reports the protocol and TLS state it sees) and the relay's TURN over
// TLS, through a PortShare.
type sharedPort struct {
	share *PortShare
	relay *Relay
	addr  string
	pool  *x509.CertPool
	hs    *http.Server
	done  chan error
	once  sync.Once
}

func startShared(t *testing.T, peek time.Duration) *sharedPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsConf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{testCert},
		NextProtos: []string{"h2", "http/1.1", alpnACME}}
	sp := &sharedPort{share: SharePort(ln, httpsConf, peek), addr: ln.Addr().String(), pool: x509.NewCertPool(), done: make(chan error, 1)}
	leaf, _ := x509.ParseCertificate(testCert.Certificate[0])
	sp.pool.AddCert(leaf)
	sp.relay = startRelay(t, func(c *Config) { c.TLSListen, c.TLSListener = "", sp.share.TURN() })
	sp.hs = &http.Server{ReadHeaderTimeout: 5 * time.Second, ConnContext: ShareConnContext, ErrorLog: log.New(io.Discard, "", 0),
		Handler: WithShareTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil {
				fmt.Fprintf(w, "%s plain", r.Proto)
				return
			}
			fmt.Fprintf(w, "%s tls %q", r.Proto, r.TLS.NegotiatedProtocol)
		}))}
	go func() { sp.done <- sp.hs.Serve(sp.share.HTTP()) }()
	t.Cleanup(sp.close)
	return sp
}

func (sp *sharedPort) close() {
	sp.once.Do(func() {
		sp.hs.Close()
		<-sp.done
		sp.relay.Close()
		sp.share.Close()
	})
}

func (sp *sharedPort) get(t *testing.T, tr *http.Transport) (string, string) {
	t.Helper()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	res, err := c.Get("https://" + sp.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.Proto, string(b)
}

// rawGet sends an HTTP/1.1 request over a TLS connection offering protos.
func (sp *sharedPort) rawGet(t *testing.T, protos []string) (string, *tls.Conn) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sp.addr, &tls.Config{RootCAs: sp.pool, NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sp.addr)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return string(b), c
}

// TestPortShareRoutes checks each kind of client on the shared port: HTTP/2,
// HTTP/1.1 with and without ALPN (all served as HTTPS, r.TLS set), ACME's
// TLS-ALPN-01 hello (the HTTPS configuration answers it), plain HTTP (the
// usual 400), a TURN client offering "stun.turn", and WebRTC media relayed
// by TURN over TLS on the port.
func TestPortShareRoutes(t *testing.T) {
	sp := startShared(t, 0)
	if port, _ := strconv.Atoi(sp.addr[strings.LastIndex(sp.addr, ":")+1:]); func() int { _, p := sp.relay.Ports(); return p }() != port {
		t.Fatalf("the relay advertises another TLS port than the shared one (%s)", sp.addr)
	}

	proto, body := sp.get(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sp.pool}, ForceAttemptHTTP2: true})
	if proto != "HTTP/2.0" || body != `HTTP/2.0 tls "h2"` {
		t.Errorf("HTTP/2 client: %s, handler saw %s", proto, body)
	}
	proto, body = sp.get(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sp.pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}})
	if proto != "HTTP/1.1" || body != `HTTP/1.1 tls "http/1.1"` {
		t.Errorf("HTTP/1.1 client: %s, handler saw %s", proto, body)
	}
	if body, _ := sp.rawGet(t, nil); body != `HTTP/1.1 tls ""` {
		t.Errorf("HTTP/1.1 client without ALPN: handler saw %q, want an HTTPS request", body)
	}
	// An HTTP client offering stun.turn is still served (the first byte
	// decides), with the ALPN it asked for.
	if body, _ := sp.rawGet(t, []string{alpnTURN}); body != `HTTP/1.1 tls "stun.turn"` {
		t.Errorf("HTTP/1.1 client offering stun.turn: handler saw %q", body)
	}

	// TLS-ALPN-01: the CA's hello offers only acme-tls/1; the relay's side
	// would refuse it (no common protocol), the HTTPS configuration agrees.
	ac, err := tls.Dial("tcp", sp.addr, &tls.Config{RootCAs: sp.pool, NextProtos: []string{alpnACME}})
	if err != nil {
		t.Fatalf("acme-tls/1 hello: %v", err)
	}
	if p := ac.ConnectionState().NegotiatedProtocol; p != alpnACME {
		t.Errorf("acme-tls/1 hello negotiated %q", p)
	}
	ac.Close()

	// Plain HTTP on the HTTPS port gets net/http's usual answer.
	pc, err := net.Dial("tcp", sp.addr)
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(pc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(pc), nil); err != nil || res.StatusCode != 400 {
		t.Errorf("plain HTTP on the shared port: %v %v", res, err)
	}
	pc.Close()

	// A TURN client that offers stun.turn allocates through the port.
	tc, err := tls.Dial("tcp", sp.addr, &tls.Config{RootCAs: sp.pool, NextProtos: []string{alpnTURN}})
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != alpnTURN {
		t.Errorf("stun.turn hello negotiated %q", p)
	}
	user, pass := sp.relay.Credentials("tag.s", time.Now().Add(time.Hour))
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: sp.addr, TURNServerAddr: sp.addr, Conn: turn.NewSTUNConn(tc),
		Username: user, Password: pass, Realm: Realm})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relayed, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocation over TLS with ALPN stun.turn: %v", err)
	}
	relayed.Close()
	client.Close()
	tc.Close()

	// WebRTC media through TURN over TLS on the shared port (pion offers
	// no ALPN, as browsers do).
	servers := sp.relay.ICEServers("127.0.0.1", "tag.s", time.Now().Add(time.Hour))[0]
	want := "turns:" + sp.addr + "?transport=tcp"
	if servers.URLs[len(servers.URLs)-1] != want {
		t.Fatalf("ICE URLs %q, want %q last", servers.URLs, want)
	}
	before := sp.relay.Stats().AllocationsTotal
	relayCall(t, webrtc.ICEServer{URLs: []string{want}, Username: servers.Username, Credential: servers.Credential})
	if n := sp.relay.Stats().AllocationsTotal - before; n < 2 {
		t.Errorf("%d allocations for a call relayed on both sides", n)
	}
}

// TestPortShareDropsSilentClients: a client that says nothing, or stops in
// the middle of its hello, is dropped after the peek timeout; the HTTPS
// side keeps serving meanwhile; closing the share (with a TURN connection
// open) ends every goroutine it started.
func TestPortShareDropsSilentClients(t *testing.T) {
	base := runtime.NumGoroutine()
	sp := startShared(t, 300*time.Millisecond)
	silent, err := net.Dial("tcp", sp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	half, err := net.Dial("tcp", sp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // a record header and one byte of hello
	// Meanwhile pages are served.
	if body, _ := sp.rawGet(t, []string{"http/1.1"}); body != `HTTP/1.1 tls "http/1.1"` {
		t.Fatalf("HTTPS beside silent clients: %q", body)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "half a hello": half} {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c.Read(make([]byte, 64))
		if n != 0 || err == nil || isTimeout(err) {
			t.Errorf("%s client: read %d bytes, %v; want the connection closed", name, n, err)
		}
	}
	// A TURN connection held by the relay (a STUN Binding answered) is
	// closed with it; then every goroutine has ended.
	tc, err := tls.Dial("tcp", sp.addr, &tls.Config{RootCAs: sp.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	binding := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := tc.Write(binding); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 20)
	if _, err := io.ReadFull(tc, head); err != nil || head[0] != 0x01 || head[1] != 0x01 || string(head[8:]) != string(binding[8:]) {
		t.Fatalf("STUN Binding over TLS on the shared port: % x, %v", head, err)
	}
	io.CopyN(io.Discard, tc, int64(head[2])<<8|int64(head[3]))
	sp.close()
	if n, err := tc.Read(make([]byte, 64)); n != 0 || err == nil || isTimeout(err) {
		t.Errorf("the TURN connection outlived the relay: read %d, %v", n, err)
	}
	for i := 0; runtime.NumGoroutine() > base; i++ {
		if i == 500 {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after closing, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isTimeout tells whether err is a deadline passing (the peer did not
// close the connection).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// BenchmarkHTTPSConnect measures what the share adds to a new HTTPS
// connection (TLS handshake, one request, close): "plain" is the HTTPS
// server on a tls.NewListener, "shared" the same on PortShare.HTTP.
func BenchmarkHTTPSConnect(b *testing.B) {
	leaf, _ := x509.ParseCertificate(testCert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	conf := &tls.Config{Certificates: []tls.Certificate{testCert}, NextProtos: []string{"h2", "http/1.1"}}
	for _, mode := range []string{"plain", "shared"} {
		b.Run(mode, func(b *testing.B) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := tls.NewListener(raw, conf)
			if mode == "shared" {
				ln = SharePort(raw, conf, 0).HTTP()
			}
			hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
				ErrorLog: log.New(io.Discard, "", 0)}
			go hs.Serve(ln)
			defer hs.Close()
			addr := raw.Addr().String()
			b.ReportAllocs()
			for b.Loop() {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
					TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, DisableKeepAlives: true}
				res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}
