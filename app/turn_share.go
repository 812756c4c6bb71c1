package app

// TURN over TLS on the HTTPS port (issue 7 item 3, DESIGN §6): with
// turn.tls_listen = "https" the relay answers TURN over TLS on server.addr
// beside the site, so a patient whose network lets only 443 out still
// reaches it. visit.PortShare tells the two apart on the one listener;
// this file wires it between Run, Serve and the relay.

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"

	"daraport/app/visit"
)

// turnOnHTTPS tells whether the relay shares the HTTPS port.
func (s *Server) turnOnHTTPS() bool {
	return s.cfg.TURN.Enabled && s.cfg.TURN.TLSListen == TURNOnHTTPS && s.cfg.TLS.Mode != "off"
}

// httpsListener puts TLS on server.addr's listener: a plain TLS listener,
// or, with TURN over TLS on the HTTPS port, a PortShare whose TURN side
// startTURN gives the relay.
func (s *Server) httpsListener(ln net.Listener, tcfg *tls.Config) net.Listener {
	if !s.turnOnHTTPS() {
		return tls.NewListener(ln, tcfg)
	}
	s.visit.share = visit.SharePort(ln, tcfg, s.visit.peek)
	return s.visit.share.HTTP()
}

// shareHTTPS makes the HTTPS server on a shared port see as HTTPS (r.TLS
// set) the connections the share had to decrypt to route: HTTP/1 clients
// that offered no ALPN.
func (s *Server) shareHTTPS(hs *http.Server) {
	if s.visit.share == nil {
		return
	}
	hs.ConnContext = visit.ShareConnContext
	hs.Handler = visit.WithShareTLS(hs.Handler)
}

// shareTURN fills the relay's configuration for TURN over TLS on the HTTPS
// port. Without a share (Serve called on a listener of its own) the relay
// runs without TLS.
func (s *Server) shareTURN(cfg *visit.Config) {
	cfg.TLSListen = ""
	if s.visit.share != nil {
		cfg.TLSListener, cfg.TLSPort = s.visit.share.TURN(), s.httpsPort()
	}
}

// httpsPort is the HTTPS port as clients reach it, which the relay
// advertises: server.base_url's (443 when it names none), else
// server.addr's.
func (s *Server) httpsPort() int {
	if s.baseURL.Scheme == "https" {
		if p, err := strconv.Atoi(s.baseURL.Port()); err == nil {
			return p
		}
		return 443
	}
	p, _ := portOf(s.cfg.Server.Addr)
	return p
}

// turnTLSWhere says where TURN over TLS listens, for the start-up log.
func (s *Server) turnTLSWhere() string {
	switch t := s.cfg.TURN.TLSListen; {
	case t == TURNOnHTTPS && s.visit.share != nil:
		return "https port " + s.cfg.Server.Addr + " (shared with HTTPS)"
	case t == TURNOnHTTPS:
		return "off (turn.tls_listen = \"https\" needs the HTTPS listener)"
	case t == "":
		return "off"
	default:
		return t
	}
}
