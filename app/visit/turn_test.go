package visit

// The relay is tested with real peers: two pion/webrtc peer connections
// that may only use relay candidates exchange RTP media and a data channel
// through it, over UDP, TCP and TLS; pion's TURN client checks what the
// relay refuses (expired credentials, permissions to forbidden addresses,
// the allocation quota) without sending anything to those addresses.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// testCert is the relay's TLS certificate for 127.0.0.1, trusted by this
// test binary (pion/webrtc verifies TURNS servers against the system
// roots, which SSL_CERT_FILE replaces).
var testCert tls.Certificate

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "visit-test")
	if err != nil {
		panic(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", ca)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startRelay runs a relay on loopback: UDP/TCP and TLS on free ports,
// relayed addresses on 127.0.0.2 (its "public" address), so that 127.0.0.1
// stays a forbidden loopback peer.
func startRelay(t *testing.T, change func(*Config)) *Relay {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", PublicIP: "127.0.0.2",
		TLSConfig: func() *tls.Config { return &tls.Config{Certificates: []tls.Certificate{testCert}} },
		MinPort:   40000, MaxPort: 60000, BandwidthBytes: 1 << 20, UserQuota: 10}
	if change != nil {
		change(&cfg)
	}
	r, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRelayCarriesWebRTC(t *testing.T) {
	r := startRelay(t, nil)
	servers := r.ICEServers("127.0.0.1", "tag.s", time.Now().Add(time.Hour))[0]
	if len(servers.URLs) != 3 {
		t.Fatalf("ICE server URLs %q, want udp, tcp and turns", servers.URLs)
	}
	for i, name := range []string{"udp", "tcp", "tls"} {
		t.Run(name, func(t *testing.T) {
			relayCall(t, webrtc.ICEServer{URLs: []string{servers.URLs[i]}, Username: servers.Username, Credential: servers.Credential})
		})
	}
	st := r.Stats()
	if st.AllocationsTotal < 6 || st.BytesToPeers == 0 || st.BytesFromPeers == 0 {
		t.Errorf("counters after three relayed calls: %+v", st)
	}
	t.Logf("relay counters: %+v", st)
}

// relayCall connects two relay-only pion peers through server and checks
// that an RTP packet and a data channel message cross, and that the
// selected pair is relay on both ends.
func relayCall(t *testing.T, server webrtc.ICEServer) {
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
	var failures []string
	for _, pc := range []*webrtc.PeerConnection{a, b} {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil && c.Typ != webrtc.ICECandidateTypeRelay {
				failures = append(failures, "non-relay candidate "+c.String())
			}
		})
	}
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

	// Non-trickle: the gathered descriptions carry the relay candidates.
	offer, err := a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gatherA := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gatherA
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
		t.Fatalf("the data channel did not open through the relay (%v)", failures)
	}
	if err := dc.SendText("hello through the relay"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	seq := uint16(0)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	gotMsg, gotMedia := false, false
	for !gotMsg || !gotMedia {
		select {
		case m := <-got:
			if m != "hello through the relay" {
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
	if len(failures) > 0 {
		t.Errorf("%v", failures)
	}
}

// turnClient allocates on the relay over UDP with the given credentials.
func turnClient(t testing.TB, r *Relay, username, password string) (*turn.Client, net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port, _ := r.Ports()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: Realm})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	relayConn, err := c.Allocate()
	return c, relayConn, err
}

func TestRelayRefusesExpiredCredential(t *testing.T) {
	r := startRelay(t, nil)
	user, pass := r.Credentials("tag.p", time.Now().Add(-time.Second))
	if _, _, err := turnClient(t, r, user, pass); err == nil {
		t.Fatal("an allocation with a credential past its expiry succeeded")
	}
	// A forged password for a valid expiry is refused too.
	user, _ = r.Credentials("tag.p", time.Now().Add(time.Hour))
	if _, _, err := turnClient(t, r, user, "Zm9yZ2Vk"); err == nil {
		t.Fatal("an allocation with a forged credential succeeded")
	}
	if r.Stats().AuthFailures < 1 { // the expired credential (pion reports a bad integrity elsewhere)
		t.Errorf("auth failures not counted: %+v", r.Stats())
	}
	user, pass = r.Credentials("tag.p", time.Now().Add(time.Hour))
	if _, _, err := turnClient(t, r, user, pass); err != nil {
		t.Fatalf("a valid credential is refused: %v", err)
	}
}

func TestRelayRefusesForbiddenPeers(t *testing.T) {
	r := startRelay(t, nil)
	user, pass := r.Credentials("tag.p", time.Now().Add(time.Hour))
	c, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	// CreatePermission asks without sending data to the address.
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "100.64.0.1", "192.168.1.1", "224.0.0.1", "0.0.0.0"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}); err == nil {
			t.Errorf("permission to %s granted", ip)
		}
	}
	// Its own relay address is allowed (two relayed parties meet there),
	// and a public address.
	for _, ip := range []string{"127.0.0.2", "8.8.8.8"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 50000}); err != nil {
			t.Errorf("permission to %s refused: %v", ip, err)
		}
	}
	if r.Stats().PeersRefused < 8 {
		t.Errorf("refusals not counted: %+v", r.Stats())
	}
}

// On its own address, the relay reaches only relay ports: a client cannot
// use the permission to the relay's IP to reach another service there.
func TestRelayOwnAddressOnlyRelayPorts(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MinPort, c.MaxPort = 20000, 20999 })
	// A "service" on the relay's address, outside the relay port range.
	var svc net.PacketConn
	var err error
	for p := 21000; p < 21100; p++ {
		if svc, err = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p)); err == nil {
			break
		}
	}
	if svc == nil {
		t.Fatal("no free port outside the relay range for the service")
	}
	defer svc.Close()
	// A peer inside the range.
	var peer net.PacketConn
	for p := 20000; p < 20100; p++ {
		if peer, err = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p)); err == nil {
			break
		}
	}
	if peer == nil {
		t.Fatal("no free port in the relay range for the peer")
	}
	defer peer.Close()
	user, pass := r.Credentials("tag.p", time.Now().Add(time.Hour))
	_, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	if _, err := relayConn.WriteTo([]byte("to the service"), svc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relayConn.WriteTo([]byte("to the peer"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "to the peer" {
		t.Fatalf("the peer in the relay range got %q, %v", buf[:n], err)
	}
	// The relay remembers the last destination it allowed: that must not
	// let the next packet to another port through.
	if _, err := relayConn.WriteTo([]byte("to the service, after the peer"), svc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	svc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := svc.ReadFrom(buf); err == nil {
		t.Fatalf("the service outside the relay range received %q", buf[:n])
	}
}

func TestRelayQuota(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.UserQuota = 2 })
	user, pass := r.Credentials("tag.s", time.Now().Add(time.Hour))
	for i := 0; i < 2; i++ {
		if _, _, err := turnClient(t, r, user, pass); err != nil {
			t.Fatalf("allocation %d refused: %v", i+1, err)
		}
	}
	if _, _, err := turnClient(t, r, user, pass); err == nil {
		t.Fatal("a third allocation beyond the quota of 2 succeeded")
	}
	other, pass2 := r.Credentials("tag.p", time.Now().Add(time.Hour))
	if _, _, err := turnClient(t, r, other, pass2); err != nil {
		t.Fatalf("another visit's credential is refused: %v", err)
	}
}

// TestRelayQuotaFailedAllocations: an allocation the quota let through but
// that could not be made (no relay port left) is not held against the
// credential: once its one real allocation ends it may allocate again.
func TestRelayQuotaFailedAllocations(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	r := startRelay(t, func(c *Config) { c.UserQuota, c.MinPort, c.MaxPort = 2, port, port })
	user, pass := r.Credentials("tag.s", time.Now().Add(time.Hour))
	_, first, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, _, err := turnClient(t, r, user, pass); err == nil {
			t.Fatal("an allocation succeeded with the only relay port taken")
		}
	}
	first.Close() // deallocates (a refresh with lifetime 0)
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Allocations != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the first allocation did not end: %+v", r.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, _, err := turnClient(t, r, user, pass); err != nil {
		t.Fatalf("allocating again after failed attempts: %v (%+v)", err, r.Stats())
	}
	if q := r.Stats().QuotaRefusals; q != 0 {
		t.Fatalf("%d quota refusals for a credential that never held more than one allocation", q)
	}
}

func TestPeerFilter(t *testing.T) {
	t.Parallel()
	f := NewPeerFilter([]netip.Addr{netip.MustParseAddr("203.0.113.9")}, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")})
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"2a00:1450:4007::1", true}, {"203.0.113.9", true}, {"10.1.2.3", true},
		{"203.0.113.10", false}, {"10.0.0.1", false}, {"127.0.0.1", false}, {"::ffff:127.0.0.1", false}, {"::1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"224.0.0.1", false}, {"ff02::1", false}, {"0.0.0.0", false},
		{"::", false}, {"100.64.0.1", false}, {"64:ff9b::a00:1", false}, {"fd00::1", false}, {"192.168.0.1", false},
		{"172.16.0.1", false}, {"198.18.0.1", false}, {"255.255.255.255", false}, {"2001:db8::1", false},
	} {
		if got := f.Allowed(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// An allocation does not outlive its credential: once it expires the relay
// stops carrying the allocation's data (and refreshes are refused).
func TestRelayAllocationEndsWithCredential(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MinPort, c.MaxPort = 21000, 21999 })
	var peer net.PacketConn
	for p := 21500; p < 21999 && peer == nil; p++ {
		peer, _ = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p))
	}
	if peer == nil {
		t.Fatal("no free port for the peer")
	}
	defer peer.Close()
	user, pass := r.Credentials("tag.p", time.Now().Add(2*time.Second))
	_, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	buf := make([]byte, 64)
	if _, err := relayConn.WriteTo([]byte("before"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "before" {
		t.Fatalf("before expiry the peer got %q, %v", buf[:n], err)
	}
	time.Sleep(3 * time.Second)
	_, _ = relayConn.WriteTo([]byte("after"), peer.LocalAddr())
	peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := peer.ReadFrom(buf); err == nil {
		t.Fatalf("after the credential expired the relay still carried %q", buf[:n])
	}
}

// The bandwidth bucket holds one second of traffic, starts full, refills at
// its rate, and never lets more through than that, even when taken from
// concurrently (it is one atomic, not a lock).
func TestBandwidthBucket(t *testing.T) {
	b := bucket{rate: 1000}
	sec := int64(time.Second)
	steps := []struct {
		at   int64
		n    int
		pass bool
	}{
		{0, 1000, true}, {0, 1, false}, // full, then empty
		{sec / 2, 500, true}, {sec / 2, 1, false}, // half a second refills half
		{10 * sec, 1000, true}, {10 * sec, 1, false}, // an idle relay saves no more than one second
		{11 * sec, 1001, false}, // more than a second's worth never passes
	}
	for i, s := range steps {
		if got := b.take(s.n, s.at); got != s.pass {
			t.Fatalf("step %d: take(%d) at %v = %v, want %v", i, s.n, time.Duration(s.at), got, s.pass)
		}
	}
	c := bucket{rate: 100_000}
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if c.take(100, 0) {
					passed.Add(100)
				}
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 100_000 {
		t.Fatalf("concurrent takes let %d bytes through a bucket of 100000", passed.Load())
	}
	if u := (bucket{}); !u.take(1<<20, 0) {
		t.Fatal("a bucket without a rate refused")
	}
}

// An allocation relays no more than its bandwidth, in both directions: a
// burst of 50 KB against a limit of 10 KB/s passes about 10 KB each way,
// and the rest is dropped and counted.
func TestRelayBandwidthLimit(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MinPort, c.MaxPort, c.BandwidthBytes = 22000, 22999, 10_000 })
	var peer net.PacketConn
	for p := 22500; p < 22999 && peer == nil; p++ {
		peer, _ = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p))
	}
	if peer == nil {
		t.Fatal("no free port in the relay range for the peer")
	}
	defer peer.Close()
	user, pass := r.Credentials("tag.bw", time.Now().Add(time.Hour))
	_, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	msg := make([]byte, 1000)
	buf := make([]byte, 1500)
	count := func(c net.PacketConn) int {
		n := 0
		for {
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := c.ReadFrom(buf); err != nil {
				return n
			}
			n++
		}
	}
	for i := 0; i < 50; i++ {
		if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	// 10 packets fill the bucket; the burst lasts far less than the 0.1 s
	// that would refill one more, but a loaded machine may be slower.
	if got := count(peer); got < 9 || got > 12 {
		t.Fatalf("client to peer: %d of 50 packets of 1000 bytes passed a limit of 10000 bytes/s", got)
	}
	for i := 0; i < 50; i++ {
		if _, err := peer.WriteTo(msg, relayConn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(relayConn); got < 9 || got > 12 {
		t.Fatalf("peer to client: %d of 50 packets of 1000 bytes passed a limit of 10000 bytes/s", got)
	}
	if d := r.Stats().PacketsDropped; d < 70 {
		t.Fatalf("%d packets counted as dropped, want at least 70", d)
	}
}

// TestRelayPeersReachClient sends from two peers back to a client: the
// one the client sends to on a channel (relayed by the poller straight to
// the client) and another of the same IP (permission only, relayed by
// pion as a Data indication). Both arrive whole and from the right address,
// many times over.
func TestRelayPeersReachClient(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MinPort, c.MaxPort = 23000, 23999 })
	var peers []net.PacketConn
	for p := 23500; p < 23999 && len(peers) < 2; p++ {
		if pc, err := net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p)); err == nil {
			peers = append(peers, pc)
			defer pc.Close()
		}
	}
	if len(peers) < 2 {
		t.Fatal("no free ports in the relay range for the peers")
	}
	a, b := peers[0], peers[1]
	user, pass := r.Credentials("tag.peers", time.Now().Add(time.Hour))
	_, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	buf := make([]byte, 1500)
	var relayAddr net.Addr
	// The client's first packets create the permission and bind a channel.
	for i := 0; i < 20; i++ {
		if _, err := relayConn.WriteTo([]byte("hello"), a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		var n int
		if n, relayAddr, err = a.ReadFrom(buf); err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("peer a got %q, %v", buf[:n], err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 200; i++ {
		from, msg := a, fmt.Sprintf("from a %d, %s", i, strings.Repeat("x", i))
		if i%2 == 1 {
			from, msg = b, fmt.Sprintf("from b %d", i)
		}
		if _, err := from.WriteTo([]byte(msg), relayAddr); err != nil {
			t.Fatal(err)
		}
		relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := relayConn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("packet %d: the client got %q, %v; want %q", i, buf[:n], err, msg)
		}
		if src.String() != from.LocalAddr().String() {
			t.Fatalf("packet %d came from %v, want %v", i, src, from.LocalAddr())
		}
		if i%2 == 0 {
			// Keep the client's channel in use, as a call does.
			if _, err := relayConn.WriteTo([]byte("hello"), a.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := a.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The first peer's packets took the poller's route (on Linux).
	if runtime.GOOS == "linux" {
		want := netip.MustParseAddrPort(a.LocalAddr().String())
		found := false
		r.mu.Lock()
		for c := range r.conns {
			if rt := c.route.Load(); c.poll != nil && rt != nil && rt.peer == want {
				found = true
			}
		}
		r.mu.Unlock()
		if !found {
			t.Fatal("no relay connection learned the client's channel to peer a")
		}
	}
	// The client's side too: the listener relays the channel itself.
	found := false
	for _, pc := range r.udp {
		if l, ok := pc.(*listenConn); ok {
			for _, f := range l.fwd {
				if f.peer.String() == a.LocalAddr().String() {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("no listener learned the client's channel to peer a")
	}
}

// TestRelayChannelStopsAtExpiry keeps a channel busy across the expiry of
// the credential: the packets the listener relays without pion stop with
// the allocation, not up to fwdFresh later.
func TestRelayChannelStopsAtExpiry(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MinPort, c.MaxPort = 24000, 24999 })
	var peer net.PacketConn
	for p := 24500; p < 24999 && peer == nil; p++ {
		peer, _ = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p))
	}
	if peer == nil {
		t.Fatal("no free port for the peer")
	}
	defer peer.Close()
	expires := time.Unix(time.Now().Unix()+2, 0) // credentials count whole seconds
	user, pass := r.Credentials("tag.exp", expires)
	_, relayConn, err := turnClient(t, r, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	got := make(chan time.Time, 1000)
	go func() {
		buf := make([]byte, 64)
		for {
			peer.SetReadDeadline(time.Now().Add(4 * time.Second))
			if _, _, err := peer.ReadFrom(buf); err != nil {
				close(got)
				return
			}
			got <- time.Now()
		}
	}()
	for time.Now().Before(expires.Add(500 * time.Millisecond)) {
		_, _ = relayConn.WriteTo([]byte("ping"), peer.LocalAddr())
		time.Sleep(5 * time.Millisecond)
	}
	n, last := 0, time.Time{}
	for at := range got {
		n, last = n+1, at
	}
	if n < 50 {
		t.Fatalf("only %d packets reached the peer before expiry", n)
	}
	// The expiry timer runs on the relay's clock: allow for scheduling.
	if last.After(expires.Add(50 * time.Millisecond)) {
		t.Fatalf("the peer still received a packet %v after the credential expired", last.Sub(expires))
	}
}
