package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// certSource hands out the server's certificate for tls.mode "files" or
// "acme"; the HTTPS listener and the TURN TLS listener share it, so both
// always present the same, current certificate.
type certSource struct {
	mode string

	// files mode: the pair is re-read when either file's modification time
	// changes, looked at no more often than every (a stat per handshake
	// would be wasted on a busy server; a renewed file is picked up within
	// seconds).
	certFile, keyFile string
	every             time.Duration
	mu                sync.Mutex
	cert              *tls.Certificate
	certMod, keyMod   time.Time
	checked           time.Time
	log               *slog.Logger

	// acme mode.
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	cache   *certmagic.Cache
	domains []string
}

// newCertSource prepares the certificate source for cfg; nil when TLS is
// off. Nothing is read or obtained yet: load does that in Run.
func newCertSource(cfg Config, log *slog.Logger) (*certSource, error) {
	t := cfg.TLS
	switch t.Mode {
	case "files":
		return &certSource{mode: "files", certFile: t.CertFile, keyFile: t.KeyFile, every: 3 * time.Second, log: log}, nil
	case "acme":
		return newACMESource(cfg, log)
	}
	return nil, nil
}

func newACMESource(cfg Config, log *slog.Logger) (*certSource, error) {
	t := cfg.TLS
	cs := &certSource{mode: "acme", domains: t.Domains, log: log}
	zl := zap.New(slogCore{log: log.With("component", "acme"), level: zapcore.InfoLevel})
	cs.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cs.magic, nil },
		Logger:           zl,
	})
	cs.magic = certmagic.New(cs.cache, certmagic.Config{
		// Certificates, account keys and locks live in the data
		// directory, so a backup of the directory or a move to another
		// machine takes them along and nothing is asked twice of the CA.
		Storage: &certmagic.FileStorage{Path: filepath.Join(cfg.Server.DataDir, "acme")},
		Logger:  zl,
		// Let's Encrypt stopped OCSP in 2025; stapling would only add
		// requests that fail.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
		OnEvent: func(ctx context.Context, event string, data map[string]any) error {
			switch event {
			case "cert_obtained", "cert_failed":
				log.Info("certificate", "event", event, "identifier", data["identifier"], "renewal", data["renewal"])
			}
			return nil
		},
	})
	tmpl := certmagic.ACMEIssuer{
		CA:     certmagic.LetsEncryptProductionCA,
		Email:  t.Email,
		Agreed: true,
		Logger: zl,
	}
	if t.ACMEDirectory != "" {
		tmpl.CA = t.ACMEDirectory
	}
	// The challenges are answered by Daraport's own listeners: HTTP-01 on
	// tls.http_addr (redirectHTTP runs the challenge handler) and
	// TLS-ALPN-01 on server.addr (the listener's GetCertificate and ALPN
	// come from certmagic). Telling certmagic those ports makes its solvers
	// find them busy and rely on the running servers.
	if p, err := portOf(t.HTTPAddr); err == nil {
		tmpl.AltHTTPPort = p
	}
	if p, err := portOf(cfg.Server.Addr); err == nil {
		tmpl.AltTLSALPNPort = p
	}
	if t.ACMERootCAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(t.ACMERootCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_root_ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.acme_root_ca_file: %s holds no PEM certificate", t.ACMERootCAFile)
		}
		tmpl.TrustedRoots = pool
	}
	cs.issuer = certmagic.NewACMEIssuer(cs.magic, tmpl)
	cs.magic.Issuers = []certmagic.Issuer{cs.issuer}
	return cs, nil
}

func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// load reads the files (files mode) so a bad pair stops start-up with a
// clear reason; in acme mode it starts obtaining or renewing in the
// background (the listeners must already answer the challenges).
func (cs *certSource) load(ctx context.Context) error {
	switch cs.mode {
	case "files":
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.reloadLocked(time.Now())
	case "acme":
		return cs.magic.ManageAsync(ctx, cs.domains)
	}
	return nil
}

// stop ends certmagic's renewal loop.
func (cs *certSource) stop() {
	if cs != nil && cs.cache != nil {
		cs.cache.Stop()
	}
}

// reloadLocked reads the pair when a file changed since the last read.
// On a bad pair (say, the certificate written but not yet the key) it keeps
// serving the previous one and tries again at the next check.
func (cs *certSource) reloadLocked(now time.Time) error {
	cs.checked = now
	ci, err := os.Stat(cs.certFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	ki, err := os.Stat(cs.keyFile)
	if err != nil {
		return fmt.Errorf("tls.key_file: %w", err)
	}
	if cs.cert != nil && ci.ModTime().Equal(cs.certMod) && ki.ModTime().Equal(cs.keyMod) {
		return nil
	}
	c, err := tls.LoadX509KeyPair(cs.certFile, cs.keyFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if cs.cert != nil {
		cs.log.Info("certificate files changed: reloaded", "not_after", c.Leaf.NotAfter)
	}
	cs.cert, cs.certMod, cs.keyMod = &c, ci.ModTime(), ki.ModTime()
	return nil
}

// getCertificate is the tls.Config hook of both modes.
func (cs *certSource) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cs.mode == "acme" {
		return cs.magic.GetCertificate(hello)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if now := time.Now(); now.Sub(cs.checked) >= cs.every {
		if err := cs.reloadLocked(now); err != nil {
			cs.log.Warn("certificate files unreadable: serving the previous certificate", "err", err)
		}
	}
	if cs.cert == nil {
		return nil, errors.New("no certificate loaded")
	}
	return cs.cert, nil
}

// expiry returns the earliest NotAfter among the served certificates, or
// the zero time when none is there yet.
func (cs *certSource) expiry() time.Time {
	var first time.Time
	note := func(c *tls.Certificate) {
		if c == nil {
			return
		}
		leaf := c.Leaf
		if leaf == nil && len(c.Certificate) > 0 {
			leaf, _ = x509.ParseCertificate(c.Certificate[0])
		}
		if leaf != nil && (first.IsZero() || leaf.NotAfter.Before(first)) {
			first = leaf.NotAfter
		}
	}
	switch cs.mode {
	case "files":
		cs.mu.Lock()
		note(cs.cert)
		cs.mu.Unlock()
	case "acme":
		for _, d := range cs.domains {
			for _, c := range cs.cache.AllMatchingCertificates(d) {
				note(&c.Certificate)
			}
		}
	}
	return first
}

// renew renews every managed certificate now, whether due or not (acme
// mode; the admin's and the tests' "renew now").
func (cs *certSource) renew(ctx context.Context) error {
	if cs == nil || cs.mode != "acme" {
		return errors.New("certificates are renewed by ACME only in tls.mode acme")
	}
	var errs []error
	for _, d := range cs.domains {
		old := cs.cache.AllMatchingCertificates(d)
		if err := cs.magic.RenewCertSync(ctx, d, true); err != nil {
			errs = append(errs, err)
			continue
		}
		// RenewCertSync only stores the new certificate; the maintenance
		// loop would swap it in later. Swap it in now: cache the new one,
		// then drop the ones it replaces.
		fresh, err := cs.magic.CacheManagedCertificate(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var stale []string
		for _, c := range old {
			if c.Hash() != fresh.Hash() {
				stale = append(stale, c.Hash())
			}
		}
		cs.cache.Remove(stale)
	}
	return errors.Join(errs...)
}

// tlsConfig is the TLS configuration of the HTTPS listener, and the one
// the TURN TLS listener (turn.tls_listen) must use so that both present the
// same certificate, reloaded or renewed in place. It is nil when tls.mode
// is off.
func (s *Server) tlsConfig() *tls.Config {
	cs := s.ops.certs
	if cs == nil {
		return nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cs.getCertificate, NextProtos: []string{"h2", "http/1.1"}}
	if cs.mode == "acme" {
		// Answers TLS-ALPN-01 challenges on this listener.
		c.NextProtos = append(c.NextProtos, acmez.ACMETLS1Protocol)
	}
	return c
}

// challengeHandler wraps the plain-HTTP handler so ACME HTTP-01 challenges
// are answered before anything is redirected.
func (s *Server) challengeHandler(h http.Handler) http.Handler {
	if cs := s.ops.certs; cs != nil && cs.issuer != nil {
		return cs.issuer.HTTPChallengeHandler(h)
	}
	return h
}

// forwardedHTTPS tells whether a request arrived over HTTPS at a trusted
// reverse proxy (tls.mode off): only then is X-Forwarded-Proto believed.
func (s *Server) forwardedHTTPS(r *http.Request) bool {
	if len(s.proxies) == 0 || r.Header.Get("X-Forwarded-Proto") != "https" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return s.trusted(host)
}

// slogCore sends certmagic's zap logs to the server's slog logger, so the
// operator sees certificate events in the one log.
type slogCore struct {
	log    *slog.Logger
	level  zapcore.Level
	fields []zapcore.Field
}

func (c slogCore) Enabled(l zapcore.Level) bool { return l >= c.level }

func (c slogCore) With(fs []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log, level: c.level, fields: append(append([]zapcore.Field{}, c.fields...), fs...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field{}, c.fields...), fs...) {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		args = append(args, k, v)
	}
	lvl := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		lvl = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		lvl = slog.LevelWarn
	case e.Level == zapcore.DebugLevel:
		lvl = slog.LevelDebug
	}
	c.log.Log(context.Background(), lvl, e.Message, args...)
	return nil
}

func (c slogCore) Sync() error { return nil }
