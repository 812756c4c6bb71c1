// Package app is Daraport's web application: routes, middleware, sessions,
// rendering, the access policy, background jobs and the use cases that span
// capabilities. It depends on store; store never depends on it.
//
//	srv, err := app.New(cfg, db, templates.FS, assets.FS)
//	if err != nil { ... }
//	err = srv.Run(ctx) // serves until ctx is cancelled, then shuts down gracefully
package app

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"

	"daraport/store"
)

//go:embed locales/*.toml
var localesFS embed.FS

// Build information, set by main from -ldflags or the module's build info.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// BuildInfo returns version, commit and date, completing them from the
// binary's embedded VCS information when ldflags did not set them.
func BuildInfo() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			}
		}
	}
	return version, commit, date
}

// Server is the running application.
type Server struct {
	cfg     Config
	db      *store.DB
	log     *slog.Logger
	now     func() time.Time
	i18n    *catalog
	tmpl    *templates
	assets  *assetSet
	baseURL *url.URL
	handler http.Handler
	routes  []route

	limits  *limiters
	captcha *captcha
	keys    secrets
	dummy   string // a password hash checked for unknown accounts, so timing tells nothing
	cookies *sessions.CookieStore
	zones   sync.Map // time zone name → *time.Location
	bufs    sync.Pool
	started time.Time
	setupOK atomic.Bool
	setupMu sync.Mutex
	proxies []*net.IPNet
	// totpUsed remembers the last accepted TOTP time step per user, so a
	// code seen over a shoulder cannot be replayed within its 30 s.
	totpUsed sync.Map
	// rollMu serialises nightly rolls (cron, start-up, the admin button).
	rollMu sync.Mutex
	// nearby caches, for a second, the free starts offered to race losers.
	nearby sync.Map
	// bookGate bounds the API bookings served at once (appointments.go).
	bookGate chan struct{}
	// claiming holds the slots whose claim is on its way (booking.go).
	claiming sync.Map
	// tokens caches who an API token is (auth_cache.go).
	tokens tokenCache
	// intakeCache holds the questions of each type (intake.go).
	intakeCache sync.Map
	// ops holds the certificate source, request counters and backup state (ops.go).
	ops opsState
	// dlv is the outbox worker (delivery_worker.go).
	dlv *delivery
	// live fans committed appointment changes out to open planning views
	// (workspace.go).
	live liveHub
	// visit holds the video visits' signaling hub and TURN relay (visit.go).
	visit visitRuntime
}

// Option changes how New builds the server (used by tests and the demo).
type Option func(*Server)

// WithClock replaces the wall clock.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger replaces the default logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New builds the application over an open store. templatesFS holds the
// templates/ folder and assetsFS the assets/ folder; every template is parsed
// now so a broken one stops start-up.
func New(cfg Config, db *store.DB, templatesFS, assetsFS fs.FS, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, db: db, now: time.Now, started: time.Now(), bookGate: make(chan struct{}, 64)}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var err error
	if s.baseURL, err = url.Parse(cfg.Server.BaseURL); err != nil {
		return nil, fmt.Errorf("server.base_url: %w", err)
	}
	for _, p := range cfg.Server.TrustedProxies {
		n, err := parseCIDROrIP(p)
		if err != nil {
			return nil, fmt.Errorf("server.trusted_proxies: %w", err)
		}
		s.proxies = append(s.proxies, n)
	}
	locales, _ := fs.Sub(localesFS, "locales")
	if s.i18n, err = newCatalog(locales); err != nil {
		return nil, err
	}
	if s.assets, err = newAssetSet(assetsFS); err != nil {
		return nil, err
	}
	if s.tmpl, err = parseTemplates(templatesFS, s.templateFuncs()); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if s.keys, err = loadSecrets(ctx, db); err != nil {
		return nil, err
	}
	s.dummy = dummyHash
	s.cookies = s.newCookieStore()
	s.limits = newLimiters(s.now, cfg.Security.LoginAttempts, cfg.Security.APIRate)
	s.captcha = newCaptcha(s.keys.captcha, s.now)
	if s.ops.certs, err = newCertSource(cfg, s.log); err != nil {
		return nil, err
	}
	if s.dlv, err = newDelivery(s); err != nil {
		return nil, err
	}
	s.routes = s.routeTable()
	s.handler = s.buildHandler()
	return s, nil
}

// Handler returns the root HTTP handler (used by tests with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Config returns the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// Run listens on server.addr, prints the first-run setup link when needed,
// and serves until ctx is cancelled; then it stops accepting, lets requests
// in flight finish (up to 10 s) and returns.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Server.Addr, err)
	}
	if tcfg := s.tlsConfig(); tcfg != nil {
		// The TURN relay's TLS listener serves the same certificate.
		s.visit.tlsConfig = s.tlsConfig
		defer s.ops.certs.stop()
		if s.ops.certs.mode == "files" {
			if err := s.ops.certs.load(ctx); err != nil {
				ln.Close()
				return err
			}
		}
		// TLS, or TLS shared with TURN (turn.tls_listen = "https").
		ln = s.httpsListener(ln, tcfg)
		// Bound before certificates are asked for, so HTTP-01 challenges
		// find it answering.
		if hln, err := net.Listen("tcp", s.cfg.TLS.HTTPAddr); err != nil {
			s.log.Warn("plain HTTP redirect listener", "addr", s.cfg.TLS.HTTPAddr, "err", err)
		} else {
			go s.redirectHTTP(ctx, hln)
		}
		if s.ops.certs.mode == "acme" {
			// Obtaining needs the listeners up to answer the challenges;
			// it goes on in the background (with retries) while the
			// server starts.
			if err := s.ops.certs.load(ctx); err != nil {
				s.log.Error("certificates", "err", err)
			}
		}
	}
	return s.Serve(ctx, ln)
}

// redirectHTTP answers plain HTTP on tls.http_addr with a redirect to the
// HTTPS base URL (same path), so people typing the bare name get the site.
// It also answers ACME HTTP-01 challenges (tls.mode acme).
func (s *Server) redirectHTTP(ctx context.Context, ln net.Listener) {
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second,
		Handler: s.challengeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, s.link(r.URL.Path, r.URL.Query()), http.StatusMovedPermanently)
		}))}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("plain HTTP redirect listener", "addr", s.cfg.TLS.HTTPAddr, "err", err)
	}
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.announceSetup(ctx, os.Stdout); err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.shareHTTPS(hs)
	// Runs left "running" by a stop or crash are over; then catch up the
	// nights the server missed before serving.
	if _, err := s.db.FailInterruptedRuns(ctx); err != nil {
		s.log.Error("planning runs", "err", err)
	}
	if err := s.roll(ctx, s.clock()); err != nil {
		s.log.Error("planning roll at start", "err", err)
	}
	jobs := s.startJobs(ctx)
	stopDelivery := s.startDelivery(ctx)
	// Open planning event streams never end by themselves: end them when
	// shutdown starts, so it does not wait for its timeout.
	hs.RegisterOnShutdown(s.live.close)
	stopTURN := s.startTURN()
	defer stopTURN()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "base_url", s.cfg.Server.BaseURL)
	select {
	case err := <-errc:
		jobs()
		stopDelivery()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	jobs()
	stopDelivery()
	return err
}

// clock returns the current time in UTC.
func (s *Server) clock() time.Time { return s.now().UTC() }

func (s *Server) defaultLanguage() string {
	if l := supported(s.cfg.Brand.DefaultLanguage); l != "" {
		return l
	}
	return "fr"
}

// link builds an absolute URL from server.base_url (never the request's Host).
func (s *Server) link(path string, query url.Values) string {
	u := *s.baseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	return u.String()
}

func parseCIDROrIP(v string) (*net.IPNet, error) {
	if strings.Contains(v, "/") {
		_, n, err := net.ParseCIDR(v)
		return n, err
	}
	ip := net.ParseIP(v)
	if ip == nil {
		return nil, fmt.Errorf("%q is not an IP address or CIDR", v)
	}
	bits := 128
	if ip.To4() != nil {
		ip, bits = ip.To4(), 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
}
