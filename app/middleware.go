package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"daraport/store"
)

// route is one entry of the route table: every route declares the permission
// the policy checks before its handler runs.
type route struct {
	method, path string
	perm         Perm
	h            http.HandlerFunc
	// practice names the path value holding the practice the route acts
	// on ("id" for /pro/p/{id}/…): the policy is then asked about that
	// practice, and a refusal answers 404 (its existence is not revealed).
	practice string
	// auditDenied records a refusal on another practice in the audit log
	// (the workspace's staff routes).
	auditDenied bool
}

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.path, s.guard(rt))
	}
	mux.HandleFunc("GET /assets/", s.assets.serve)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, errorf(ECodeForbidden, "error.cross_origin"))
	}))
	var h http.Handler = mux
	h = s.gates(h)
	h = s.authenticate(h)
	h = cop.Handler(h)
	h = s.secureHeaders(h)
	h = s.logRequests(h)
	return s.recoverer(h)
}

// guard checks the route's permission, then runs its handler.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := r.Context().Value(recordKey).(*requestRecord); ok {
			rec.route = rt.method + " " + rt.path
		}
		a := actorFrom(r)
		t := Target{}
		if rt.perm == PermOwnAccount && a != nil {
			t.UserID = a.User.ID
		}
		if rt.practice != "" {
			t.PracticeID = r.PathValue(rt.practice)
		}
		if !Allow(a, rt.perm, t) {
			if a == nil {
				s.error(w, r, errorf(ECodeUnauthorized, "error.sign_in_first"))
				return
			}
			if rt.practice != "" {
				if rt.auditDenied {
					s.auditDenied(r, "practice", t.PracticeID) // workspace.go
				}
				s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
				return
			}
			s.error(w, r, errorf(ECodeForbidden, "error.forbidden"))
			return
		}
		rt.h(w, r)
	})
}

// authorize asks the policy about a specific object; on refusal it answers
// 404 (the object's existence is not revealed) and returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, perm Perm, t Target) bool {
	if Allow(actorFrom(r), perm, t) {
		return true
	}
	s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
	return false
}

const pendingKey ctxKey = 100

// authenticate identifies the caller: a bearer token on the API, else the
// session cookie. A session still waiting for its second factor is kept
// apart: it grants nothing but the 2FA step.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/assets/") || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if isAPI(r) {
			if auth := r.Header.Get("Authorization"); auth != "" {
				a, err := s.apiActor(r.Context(), auth)
				if err != nil {
					s.error(w, r, err)
					return
				}
				if !s.limits.api.allow(a.Token.ID) {
					w.Header().Set("Retry-After", "1")
					s.error(w, r, errorf(ECodeRateLimited, "error.rate_limited"))
					return
				}
				next.ServeHTTP(w, withActor(r, a))
				return
			}
		}
		a := s.loadSession(w, r)
		if a != nil && a.Session.MFAPending {
			r = r.WithContext(context.WithValue(r.Context(), pendingKey, a))
			a = nil
		}
		if a != nil {
			r = withActor(r, a)
		}
		next.ServeHTTP(w, r)
	})
}

func pendingFrom(r *http.Request) *Actor {
	a, _ := r.Context().Value(pendingKey).(*Actor)
	return a
}

func (s *Server) apiActor(ctx context.Context, auth string) (*Actor, error) {
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errorf(ECodeUnauthorized, "error.bad_token")
	}
	key := store.HashToken(strings.TrimSpace(token))
	now := s.clock()
	if a := s.tokens.get(key, s.db.AuthEpoch(), now); a != nil {
		return a, nil
	}
	// Read the epoch before the row: a change committed in between makes
	// the entry stale at once rather than cached as current.
	epoch := s.db.AuthEpoch()
	// Token, user and memberships in one read.
	t, u, ms, err := s.db.FindAPIActor(ctx, strings.TrimSpace(token))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(ECodeUnauthorized, "error.bad_token")
		}
		return nil, err
	}
	if !u.DisabledAt.IsZero() {
		return nil, errorf(ECodeUnauthorized, "error.bad_token")
	}
	if now.Sub(t.LastUsedAt) > time.Minute {
		_ = s.db.TouchAPIToken(ctx, t.ID)
		t.LastUsedAt = now
	}
	a := &Actor{User: u, Memberships: ms, Token: t}
	s.tokens.put(key, a, epoch, now)
	return a, nil
}

// gates sends browsers where they must go first: /setup until an admin
// exists, the 2FA step while it is pending, consent until it is given.
func (s *Server) gates(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/assets/") || p == "/healthz" || p == "/metrics" || isAPI(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !s.setupDone(r.Context()) {
			if p != "/setup" && p != "/lang" {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if pendingFrom(r) != nil && p != "/login/2fa" && p != "/logout" && p != "/lang" {
			http.Redirect(w, r, "/login/2fa", http.StatusSeeOther)
			return
		}
		if a := actorFrom(r); a != nil && a.User.ConsentVersion != consentVersion &&
			p != "/consent" && p != "/logout" && p != "/lang" {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/consent?next="+url.QueryEscape(safeNext(r.URL.RequestURI())), http.StatusSeeOther)
				return
			}
			s.error(w, r, errorf(ECodeForbidden, "error.consent_first"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secureHeaders sets the security headers of every response: a strict CSP
// (no inline script or style), no framing, no sniffing, camera and
// microphone for this site only, HSTS under TLS.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	tls := s.cfg.TLS.Mode != "off"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "+
			"form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()")
		// Behind a reverse proxy (tls.mode off) HSTS follows the trusted
		// proxy's X-Forwarded-Proto.
		if tls || s.forwardedHTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

type recordKeyT int

const recordKey recordKeyT = 0

// requestRecord collects what the access log prints: the route pattern, never
// the concrete path or query (they can carry tokens), and the status.
type requestRecord struct {
	route  string
	status int
}

type statusWriter struct {
	http.ResponseWriter
	rec *requestRecord
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.rec.status == 0 {
		sw.rec.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.rec.status == 0 {
		sw.rec.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

func (sw *statusWriter) Flush() {
	if f, ok := sw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &requestRecord{}
		next.ServeHTTP(&statusWriter{ResponseWriter: w, rec: rec}, r.WithContext(context.WithValue(r.Context(), recordKey, rec)))
		if strings.HasPrefix(r.URL.Path, "/assets/") {
			return
		}
		route := rec.route
		if route == "" {
			route = r.Method + " (unrouted)"
		}
		s.countRequest(route, rec.status)
		s.log.Debug("http", "route", route, "status", rec.status, "ms", time.Since(start).Milliseconds())
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "value", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// clientIP is the caller's address: the connection's peer, or the last
// address added by a trusted proxy in X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.proxies) == 0 || !s.trusted(host) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if net.ParseIP(h) == nil {
			return host
		}
		if !s.trusted(h) {
			return h
		}
	}
	return host
}

func (s *Server) trusted(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, n := range s.proxies {
		if n.Contains(p) {
			return true
		}
	}
	return false
}

// safeNext returns next if it is a path of this site, else "/". It refuses
// scheme-relative ("//evil"), backslash and absolute URLs.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}
