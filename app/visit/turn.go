// Package visit carries Daraport's video visits below the web layer: the
// in-process TURN relay (pion/turn) with its peer filter, short-lived
// per-visit credentials, quotas and counters, and the signaling hub that
// pairs the two parties of a visit. It imports no part of the web
// application.
//
//	r, err := visit.Start(visit.Config{Listen: ":3478", PublicIP: "203.0.113.7"})
//	servers := r.ICEServers("visio.example.org", "visit-tag", expires)
//	defer r.Close()
package visit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by specification
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/reuseport"
	"github.com/pion/turn/v5"
)

// Config configures the relay.
type Config struct {
	// Listen is the UDP and TCP address ("host:port"; port 0 picks one).
	Listen string
	// TLSListen is the TURN-over-TLS address; "" for none.
	TLSListen string
	// TLSConfig returns the HTTPS server's TLS configuration (called per
	// handshake, so renewed certificates are picked up); required with
	// TLSListen.
	TLSConfig func() *tls.Config
	// TLSListener, instead of TLSListen, hands the relay TURN connections
	// already decrypted: TURN over TLS on the HTTPS port (PortShare.TURN).
	// The relay closes it when it stops, not when Start fails.
	TLSListener net.Listener
	// TLSPort is the port advertised for TLSListener: the HTTPS port as
	// clients reach it (0: the listener's own).
	TLSPort int
	// PublicIP is put in relay candidates; "" detects one.
	PublicIP string
	// AllowPeers are prefixes the relay may reach although not public.
	AllowPeers []netip.Prefix
	// MinPort and MaxPort bound the relayed ports (inclusive).
	MinPort, MaxPort int
	// BandwidthBytes limits each allocation, per direction, in bytes per
	// second (0: no limit).
	BandwidthBytes int64
	// UserQuota is the number of allocations one credential may hold at
	// once (0: no limit).
	UserQuota int
	// UDPListeners is how many SO_REUSEPORT sockets share the UDP port
	// (default 2: what matches coturn's rate here, TESTING.md).
	UDPListeners int
	// SocketBuffer is the receive and send buffer of the UDP sockets,
	// listeners and relay sockets (default 2 MiB).
	SocketBuffer int
	// Secret is the shared secret of the credentials; nil makes a random
	// one (credentials then last no longer than the process).
	Secret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives the relay's errors; nil discards them.
	Log *slog.Logger
}

// Realm is the TURN realm of Daraport's relay.
const Realm = "daraport"

// Stats are the relay's counters, for the administration pages.
type Stats struct {
	Allocations      int64 // active now
	AllocationsTotal int64 // since start
	BytesToPeers     int64 // relayed from clients to peers
	BytesFromPeers   int64 // relayed from peers to clients
	PacketsRelayed   int64
	PeersRefused     int64 // permissions refused by the peer filter
	PacketsDropped   int64 // over the bandwidth limit or to a refused address
	AuthFailures     int64
	QuotaRefusals    int64
}

// Relay is a running TURN server.
type Relay struct {
	cfg     Config
	now     func() time.Time
	epoch   time.Time // r.now() at Start: the bandwidth buckets' origin
	secret  []byte
	filter  *PeerFilter
	server  *turn.Server
	udp     []net.PacketConn
	pollers []*poller // one per UDP listener; nil entries where unavailable
	tcp     net.Listener
	tlsLn   net.Listener
	public  netip.Addr
	udpPort int
	tcpPort int
	tlsPort int

	checks chan struct{} // running pre-visit checks (check.go)

	mu      sync.Mutex
	quota   map[string]int         // credential → allocations held
	pending map[string][]time.Time // credential → quota granted, allocation not made yet
	conns   map[*relayConn]struct{}

	allocs, allocsTotal, toPeers, fromPeers, packets atomic.Int64
	refused, dropped, authFail, quotaRefused         atomic.Int64
}

// Start listens and starts relaying. It returns an error naming the address
// when a listener cannot be opened.
func Start(cfg Config) (*Relay, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.UDPListeners <= 0 {
		cfg.UDPListeners = 2
	}
	if cfg.SocketBuffer <= 0 {
		cfg.SocketBuffer = 2 << 20
	}
	if cfg.MinPort <= 0 || cfg.MaxPort <= 0 {
		cfg.MinPort, cfg.MaxPort = 49152, 65535
	}
	if cfg.MinPort > cfg.MaxPort || cfg.MaxPort > 65535 {
		return nil, fmt.Errorf("turn: relay port range %d-%d is not valid", cfg.MinPort, cfg.MaxPort)
	}
	r := &Relay{cfg: cfg, now: cfg.Now, epoch: cfg.Now(), secret: cfg.Secret, quota: map[string]int{}, pending: map[string][]time.Time{}, conns: map[*relayConn]struct{}{},
		checks: make(chan struct{}, checkSlots)}
	if len(r.secret) == 0 {
		r.secret = make([]byte, 32)
		if _, err := rand.Read(r.secret); err != nil {
			return nil, err
		}
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn.listen: %w", err)
	}
	if r.public, err = publicAddr(cfg.PublicIP, host); err != nil {
		return nil, err
	}
	bind := relayBind(r.public, host)
	own := []netip.Addr{r.public}
	if b, err := netip.ParseAddr(bind); err == nil && !b.IsUnspecified() && b != r.public {
		own = append(own, b)
	}
	r.filter = NewPeerFilter(own, cfg.AllowPeers)
	// With port 0 the TCP listener must take the port the kernel gave
	// UDP; if something holds it, try another.
	_, port, _ := net.SplitHostPort(cfg.Listen)
	for try := 0; ; try++ {
		err := r.listen(host)
		if err == nil {
			break
		}
		r.closeListeners()
		r.udp, r.tcp, r.tlsLn = nil, nil, nil
		if port != "0" || try == 20 {
			return nil, err
		}
	}
	inner := &turn.RelayAddressGeneratorPortRange{
		RelayAddress: net.IP(r.public.AsSlice()), Address: bind,
		MinPort: uint16(cfg.MinPort), MaxPort: uint16(cfg.MaxPort), MaxRetries: 40,
	}
	for range r.udp {
		r.pollers = append(r.pollers, newPoller())
	}
	// Each UDP listener has its own allocations in pion (one manager per
	// listener), so its generator knows the listener its allocations'
	// clients are reached on.
	gen := &relayGen{r: r, inner: inner, poll: r.pollers[0]}
	perm := func(_ net.Addr, ip net.IP) bool {
		if r.filter.AllowedIP(ip) {
			return true
		}
		r.refused.Add(1)
		return false
	}
	sc := turn.ServerConfig{
		Realm:              Realm,
		LoggerFactory:      pionLogger(cfg.Log),
		AuthHandler:        r.auth,
		QuotaHandler:       r.allowAllocation,
		AllocationLifetime: 10 * time.Minute,
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, _, _, _ string, verdict bool) {
				if !verdict {
					r.authFail.Add(1)
				}
			},
			OnAllocationCreated: func(_, _ net.Addr, _, user, _ string, _ net.Addr, _ int) {
				r.allocs.Add(1)
				r.allocsTotal.Add(1)
				r.mu.Lock()
				r.quota[user]++
				if p := r.pending[user]; len(p) > 1 {
					r.pending[user] = p[1:]
				} else {
					delete(r.pending, user)
				}
				r.mu.Unlock()
			},
			OnAllocationDeleted: func(_, _ net.Addr, _, user, _ string) {
				r.allocs.Add(-1)
				r.mu.Lock()
				if r.quota[user]--; r.quota[user] <= 0 {
					delete(r.quota, user)
				}
				r.mu.Unlock()
			},
		},
	}
	for i, pc := range r.udp {
		lg := &relayGen{r: r, inner: inner, poll: r.pollers[i]}
		lg.listener, _ = pc.(*listenConn)
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: lg, PermissionHandler: perm})
	}
	sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: r.tcp, RelayAddressGenerator: gen, PermissionHandler: perm})
	if r.tlsLn != nil {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: r.tlsLn, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if r.server, err = turn.NewServer(sc); err != nil {
		r.closeListeners()
		r.closePollers()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return r, nil
}

// listen opens the UDP sockets (sharing one port), the TCP listener on the
// same port, and the TLS listener.
func (r *Relay) listen(host string) error {
	lc := net.ListenConfig{Control: reuseport.Control}
	addr := r.cfg.Listen
	for i := 0; i < r.cfg.UDPListeners; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return fmt.Errorf("turn.listen %s (udp): %w", addr, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(r.cfg.SocketBuffer)
			_ = uc.SetWriteBuffer(r.cfg.SocketBuffer)
			lc := &listenConn{UDPConn: uc, addrs: map[netip.AddrPort]*net.UDPAddr{}, fwd: map[fwdKey]*fwd{}, r: r}
			lc.raw, _ = uc.SyscallConn()
			pc = lc
		}
		r.udp = append(r.udp, pc)
		if i == 0 {
			r.udpPort = pc.LocalAddr().(*net.UDPAddr).Port
			addr = net.JoinHostPort(host, strconv.Itoa(r.udpPort))
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("turn.listen %s (tcp): %w", addr, err)
	}
	r.tcp = ln
	r.tcpPort = ln.Addr().(*net.TCPAddr).Port
	if r.cfg.TLSListener != nil {
		r.tlsLn = r.cfg.TLSListener
		r.tlsPort = r.cfg.TLSPort
		if a, ok := r.tlsLn.Addr().(*net.TCPAddr); ok && r.tlsPort == 0 {
			r.tlsPort = a.Port
		}
	} else if r.cfg.TLSListen != "" {
		if r.cfg.TLSConfig == nil {
			return errors.New("turn.tls_listen needs the HTTPS certificate (tls.mode acme or files)")
		}
		ln, err := net.Listen("tcp", r.cfg.TLSListen)
		if err != nil {
			return fmt.Errorf("turn.tls_listen %s: %w", r.cfg.TLSListen, err)
		}
		get := r.cfg.TLSConfig
		tc := &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := get().Clone()
			c.NextProtos = nil // TURN, not HTTP/2
			return c, nil
		}}
		r.tlsLn = tls.NewListener(ln, tc)
		r.tlsPort = ln.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// listenConn is a UDP listener whose reads allocate nothing:
// net.UDPConn.ReadFrom makes a new address (two allocations) per packet,
// while a client sends thousands from the same one. Each source address
// is made once and handed out again (pion only reads and compares it).
// Only pion's read loop, one goroutine per listener, reads.
type listenConn struct {
	*net.UDPConn
	addrs map[netip.AddrPort]*net.UDPAddr
	raw   syscall.RawConn // for the poller's sendmmsg

	// The last datagram read and its source, for relayConn.WriteTo, which
	// pion calls from this listener's read goroutine while handling it.
	last    []byte
	lastSrc netip.AddrPort

	// The clients' channels pion was seen relaying (relayConn.learn).
	fwd map[fwdKey]*fwd
	r   *Relay
}

type fwdKey struct {
	src netip.AddrPort
	ch  [2]byte
}

// fwd is a channel binding pion relayed a client's ChannelData on, at
// relay clock at.
type fwd struct {
	c    *relayConn
	peer *net.UDPAddr
	at   int64
}

// fwdFresh is how long after pion last relayed a client's ChannelData on a
// channel the listener relays the client's next ones itself. Past it, the
// next datagram goes through pion again, which checks that the allocation
// and the binding still exist and, if so, confirms the channel for as long
// again: a channel that ended is used at most this long after.
const fwdFresh = int64(100 * time.Millisecond)

// maxListenAddrs bounds the address cache (forgotten all at once when full:
// a rebuilt entry costs only the two allocations it saves).
const maxListenAddrs = 4096

// ReadFrom returns the next datagram for pion. A client's ChannelData on a
// channel pion relayed within fwdFresh is relayed here instead, without
// pion's per-datagram work (the allocation and channel look-ups under
// locks, the address formatted for a debug log): the relay connection's
// WriteTo still applies the peer filter, the bandwidth limit and the
// counters.
func (l *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, ap, err := l.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if n >= 4 && n < len(p) && p[0]&0xc0 == 0x40 && l.relayed(p[:n], ap) {
			continue
		}
		a := l.addrs[ap]
		if a == nil {
			if len(l.addrs) >= maxListenAddrs {
				clear(l.addrs)
			}
			a = net.UDPAddrFromAddrPort(ap)
			l.addrs[ap] = a
		}
		l.last, l.lastSrc = p[:n], ap
		return n, a, nil
	}
}

// relayed relays ChannelData b from src to its peer if pion relayed on
// that channel within fwdFresh, and tells whether it did.
func (l *listenConn) relayed(b []byte, src netip.AddrPort) bool {
	f := l.fwd[fwdKey{src: src, ch: [2]byte(b[:2])}]
	if f == nil {
		return false
	}
	size := int(b[2])<<8 | int(b[3])
	if 4+size > len(b) || f.c.closed.Load() || l.r.elapsed()-f.at > fwdFresh {
		return false
	}
	l.last = nil // not pion's datagram: nothing to learn from it
	_, _ = f.c.WriteTo(b[4:4+size], f.peer)
	return true
}

func (r *Relay) closeListeners() {
	for _, pc := range r.udp {
		pc.Close()
	}
	if r.tcp != nil {
		r.tcp.Close()
	}
	// A listener given in Config is the caller's until the relay runs.
	if r.tlsLn != nil && r.tlsLn != r.cfg.TLSListener {
		r.tlsLn.Close()
	}
}

// Close stops the relay and ends every allocation.
func (r *Relay) Close() error {
	r.mu.Lock()
	conns := make([]*relayConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	err := r.server.Close()
	r.closePollers()
	return err
}

func (r *Relay) closePollers() {
	for _, p := range r.pollers {
		p.close()
	}
}

// Ports returns the bound UDP/TCP port and the TLS port clients are given
// (the HTTPS port when TLS shares it; 0 without TLS).
func (r *Relay) Ports() (port, tlsPort int) { return r.udpPort, r.tlsPort }

// PublicIP is the address put in relay candidates.
func (r *Relay) PublicIP() netip.Addr { return r.public }

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	return Stats{Allocations: r.allocs.Load(), AllocationsTotal: r.allocsTotal.Load(),
		BytesToPeers: r.toPeers.Load(), BytesFromPeers: r.fromPeers.Load(), PacketsRelayed: r.packets.Load(),
		PeersRefused: r.refused.Load(), PacketsDropped: r.dropped.Load(), AuthFailures: r.authFail.Load(),
		QuotaRefusals: r.quotaRefused.Load()}
}

// Credentials returns TURN REST credentials for user valid until expires:
// the username "expiry:user" and the base64 HMAC-SHA1 of it under the
// relay's secret.
func (r *Relay) Credentials(user string, expires time.Time) (username, credential string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return username, r.password(username)
}

func (r *Relay) password(username string) string {
	m := hmac.New(sha1.New, r.secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// ICEServers returns the relay's URLs under host (the site's public name,
// which the TLS certificate covers) with credentials for user.
func (r *Relay) ICEServers(host, user string, expires time.Time) []ICEServer {
	username, cred := r.Credentials(user, expires)
	hp := net.JoinHostPort(host, strconv.Itoa(r.udpPort))
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if r.tlsPort != 0 {
		urls = append(urls, "turns:"+net.JoinHostPort(host, strconv.Itoa(r.tlsPort))+"?transport=tcp")
	}
	return []ICEServer{{URLs: urls, Username: username, Credential: cred}}
}

// auth checks a TURN REST credential. The user id it returns is the whole
// username, so quotas count per credential and the relay connections know
// when the credential expires.
func (r *Relay) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, _, ok := strings.Cut(ra.Username, ":")
	t, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || !r.now().Before(time.Unix(t, 0)) {
		return "", nil, false // counted by OnAuth
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, r.password(ra.Username)), true
}

// allowAllocation is the per-credential allocation quota. pion asks it
// before making the allocation, which can still fail (no relay port left):
// so a grant is only pending until OnAllocationCreated counts the
// allocation, and a grant that no allocation followed within
// pendingGrant is forgotten rather than held against the credential.
func (r *Relay) allowAllocation(user, _ string, _ net.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	p := r.pending[user]
	for len(p) > 0 && now.Sub(p[0]) > pendingGrant {
		p = p[1:]
	}
	if r.cfg.UserQuota > 0 && r.quota[user]+len(p) >= r.cfg.UserQuota {
		r.pending[user] = p
		if len(p) == 0 {
			delete(r.pending, user)
		}
		r.quotaRefused.Add(1)
		return false
	}
	r.pending[user] = append(p, now)
	return true
}

// grantFailed forgets a pending quota grant of user whose allocation could
// not be made.
func (r *Relay) grantFailed(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pending[user]; len(p) > 1 {
		r.pending[user] = p[:len(p)-1]
	} else {
		delete(r.pending, user)
	}
}

// pendingGrant is how long a quota grant waits for its allocation: pion
// makes it right after asking, in the same request.
const pendingGrant = 5 * time.Second

// credentialExpiry reads the expiry from a TURN REST username.
func credentialExpiry(username string) time.Time {
	exp, _, _ := strings.Cut(username, ":")
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(t, 0)
}

// publicAddr is the configured public IP, else the listen host when it is a
// specific address, else the first global unicast interface address
// (IPv4 first), else 127.0.0.1.
func publicAddr(configured, listenHost string) (netip.Addr, error) {
	if configured != "" {
		a, err := netip.ParseAddr(configured)
		if err != nil {
			return a, fmt.Errorf("turn.public_ip: %q is not an IP address", configured)
		}
		return a.Unmap(), nil
	}
	if a, err := netip.ParseAddr(listenHost); err == nil && !a.IsUnspecified() {
		return a.Unmap(), nil
	}
	var v6 netip.Addr
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			n, ok := ad.(*net.IPNet)
			if !ok {
				continue
			}
			a, ok := netip.AddrFromSlice(n.IP)
			if !ok || !a.IsGlobalUnicast() {
				continue
			}
			a = a.Unmap()
			if a.Is4() {
				return a, nil
			}
			if !v6.IsValid() {
				v6 = a
			}
		}
	}
	if v6.IsValid() {
		return v6, nil
	}
	return netip.MustParseAddr("127.0.0.1"), nil
}

// relayBind is the address relay sockets bind to: the public address when
// it is local (so peers' packets come back from the address they were sent
// to), else the listen host, else every address.
func relayBind(public netip.Addr, listenHost string) string {
	if pc, err := net.ListenPacket("udp", net.JoinHostPort(public.String(), "0")); err == nil {
		pc.Close()
		return public.String()
	}
	if listenHost != "" {
		return listenHost
	}
	if public.Is6() {
		return "::"
	}
	return "0.0.0.0"
}

// relayGen wraps pion's port-range generator: every relayed socket is a
// relayConn, and TCP relays (RFC 6062), which WebRTC does not use, are not
// offered.
type relayGen struct {
	r        *Relay
	inner    *turn.RelayAddressGeneratorPortRange
	listener *listenConn // the UDP listener of these allocations' clients; nil for TCP and TLS
	poll     *poller
}

func (g *relayGen) Validate() error { return g.inner.Validate() }

func (g *relayGen) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.inner.AllocatePacketConn(c)
	if err != nil {
		g.r.grantFailed(c.UserID)
		return nil, nil, err
	}
	return g.r.wrap(pc, c.UserID, g.listener, g.poll), addr, nil
}

var errNoTCPRelay = errors.New("turn: TCP relaying is not offered")

func (g *relayGen) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayGen) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) { return nil, errNoTCPRelay }

// relayConn is one allocation's relayed socket. It drops packets to
// addresses the filter refuses and, on the relay's own addresses, to ports
// outside the relay range (the permission handler sees only the IP); it
// enforces the bandwidth limit per direction, counts bytes, and closes
// when the credential expires, so no allocation outlives its credential.
//
// It sits on the path of every relayed packet, so that path takes no lock
// and allocates nothing: the last destination found allowed is remembered
// (a peer is checked once, not per packet), the buckets are atomic, and
// reads reuse the previous source address while the peer stays the same.
//
// On Linux its socket is read by the relay's poller (poll_linux.go) rather
// than by pion's goroutine for the allocation: a peer's datagram on the
// channel the client is sending on goes straight back to the client as
// ChannelData (deliver); everything else reaches pion through ReadFrom.
type relayConn struct {
	net.PacketConn
	udp     *net.UDPConn // the same socket, for allocation-free reads; nil if not UDP
	r       *Relay
	in, out bucket
	okDst   atomic.Pointer[netip.AddrPort] // last destination the filter allowed
	lastSrc *net.UDPAddr                   // ReadFrom's previous source (only pion's read goroutine uses it)
	timer   *time.Timer
	once    sync.Once

	listener *listenConn // the UDP listener the client is reached on; nil for TCP and TLS
	poll     *poller     // nil: pion's goroutine reads the socket
	raw      syscall.RawConn
	pollID   int32
	route    atomic.Pointer[route] // the client's current channel, learned in WriteTo
	routeAt  atomic.Int64          // relay clock when a client's packet last confirmed route
	inbox    chan inPacket         // the poller's datagrams for pion
	done     chan struct{}         // closed by Close: ends ReadFrom
	closed   atomic.Bool
}

// route is a channel binding seen in use: pion relayed the client's
// ChannelData on channel ch to peer, so the binding existed then.
type route struct {
	peer     netip.AddrPort
	ch       [2]byte
	client   netip.AddrPort
	listener *listenConn
}

// routeFresh is how long after the client's last packet on a channel the
// peer's datagrams go back on it without pion. pion still decides whether
// the binding exists (it refuses the client's ChannelData once it has
// expired, and then no route is confirmed): at most this long after the
// binding ends can a peer that the client had bound still reach it.
const routeFresh = int64(time.Second)

type inPacket struct {
	b   []byte
	src netip.AddrPort
}

func (r *Relay) wrap(pc net.PacketConn, user string, l *listenConn, p *poller) net.PacketConn {
	c := &relayConn{PacketConn: pc, r: r, listener: l}
	c.udp, _ = pc.(*net.UDPConn)
	if c.udp != nil {
		// As the listeners': one poller serves many relay sockets, and a
		// moment's delay must not overflow the kernel's default queue.
		_ = c.udp.SetReadBuffer(r.cfg.SocketBuffer)
		_ = c.udp.SetWriteBuffer(r.cfg.SocketBuffer)
	}
	c.in.rate, c.out.rate = r.cfg.BandwidthBytes, r.cfg.BandwidthBytes
	c.inbox, c.done = make(chan inPacket, 64), make(chan struct{})
	if p.add(c) {
		c.poll = p
	}
	// r.mu orders the timer's assignment before Close reads it (the
	// timer may fire at once).
	r.mu.Lock()
	r.conns[c] = struct{}{}
	if exp := credentialExpiry(user); !exp.IsZero() {
		c.timer = time.AfterFunc(exp.Sub(r.now()), func() { c.Close() })
	}
	r.mu.Unlock()
	return c
}

func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		c.r.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		delete(c.r.conns, c)
		c.r.mu.Unlock()
		if c.poll != nil {
			c.poll.remove(c)
		}
		c.closed.Store(true)
		close(c.done)
		err = c.PacketConn.Close()
	})
	return err
}

// allowedDst tells whether the relay may send to ua: an address the filter
// allows and, on the relay's own addresses, a port of the relay range.
func (c *relayConn) allowedDst(ua *net.UDPAddr) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok || ua.Port <= 0 || ua.Port > 65535 {
		return netip.AddrPort{}, false
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port))
	if last := c.okDst.Load(); last != nil && *last == ap {
		return ap, true
	}
	f := c.r.filter
	if !f.Allowed(ap.Addr()) || (f.Own(ap.Addr()) && (ua.Port < c.r.cfg.MinPort || ua.Port > c.r.cfg.MaxPort)) {
		return ap, false
	}
	c.okDst.Store(&ap)
	return ap, true
}

// WriteTo sends a client's data to a peer. A dropped packet reports
// success: UDP loses packets, and an error would end the allocation.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		c.r.dropped.Add(1)
		return len(p), nil
	}
	ap, ok := c.allowedDst(ua)
	if !ok {
		c.r.dropped.Add(1)
		return len(p), nil
	}
	var now int64
	if c.out.rate > 0 || c.listener != nil {
		now = c.r.elapsed()
	}
	if c.out.rate > 0 && !c.out.take(len(p), now) {
		c.r.dropped.Add(1)
		return len(p), nil
	}
	c.learn(p, ua, ap, now)
	var n int
	var err error
	if c.udp != nil {
		n, err = c.udp.WriteToUDP(p, ua)
	} else {
		n, err = c.PacketConn.WriteTo(p, addr)
	}
	c.r.toPeers.Add(int64(n))
	c.r.packets.Add(1)
	return n, err
}

// learn remembers the channel of a client's ChannelData that pion is
// relaying to peer, for both directions. pion calls WriteTo from the
// listener's read goroutine with the data still in the buffer the listener
// read it into, after it found the channel bound to peer: p then starts 4
// bytes into the listener's last datagram, whose first two bytes are the
// channel number.
func (c *relayConn) learn(p []byte, ua *net.UDPAddr, peer netip.AddrPort, now int64) {
	l := c.listener
	if l == nil || len(p) == 0 || len(l.last) < 4+len(p) || &l.last[4] != &p[0] || l.last[0]&0xc0 != 0x40 {
		return
	}
	ch := [2]byte(l.last[:2])
	key := fwdKey{src: l.lastSrc, ch: ch}
	if f := l.fwd[key]; f != nil && f.c == c && f.peer == ua {
		f.at = now
	} else {
		if len(l.fwd) >= maxListenAddrs {
			clear(l.fwd)
		}
		l.fwd[key] = &fwd{c: c, peer: ua, at: now}
	}
	if c.poll == nil {
		return
	}
	if rt := c.route.Load(); rt == nil || rt.peer != peer || rt.ch != ch || rt.client != l.lastSrc {
		c.route.Store(&route{peer: peer, ch: ch, client: l.lastSrc, listener: l})
	}
	// Confirming every 10 ms is plenty and keeps the poller's cache line
	// mostly unwritten.
	if now-c.routeAt.Load() > int64(10*time.Millisecond) {
		c.routeAt.Store(now)
	}
}

// deliver passes on a peer's datagram read by the poller: it returns the
// route to send it on as ChannelData straight to the client when it comes
// from the peer of the channel the client is using, else hands it to
// pion's goroutine (ReadFrom), which looks up the channel or permission
// itself, and returns nil.
func (c *relayConn) deliver(data []byte, src netip.AddrPort) *route {
	now := c.r.elapsed()
	if c.in.rate > 0 && !c.in.take(len(data), now) {
		c.r.dropped.Add(1)
		return nil
	}
	c.r.fromPeers.Add(int64(len(data)))
	c.r.packets.Add(1)
	if rt := c.route.Load(); rt != nil && rt.peer == src && now-c.routeAt.Load() <= routeFresh {
		return rt
	}
	select {
	case c.inbox <- inPacket{b: bytes.Clone(data), src: src}:
	default:
		c.r.dropped.Add(1) // pion is not keeping up: UDP loses it
	}
	return nil
}

// ReadFrom receives a peer's data for the client, dropping what exceeds the
// bandwidth limit.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.poll != nil {
		select {
		case pk := <-c.inbox:
			return copy(p, pk.b), c.srcAddr(pk.src), nil
		case <-c.done:
			return 0, nil, net.ErrClosed
		}
	}
	for {
		n, addr, err := c.read(p)
		if err != nil {
			return n, addr, err
		}
		if c.in.rate > 0 && !c.in.take(n, c.r.elapsed()) {
			c.r.dropped.Add(1)
			continue
		}
		c.r.fromPeers.Add(int64(n))
		c.r.packets.Add(1)
		return n, addr, nil
	}
}

// read is ReadFrom without the two allocations net.UDPConn.ReadFrom makes
// per packet: the source address is returned as the same *net.UDPAddr as
// long as it does not change (pion only reads and compares it).
func (c *relayConn) read(p []byte) (int, net.Addr, error) {
	if c.udp == nil {
		return c.PacketConn.ReadFrom(p)
	}
	n, ap, err := c.udp.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, c.srcAddr(ap), nil
}

// srcAddr is ap as the previous source address when it is the same.
func (c *relayConn) srcAddr(ap netip.AddrPort) *net.UDPAddr {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if l := c.lastSrc; l == nil || l.Port != int(ap.Port()) || !sameIP(l.IP, ap.Addr()) {
		c.lastSrc = net.UDPAddrFromAddrPort(ap)
	}
	return c.lastSrc
}

// sameIP compares a net.IP with a netip.Addr without allocating.
func sameIP(ip net.IP, a netip.Addr) bool {
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a
}

// elapsed is the relay clock in nanoseconds since the relay started
// (monotonic with the real clock).
func (r *Relay) elapsed() int64 { return int64(r.now().Sub(r.epoch)) }

// bucket is a token bucket of bytes holding one second of traffic, kept
// as its "theoretical arrival time" (GCRA) in one atomic, so the relay's
// hot path takes no lock: a packet of n bytes pushes tat by n/rate
// seconds, and is refused when that would put tat more than one second
// ahead of now (the bucket would be empty). It starts full.
type bucket struct {
	rate int64        // bytes per second; 0: unlimited
	tat  atomic.Int64 // nanoseconds on the relay clock
}

// take tells whether n bytes may pass at now (nanoseconds on the relay
// clock), and takes them from the bucket if so.
func (b *bucket) take(n int, now int64) bool {
	if b.rate <= 0 {
		return true
	}
	cost := int64(n) * int64(time.Second) / b.rate
	for {
		tat := b.tat.Load()
		t := max(tat, now)
		if t+cost-now > int64(time.Second) {
			return false
		}
		if b.tat.CompareAndSwap(tat, t+cost) {
			return true
		}
	}
}

// pionLogger sends pion's errors to the application's logger and drops the
// rest (pion's debug output would name clients' addresses per packet).
func pionLogger(l *slog.Logger) logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	f.Writer = slogWriter{l}
	return f
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("turn", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
