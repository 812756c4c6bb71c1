package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"daraport/app/visit"
	"daraport/store"
)

// shareCertPEM and shareKeyPEM are a certificate for 127.0.0.1 that this
// test binary trusts as a system root: pion/webrtc checks a TURNS server
// against the system roots only, with no way to pass others. The roots are
// loaded once per process, so the certificate is added before any test
// runs (the system's own roots stay: Go also reads the system's certificate
// directories).
var shareCertPEM, shareKeyPEM []byte

func init() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "daraport shared-port test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	shareCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	shareKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	dir, err := os.MkdirTemp("", "daraport-roots")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	bundle := shareCertPEM
	prev, had := os.LookupEnv("SSL_CERT_FILE")
	if had {
		if b, err := os.ReadFile(prev); err == nil {
			bundle = append(append(b, '\n'), shareCertPEM...)
		}
	}
	file := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(file, bundle, 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", file)
	_, _ = x509.SystemCertPool() // loads (and keeps) the roots now
	if had {
		os.Setenv("SSL_CERT_FILE", prev)
	} else {
		os.Unsetenv("SSL_CERT_FILE")
	}
}

// sharedServer is Run with tls.mode files and TURN over TLS on the HTTPS
// port, on loopback.
type sharedServer struct {
	srv    *Server
	db     *store.DB
	addr   string
	pool   *x509.CertPool
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startSharedServer(t *testing.T, peek time.Duration) *sharedServer {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, shareCertPEM, 0o600)
	os.WriteFile(keyFile, shareKeyPEM, 0o600)
	ss := &sharedServer{addr: freeAddr(t), pool: x509.NewCertPool(), logs: &lockedBuffer{}, done: make(chan error, 1)}
	ss.pool.AppendCertsFromPEM(shareCertPEM)
	cfg := DefaultConfig()
	cfg.Server.DataDir = dir
	cfg.Server.Addr = ss.addr
	cfg.Server.BaseURL = "https://" + ss.addr
	cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.HTTPAddr = "files", certFile, keyFile, freeAddr(t)
	cfg.TURN.Enabled, cfg.TURN.Listen, cfg.TURN.PublicIP, cfg.TURN.TLSListen = true, "127.0.0.1:0", "127.0.0.2", TURNOnHTTPS
	cfg.Metrics.Allow = []string{"127.0.0.0/8"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db, err := store.Open(context.Background(), store.Options{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ss.db = db
	// An admin exists, so pages are pages rather than the setup redirect.
	if _, _, err := AddUser(context.Background(), db, cfg, UserSpec{Email: "admin@example.org", Name: "Ada Admin", Role: store.RoleAdmin,
		Password: testPassword, Locale: "en"}); err != nil {
		t.Fatal(err)
	}
	ss.srv, err = New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets"), WithLogger(slog.New(slog.NewTextHandler(ss.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ss.srv.visit.peek = peek
	var ctx context.Context
	ctx, ss.cancel = context.WithCancel(context.Background())
	go func() { ss.done <- ss.srv.Run(ctx) }()
	t.Cleanup(func() { ss.stop(t) })
	c := ss.client(true)
	for i := 0; ; i++ {
		res, err := c.Get("https://" + ss.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if i == 500 {
			t.Fatalf("the server does not answer HTTPS: %v\n%s", err, ss.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ss
}

// stop shuts the server down (once) and reports Run's error.
func (ss *sharedServer) stop(t *testing.T) {
	if ss.cancel == nil {
		return
	}
	ss.cancel()
	ss.cancel = nil
	if err := <-ss.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func (ss *sharedServer) client(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ss.pool}, ForceAttemptHTTP2: true}
	if !h2 {
		tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ss.pool, NextProtos: []string{"http/1.1"}},
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestTURNOnHTTPSPort runs the server with TURN over TLS on its HTTPS port:
// WebRTC media is relayed through that port by the URL the visit API and
// pages advertise, while the same port serves pages over HTTP/2, HTTP/1.1,
// and HTTP/1.1 without ALPN, each as HTTPS; the start-up log says where
// TURN over TLS listens.
func TestTURNOnHTTPSPort(t *testing.T) {
	ss := startSharedServer(t, 0)
	_, port, _ := net.SplitHostPort(ss.addr)

	// The relay advertises the HTTPS port.
	servers := ss.srv.visitICEServersFor("tag.s", time.Now().Add(time.Hour))
	if len(servers) != 1 {
		t.Fatalf("ice servers %+v", servers)
	}
	want := "turns:127.0.0.1:" + port + "?transport=tcp"
	urls := servers[0].URLs
	if len(urls) != 3 || urls[2] != want {
		t.Fatalf("ice urls %q, want %q last", urls, want)
	}
	if !strings.Contains(ss.logs.String(), `tls="https port `+ss.addr+` (shared with HTTPS)"`) {
		t.Errorf("the start-up log does not say TURN over TLS is on the HTTPS port:\n%s", ss.logs)
	}
	before := ss.srv.VisitStats().AllocationsTotal
	shareRelayCall(t, webrtc.ICEServer{URLs: []string{want}, Username: servers[0].Username, Credential: servers[0].Credential})
	if st := ss.srv.VisitStats(); st.AllocationsTotal-before < 2 || st.BytesToPeers == 0 {
		t.Errorf("relay counters after a call through the HTTPS port: %+v", st)
	}
	// The counters reach /metrics (and the admin's system page).
	res, err := ss.client(true).Get("https://" + ss.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, name := range []string{"daraport_turn_allocations_total", "daraport_turn_relayed_bytes_total", "daraport_turn_relayed_packets_total"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindSubmatch(metrics)
		if m == nil || string(m[1]) == "0" {
			t.Errorf("/metrics: %s is %q after a relayed call", name, m)
		}
	}

	// Pages on the same port.
	for _, c := range []struct {
		name  string
		h2    bool
		proto string
	}{{"HTTP/2", true, "HTTP/2.0"}, {"HTTP/1.1", false, "HTTP/1.1"}} {
		res, err := ss.client(c.h2).Get("https://" + ss.addr + "/login")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Proto != c.proto || !strings.Contains(string(body), `<form`) ||
			!strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s: %d %s, HSTS %q", c.name, res.StatusCode, res.Proto, res.Header.Get("Strict-Transport-Security"))
		}
	}
	// An HTTP/1 client that offers no ALPN: decrypted by the share to look
	// at its first byte, then served as HTTPS all the same.
	conn, err := tls.Dial("tcp", ss.addr, &tls.Config{RootCAs: ss.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /login HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", ss.addr)
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if conn.ConnectionState().NegotiatedProtocol != "" || res.StatusCode != 200 || !strings.Contains(string(body), `<form`) ||
		!strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HTTP/1.1 without ALPN: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
}

// TestTURNOnHTTPSPortDropsSilentClients: a client that connects to the
// HTTPS port and says nothing is dropped after the peek timeout, and once
// the server has stopped none of the share's goroutines is left.
func TestTURNOnHTTPSPortDropsSilentClients(t *testing.T) {
	base := runtime.NumGoroutine()
	ss := startSharedServer(t, 300*time.Millisecond)
	silent, err := net.Dial("tcp", ss.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := silent.Read(make([]byte, 16))
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a silent client: read %d, %v; want the connection closed by the server", n, err)
	}
	// A second silent client still waiting when the server stops.
	again, err := net.Dial("tcp", ss.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	ss.stop(t)
	ss.db.Close() // its goroutines were not there before either
	for i := 0; ; i++ {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		left := strings.Contains(stacks, "daraport/app/visit.(*PortShare)") || strings.Contains(stacks, "daraport/app/visit.(*shareListener)")
		if !left && runtime.NumGoroutine() <= base {
			break
		}
		if i == 1000 {
			t.Fatalf("%d goroutines after the server stopped, %d before:\n%s", runtime.NumGoroutine(), base, stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTURNOnHTTPSConfig: "https" shares the HTTPS port only with TLS on; a
// separate TURN TLS address on server.addr's port is refused with the way
// to share it.
func TestTURNOnHTTPSConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TURN.Enabled, cfg.TURN.TLSListen = true, TURNOnHTTPS
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "turn.tls_listen") || !strings.Contains(err.Error(), "tls.mode") {
		t.Fatalf("tls.mode off with turn.tls_listen = https: %v", err)
	}
	// Only this variable: the test's own environment may hold other
	// DARAPORT_ variables (DARAPORT_SCREENSHOTS in CI), which LoadConfig
	// rightly refuses as unknown keys.
	if _, err := LoadConfig("", []string{"DARAPORT_TURN_TLS_LISTEN=https"}); err == nil || !strings.Contains(err.Error(), "turn.tls_listen") {
		t.Fatalf("from the environment: %v", err)
	}
	cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile = "files", "/etc/cert.pem", "/etc/key.pem"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("tls.mode files with turn.tls_listen = https: %v", err)
	}
	cfg.Server.Addr = ":443"
	for _, addr := range []string{":443", "0.0.0.0:443", "127.0.0.1:443"} {
		cfg.TURN.TLSListen = addr
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "turn.tls_listen") || !strings.Contains(err.Error(), `"https"`) {
			t.Errorf("turn.tls_listen %s beside server.addr :443: %v", addr, err)
		}
	}
	for _, addr := range []string{":5349", "127.0.0.1:5349"} {
		cfg.TURN.TLSListen = addr
		if err := cfg.Validate(); err != nil {
			t.Errorf("turn.tls_listen %s: %v", addr, err)
		}
	}
	cfg.Server.Addr, cfg.TURN.TLSListen = "10.0.0.1:443", "10.0.0.2:443"
	if err := cfg.Validate(); err != nil {
		t.Errorf("another address's port 443: %v", err)
	}
}

// TestVisitCheckShowsTLSPort: the visit API and the pre-visit check of a
// server sharing its HTTPS port advertise TURN over TLS on that port, and
// the check names it.
func TestVisitCheckShowsTLSPort(t *testing.T) {
	w := newVisitWorld(t)
	ts := w.ts
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(shareCertPEM, shareKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.visit.share = visit.SharePort(ln, &tls.Config{Certificates: []tls.Certificate{cert}}, 0)
	t.Cleanup(func() { ts.srv.visit.share.Close() })
	ts.srv.cfg.TURN.TLSListen = TURNOnHTTPS
	t.Cleanup(ts.srv.startTURN())
	tlsPort := strconv.Itoa(ts.srv.httpsPort())
	if _, p := ts.srv.visit.relay.Ports(); strconv.Itoa(p) != tlsPort {
		t.Fatalf("relay TLS port %d, want the HTTPS port %s", p, tlsPort)
	}
	res := ts.get(t, ts.clientLang(t, "en"), "/visit/"+w.key+"/check")
	if res.StatusCode != 200 || !pageHas(res.Body, "TLS on port "+tlsPort) {
		t.Errorf("the check does not name the TLS port %s (%d)", tlsPort, res.StatusCode)
	}
	if !strings.Contains(res.Body, "turns:127.0.0.1:"+tlsPort+"?transport=tcp") {
		t.Errorf("the check does not test TURN over TLS on port %s", tlsPort)
	}
	w.enterWindow(t)
	var v apiVisit
	api := ts.api(t, "GET", "/api/v1/appointments/"+w.appt.ID+"/visit", ts.token(t, w.a), nil)
	if err := json.Unmarshal([]byte(api.Body), &v); err != nil || len(v.ICEServers) != 1 {
		t.Fatalf("visit API: %d %s", api.StatusCode, api.Body)
	}
	if u := v.ICEServers[0].URLs; len(u) != 3 || u[2] != "turns:127.0.0.1:"+tlsPort+"?transport=tcp" {
		t.Errorf("visit API ice urls %q", u)
	}
}

// shareRelayCall connects two relay-only pion peers through server and
// checks that RTP media and a data channel message cross, over relay
// candidates on both ends (app/visit's relayCall, for this package).
func shareRelayCall(t *testing.T, server webrtc.ICEServer) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetRelayAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	cfg := webrtc.Configuration{ICEServers: []webrtc.ICEServer{server}, ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		BundlePolicy: webrtc.BundlePolicyMaxBundle}
	a, err := api.NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := api.NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "visit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	dc, err := a.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	media := make(chan struct{}, 1)
	b.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case got <- string(m.Data):
			default:
			}
		})
	})
	b.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := tr.ReadRTP(); err == nil {
			media <- struct{}{}
		}
	})
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	offer, err := a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gatherA := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gatherA
	if !strings.Contains(a.LocalDescription().SDP, " typ relay") {
		t.Fatal("no relay candidate gathered over TURN on the HTTPS port")
	}
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gatherB := webrtc.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gatherB
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatal("the data channel did not open through the relay")
	}
	if err := dc.SendText("hello through 443"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq := uint16(0)
	gotMsg, gotMedia := false, false
	for !gotMsg || !gotMedia {
		select {
		case m := <-got:
			if m != "hello through 443" {
				t.Fatalf("data channel carried %q", m)
			}
			gotMsg = true
		case <-media:
			gotMedia = true
		case <-tick.C:
			seq++
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1},
				Payload: []byte{0x10, 0, 0, 0, 0, 0, 0, 0}})
		case <-deadline:
			t.Fatalf("through the relay: message %v, media %v", gotMsg, gotMedia)
		}
	}
	for _, pc := range []*webrtc.PeerConnection{a, b} {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("no selected pair: %v", err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("selected pair %s ↔ %s, want relay ↔ relay", pair.Local, pair.Remote)
		}
	}
}

// TestACMEOnSharedPort: with TURN over TLS on the HTTPS port, a real ACME
// server (pebble) still validates TLS-ALPN-01 on that port (the only
// challenge left): its "acme-tls/1" hello goes to certmagic.
func TestACMEOnSharedPort(t *testing.T) {
	addr, httpAddr := freeAddr(t), freeAddr(t)
	hp, _ := portOf(httpAddr)
	tp, _ := portOf(addr)
	peb := startPebble(t, false, hp, tp)
	srv := startTLSServer(t, func(c *Config) {
		c.Server.Addr, c.TLS.HTTPAddr = addr, httpAddr
		c.TLS.Mode, c.TLS.Domains = "acme", []string{"localhost"}
		c.TLS.ACMEDirectory, c.TLS.ACMERootCAFile = peb.dir, peb.listenCA
		c.TURN.Enabled, c.TURN.Listen, c.TURN.PublicIP, c.TURN.TLSListen = true, "127.0.0.1:0", "127.0.0.2", TURNOnHTTPS
	}, func(s *Server) { s.ops.certs.issuer.DisableHTTPChallenge = true })
	servedCert(t, addr, "localhost", peb.issuerCAs, 60*time.Second, nil)
	if srv.visit.share == nil {
		t.Fatal("the HTTPS port is not shared with TURN")
	}
}

// TestDoctorTURNOnHTTPS: the doctor says TURN over TLS shares the HTTPS
// port instead of trying to bind "https".
func TestDoctorTURNOnHTTPS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Server.Addr, cfg.TLS.Mode, cfg.TLS.HTTPAddr = freeAddr(t), "files", freeAddr(t)
	cfg.TURN.Enabled, cfg.TURN.Listen, cfg.TURN.TLSListen = true, "127.0.0.1:0", TURNOnHTTPS
	var out bytes.Buffer
	d := &doctor{w: &out}
	d.checkPorts(cfg, false)
	if d.problems != 0 || !strings.Contains(out.String(), "ok    TURN over TLS shares the HTTPS port "+cfg.Server.Addr) {
		t.Fatalf("doctor:\n%s", out.String())
	}
}
