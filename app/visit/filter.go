package visit

import (
	"net"
	"net/netip"
)

// specialPurpose are the IANA special-purpose address blocks (RFC 6890 and
// its updates) that a relay must never reach on a client's behalf, beside
// what netip's predicates already refuse. Loopback, link-local (with the
// cloud metadata address 169.254.169.254), multicast, unspecified and
// private ranges are among them, but also CGNAT, NAT64 and the
// documentation and benchmarking ranges, which Go's IsPrivate does not
// cover (TESTING.md).
var specialPurpose = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (CGNAT)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.31.196.0/24", // AS112
	"192.52.193.0/24", // AMT
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"192.175.48.0/24", // AS112 direct delegation
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::ffff:0:0/96",   // IPv4-mapped (checked unmapped instead)
	"64:ff9b::/96",    // NAT64
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001::/23",       // IETF protocol assignments (Teredo, ORCHID, …)
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4
	"3fff::/20",       // documentation
	"5f00::/16",       // segment routing SIDs
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // deprecated site-local
	"ff00::/8",        // multicast
)

func mustPrefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// PeerFilter decides which peer addresses the relay may send to: public
// unicast addresses, the relay's own addresses (restricted to the relay
// port range by the relay's packet connections) and the operator's
// allow_peers ranges.
type PeerFilter struct {
	own   []netip.Addr
	allow []netip.Prefix
}

// NewPeerFilter builds a filter allowing, beside public unicast, the relay's
// own addresses and the allow prefixes.
func NewPeerFilter(own []netip.Addr, allow []netip.Prefix) *PeerFilter {
	f := &PeerFilter{allow: allow}
	for _, a := range own {
		f.own = append(f.own, a.Unmap())
	}
	return f
}

// Own tells whether ip is one of the relay's own addresses.
func (f *PeerFilter) Own(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, o := range f.own {
		if o == ip {
			return true
		}
	}
	return false
}

// Allowed tells whether the relay may create a permission towards ip.
func (f *PeerFilter) Allowed(ip netip.Addr) bool {
	// ::ffff:127.0.0.1 must count as 127.0.0.1: netip prefixes of IPv4
	// blocks never contain the mapped form.
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if f.Own(ip) {
		return true
	}
	for _, p := range f.allow {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range specialPurpose {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// AllowedIP is Allowed for a net.IP (what pion's PermissionHandler gets).
func (f *PeerFilter) AllowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && f.Allowed(a)
}
