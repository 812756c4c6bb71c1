package app

import (
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
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/store"
)

// findPebble finds the pebble ACME test server: PATH, $GOBIN, then
// $HOME/go/bin (where `go install` puts it). CI installs it (.ci/run), so
// its absence is a failure, not a reason to skip.
func findPebble(t *testing.T) string {
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, gp := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(gp, "bin"))
			}
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "pebble")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	// Not installed: build the pinned version into the user's cache once,
	// as the CLI tests build daraport itself, so `go test ./...` needs no
	// set-up step beyond Go.
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	tools := filepath.Join(cache, "daraport-tools")
	p := filepath.Join(tools, "pebble")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cmd := exec.Command("go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1")
	cmd.Env = append(os.Environ(), "GOBIN="+tools, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pebble not found in PATH, GOBIN or ~/go/bin, and `go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1` failed: %v\n%s", err, out)
	}
	return p
}

// pebbleServer is a running pebble on loopback.
type pebbleServer struct {
	dir       string // ACME directory URL
	listenCA  string // PEM file trusted for pebble's own HTTPS (tls.acme_root_ca_file)
	issuerCAs *x509.CertPool
}

// startPebble runs pebble with a config written here (127.0.0.1 only, a
// listener certificate made here). alwaysValid skips challenge validation;
// otherwise pebble validates HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort
// of the name asked for.
func startPebble(t *testing.T, alwaysValid bool, httpPort, tlsPort int) *pebbleServer {
	bin := findPebble(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestCert(t, certFile, keyFile, 1, []string{"localhost"}, true)
	listen, mgmt := freeAddr(t), freeAddr(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	if alwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &logs}, lockedWriter{&mu, &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("pebble log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// The issuing root, to trust the certificates pebble gives out.
	var root []byte
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := c.Get("https://" + mgmt + "/roots/0")
		if err == nil {
			root, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	issuers := x509.NewCertPool()
	if !issuers.AppendCertsFromPEM(root) {
		t.Fatalf("pebble root is not PEM: %q", root)
	}
	return &pebbleServer{dir: "https://" + listen + "/dir", listenCA: certFile, issuerCAs: issuers}
}

// startTLSServer runs the whole server (Run) with change applied to its
// config, and returns it with a stop function.
func startTLSServer(t *testing.T, change func(*Config), tweak func(*Server)) *Server {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Server.DataDir = dir
	change(&cfg)
	cfg.FollowAddr()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	db, err := store.Open(context.Background(), store.Options{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets"), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		db.Close()
	})
	return srv
}

// servedCert connects to addr asking for serverName, verifying against
// roots, and returns the leaf; it retries until deadline.
func servedCert(t *testing.T, addr, serverName string, roots *x509.CertPool, wait time.Duration, accept func(*x509.Certificate) bool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last error
	for time.Now().Before(deadline) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: serverName, RootCAs: roots})
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if accept == nil || accept(leaf) {
				return leaf
			}
			last = fmt.Errorf("certificate serial %s not the one awaited", leaf.SerialNumber)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no acceptable certificate from %s for %s within %s: %v", addr, serverName, wait, last)
	return nil
}

// httpsGet fetches https://name/path from addr, trusting roots.
func httpsGet(t *testing.T, addr, name, path string, roots *x509.CertPool) *http.Response {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get("https://" + name + path)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestACME gets a certificate from a real ACME server (pebble) on loopback,
// serves HTTPS with it, and renews it on demand. AlwaysValid uses a test
// name without DNS; HTTP01 and TLSALPN01 make pebble really validate the
// challenge against Daraport's own listeners for "localhost".
func TestACME(t *testing.T) {
	t.Run("AlwaysValid", func(t *testing.T) {
		peb := startPebble(t, true, 5002, 5001)
		addr, httpAddr := freeAddr(t), freeAddr(t)
		const name = "clinic.daraport.test"
		srv := startTLSServer(t, func(c *Config) {
			c.Server.Addr, c.TLS.HTTPAddr = addr, httpAddr
			c.TLS.Mode, c.TLS.Domains, c.TLS.Email = "acme", []string{name}, "ops@clinic.daraport.test"
			c.TLS.ACMEDirectory, c.TLS.ACMERootCAFile = peb.dir, peb.listenCA
		}, nil)
		first := servedCert(t, addr, name, peb.issuerCAs, 60*time.Second, nil)
		if !strings.Contains(strings.Join(first.DNSNames, ","), name) {
			t.Fatalf("certificate names %v", first.DNSNames)
		}
		res := httpsGet(t, addr, name, "/healthz", peb.issuerCAs)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Fatalf("https /healthz: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
		}
		// Stored in the data directory, so a restart asks nothing again.
		var stored []string
		filepath.WalkDir(filepath.Join(srv.cfg.Server.DataDir, "acme"), func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".crt") {
				stored = append(stored, p)
			}
			return nil
		})
		if len(stored) == 0 {
			t.Fatal("no certificate stored under data_dir/acme")
		}
		if exp := srv.ops.certs.expiry(); !exp.Equal(first.NotAfter) {
			t.Fatalf("expiry shown %v, served certificate ends %v", exp, first.NotAfter)
		}
		// The TURN TLS listener's configuration presents the same certificate.
		c, err := srv.tlsConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil || !bytes.Equal(c.Certificate[0], first.Raw) {
			t.Fatalf("tlsConfig().GetCertificate: %v", err)
		}
		// Plain HTTP redirects to HTTPS.
		hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r2, err := hc.Get("http://" + httpAddr + "/login")
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(r2.Header.Get("Location"), "https://") {
			t.Fatalf("plain HTTP: %d %q", r2.StatusCode, r2.Header.Get("Location"))
		}

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := srv.ops.certs.renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
		second := servedCert(t, addr, name, peb.issuerCAs, 10*time.Second, func(c *x509.Certificate) bool {
			return c.SerialNumber.Cmp(first.SerialNumber) != 0
		})
		if second.NotBefore.Before(first.NotBefore) {
			t.Fatalf("renewed certificate is older: %v < %v", second.NotBefore, first.NotBefore)
		}
	})
	for _, tc := range []struct {
		name              string
		noHTTP, noTLSALPN bool
	}{{"HTTP01", false, true}, {"TLSALPN01", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			addr, httpAddr := freeAddr(t), freeAddr(t)
			hp, _ := portOf(httpAddr)
			tp, _ := portOf(addr)
			peb := startPebble(t, false, hp, tp)
			startTLSServer(t, func(c *Config) {
				c.Server.Addr, c.TLS.HTTPAddr = addr, httpAddr
				c.TLS.Mode, c.TLS.Domains = "acme", []string{"localhost"}
				c.TLS.ACMEDirectory, c.TLS.ACMERootCAFile = peb.dir, peb.listenCA
			}, func(s *Server) {
				// Leave one challenge type, so this subtest proves it.
				s.ops.certs.issuer.DisableHTTPChallenge = tc.noHTTP
				s.ops.certs.issuer.DisableTLSALPNChallenge = tc.noTLSALPN
			})
			servedCert(t, addr, "localhost", peb.issuerCAs, 60*time.Second, nil)
		})
	}
}

// TestTLSFilesReload swaps the certificate files under a running server:
// new connections get the new certificate, without a restart.
func TestTLSFilesReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeTestCert(t, certFile, keyFile, 100, []string{"localhost"}, true)
	addr := freeAddr(t)
	srv := startTLSServer(t, func(c *Config) {
		c.Server.Addr, c.TLS.HTTPAddr = addr, freeAddr(t)
		c.TLS.Mode, c.TLS.CertFile, c.TLS.KeyFile = "files", certFile, keyFile
	}, func(s *Server) { s.ops.certs.every = 50 * time.Millisecond })
	first := servedCert(t, addr, "localhost", pool, 10*time.Second, nil)
	if first.SerialNumber.Int64() != 100 {
		t.Fatalf("serial %s, want 100", first.SerialNumber)
	}
	// Replace the pair the way an operator or certbot would: new files
	// renamed over the old ones.
	newCert, newKey := filepath.Join(dir, "cert.new"), filepath.Join(dir, "key.new")
	pool2 := writeTestCert(t, newCert, newKey, 200, []string{"localhost"}, true)
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(newCert, later, later)
	os.Chtimes(newKey, later, later)
	if err := os.Rename(newKey, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newCert, certFile); err != nil {
		t.Fatal(err)
	}
	second := servedCert(t, addr, "localhost", pool2, 10*time.Second, func(c *x509.Certificate) bool { return c.SerialNumber.Int64() == 200 })
	if !srv.ops.certs.expiry().Equal(second.NotAfter) {
		t.Fatalf("expiry %v, served %v", srv.ops.certs.expiry(), second.NotAfter)
	}
	// A broken pair written later keeps the good one served.
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	time.Sleep(200 * time.Millisecond)
	servedCert(t, addr, "localhost", pool2, 5*time.Second, func(c *x509.Certificate) bool { return c.SerialNumber.Int64() == 200 })
}

// writeTestCert writes a self-signed certificate (a CA, so it can also be
// pebble's listener certificate) for names and 127.0.0.1, and returns a
// pool trusting it.
func writeTestCert(t *testing.T, certFile, keyFile string, serial int64, names []string, ca bool) *x509.CertPool {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(serial) * time.Hour),
		DNSNames: names, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: ca}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(priv)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}
