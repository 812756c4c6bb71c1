package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"daraport/store"
)

// DoctorOptions is what `daraport doctor` was given.
type DoctorOptions struct {
	ConfigFile string   // --config, else DARAPORT_CONFIG
	DataDir    string   // --data
	Environ    []string // os.Environ()
	Timeout    time.Duration
}

// doctor collects findings and prints each as it comes.
type doctor struct {
	w        io.Writer
	problems int
}

func (d *doctor) ok(format string, args ...any) {
	fmt.Fprintf(d.w, "ok    %s\n", fmt.Sprintf(format, args...))
}

func (d *doctor) note(format string, args ...any) {
	fmt.Fprintf(d.w, "note  %s\n", fmt.Sprintf(format, args...))
}

// fail records a problem and what to do about it.
func (d *doctor) fail(fix, format string, args ...any) {
	d.problems++
	fmt.Fprintf(d.w, "FAIL  %s\n", fmt.Sprintf(format, args...))
	if fix != "" {
		fmt.Fprintf(d.w, "      fix: %s\n", fix)
	}
}

// Doctor checks that this machine can run Daraport with this configuration:
// the configuration itself, the data directory and its key, the ports, the
// DNS of tls.domains, the certificate files and the SMTP server. It prints
// one line per finding, each problem followed by what to fix, and returns
// the number of problems (0: all is well).
func Doctor(ctx context.Context, opts DoctorOptions, w io.Writer) int {
	d := &doctor{w: w}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	file := opts.ConfigFile
	if file == "" {
		for _, kv := range opts.Environ {
			if v, ok := strings.CutPrefix(kv, envConfigFile+"="); ok {
				file = v
			}
		}
	}
	cfg, err := LoadConfig(file, opts.Environ)
	if err == nil {
		if opts.DataDir != "" {
			cfg.Server.DataDir = opts.DataDir
		}
		cfg.FollowAddr()
		err = cfg.Validate()
	}
	if err != nil {
		fix := "correct that key in " + orDefault(file, "the environment") + " (every key and its default: config.example.toml)"
		if errors.Is(err, fs.ErrNotExist) {
			fix = "give an existing file with --config, or none to run on the defaults"
		}
		d.fail(fix, "configuration: %s", oneLine(err.Error()))
		return d.problems
	}
	d.ok("configuration %s is valid", orDefault(file, "(defaults and environment)"))

	running := d.checkDataDir(cfg)
	d.checkPorts(cfg, running)
	d.checkTLS(cfg)
	d.checkDNS(ctx, cfg, opts.Timeout)
	d.checkSMTP(cfg, opts.Timeout)
	if d.problems == 0 {
		fmt.Fprintln(w, "All checks passed.")
	} else {
		fmt.Fprintf(w, "%d problem(s) to fix.\n", d.problems)
	}
	return d.problems
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkDataDir looks at the data directory by its metadata first — a
// process running as root writes through permission bits, so an attempted
// write alone would call a 0500 directory fine — then by a real write,
// which catches a read-only mount even for root. It returns whether a
// running server holds the directory.
func (d *doctor) checkDataDir(cfg Config) (running bool) {
	dir := cfg.Server.DataDir
	abs, _ := filepath.Abs(dir)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(abs)
		pi, perr := os.Stat(parent)
		if perr != nil || !pi.IsDir() {
			d.fail("create "+parent+" or choose another server.data_dir", "data directory %s does not exist and neither does its parent", abs)
			return false
		}
		if problem := writeProblem(parent, pi); problem != "" {
			d.fail("make "+parent+" writable by the user running Daraport, or choose another server.data_dir",
				"data directory %s does not exist and cannot be created: %s", abs, problem)
			return false
		}
		d.ok("data directory %s will be created on first start", abs)
		return false
	case err != nil:
		d.fail("check the path and its permissions", "data directory %s: %v", abs, err)
		return false
	case !fi.IsDir():
		d.fail("move that file away or choose another server.data_dir", "data directory %s is a file, not a directory", abs)
		return false
	}
	if problem := writeProblem(dir, fi); problem != "" {
		d.fail("chown the directory to the user running Daraport and chmod 700 "+abs, "data directory %s is not writable: %s", abs, problem)
	} else if fi.Mode().Perm()&0o077 != 0 {
		d.note("data directory %s lets other users list it (mode %04o): chmod 700 %s", abs, fi.Mode().Perm(), abs)
	} else {
		d.ok("data directory %s is writable and private", abs)
	}
	for _, name := range []string{store.KeyFile, store.DBFile} {
		p := filepath.Join(dir, name)
		ki, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			d.fail("check its permissions", "%s: %v", p, err)
			continue
		}
		if ki.Mode().Perm()&0o077 != 0 {
			d.fail("chmod 600 "+p, "%s is readable by other users (mode %04o)", p, ki.Mode().Perm())
		} else {
			d.ok("%s is readable by its owner only", p)
		}
	}
	if cfg.Security.Key == "" {
		if _, err := os.Stat(filepath.Join(dir, store.KeyFile)); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(dir, store.DBFile)); err == nil {
				d.note("no %s beside the database: give the key with DARAPORT_KEY, or restore %s from where you keep it", store.KeyFile, store.KeyFile)
			}
		}
	}
	if release, err := store.LockDir(dir); errors.Is(err, store.ErrLocked) {
		d.note("a running Daraport holds %s (ports it listens on will show as in use)", abs)
		return true
	} else if err == nil {
		_ = release()
	}
	return false
}

// writeProblem says why dir cannot be written, or "" when it can.
func writeProblem(dir string, fi fs.FileInfo) string {
	if p := ownerProblem(fi); p != "" {
		return p
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return fmt.Sprintf("mode %04o has no write permission for its owner", fi.Mode().Perm())
	}
	f, err := os.CreateTemp(dir, ".daraport-doctor-*")
	if err != nil {
		if errors.Is(err, syscall.EROFS) {
			return "it is on a read-only file system"
		}
		return err.Error()
	}
	f.Close()
	os.Remove(f.Name())
	return ""
}

// checkPorts binds every address the configuration listens on, and lets
// go at once.
func (d *doctor) checkPorts(cfg Config, running bool) {
	type want struct{ key, network, addr string }
	list := []want{{"server.addr", "tcp", cfg.Server.Addr}}
	if cfg.TLS.Mode != "off" {
		list = append(list, want{"tls.http_addr", "tcp", cfg.TLS.HTTPAddr})
	}
	if cfg.TURN.Enabled {
		list = append(list, want{"turn.listen", "udp", cfg.TURN.Listen}, want{"turn.listen", "tcp", cfg.TURN.Listen})
		switch cfg.TURN.TLSListen {
		case "":
		case TURNOnHTTPS:
			d.ok("TURN over TLS shares the HTTPS port %s (turn.tls_listen = %q)", cfg.Server.Addr, TURNOnHTTPS)
		default:
			list = append(list, want{"turn.tls_listen", "tcp", cfg.TURN.TLSListen})
		}
	}
	for _, l := range list {
		var err error
		if l.network == "udp" {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", l.addr); err == nil {
				pc.Close()
			}
		} else {
			var ln net.Listener
			if ln, err = net.Listen("tcp", l.addr); err == nil {
				ln.Close()
			}
		}
		what := fmt.Sprintf("%s %s (%s)", strings.ToUpper(l.network), l.addr, l.key)
		switch {
		case err == nil:
			d.ok("%s can be bound", what)
		case running && errors.Is(err, syscall.EADDRINUSE):
			d.note("%s is in use, presumably by the running Daraport", what)
		case errors.Is(err, syscall.EADDRINUSE):
			_, port, _ := net.SplitHostPort(l.addr)
			d.fail(fmt.Sprintf("stop the program using it (see `ss -lntup 'sport = :%s'`) or set %s to another address", port, l.key),
				"%s is already in use by another program", what)
		case errors.Is(err, syscall.EACCES):
			d.fail("ports below 1024 need a privilege: `sudo setcap cap_net_bind_service=+ep /usr/local/bin/daraport`, or AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit (README)",
				"%s cannot be bound: permission denied", what)
		default:
			d.fail("check that the address belongs to this machine ("+l.key+")", "%s cannot be bound: %v", what, err)
		}
	}
}

// checkTLS looks at what HTTPS needs in each mode.
func (d *doctor) checkTLS(cfg Config) {
	t := cfg.TLS
	if t.Mode == "off" {
		if strings.HasPrefix(cfg.Server.BaseURL, "https://") && len(cfg.Server.TrustedProxies) == 0 {
			d.note("tls.mode is off and base_url is https: list your reverse proxy in server.trusted_proxies so client addresses and HTTPS are recognised")
		}
		return
	}
	if u, err := url.Parse(cfg.Server.BaseURL); err == nil && u.Scheme != "https" {
		d.fail(`set server.base_url to "https://`+firstOr(t.Domains, "your.domain")+`"`, "TLS is on but server.base_url %s is not https: e-mail links would be plain HTTP", cfg.Server.BaseURL)
	}
	switch t.Mode {
	case "files":
		c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			d.fail("give a PEM certificate chain in tls.cert_file and its key in tls.key_file", "certificate files: %s", oneLine(err.Error()))
			return
		}
		left := time.Until(c.Leaf.NotAfter)
		switch {
		case left <= 0:
			d.fail("renew the certificate and replace "+t.CertFile+" (Daraport picks it up without restart)", "the certificate expired on %s", c.Leaf.NotAfter.Format(time.DateOnly))
		case left < 14*24*time.Hour:
			d.note("the certificate expires on %s: renew it soon", c.Leaf.NotAfter.Format(time.DateOnly))
		default:
			d.ok("certificate valid until %s", c.Leaf.NotAfter.Format(time.DateOnly))
		}
	case "acme":
		if p, _ := portOf(t.HTTPAddr); p != 80 {
			d.note("tls.http_addr is not port 80: the CA validates HTTP-01 on port 80 and TLS-ALPN-01 on 443, so forward those ports here")
		}
		if p, _ := portOf(cfg.Server.Addr); p != 443 {
			d.note("server.addr is not port 443: browsers and the CA expect HTTPS on 443, so forward it here")
		}
		if t.Email == "" {
			d.note("tls.email is empty: the CA cannot warn you about certificate problems")
		}
	}
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// checkDNS compares each domain's addresses with this machine's. Behind NAT
// or offline it cannot tell, and says so rather than fail.
func (d *doctor) checkDNS(ctx context.Context, cfg Config, timeout time.Duration) {
	if len(cfg.TLS.Domains) == 0 {
		return
	}
	local := map[netip.Addr]bool{}
	public := false
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ip := p.Addr().Unmap()
				local[ip] = true
				if isPublic(ip) {
					public = true
				}
			}
		}
	}
	if ip, err := netip.ParseAddr(cfg.TURN.PublicIP); err == nil {
		local[ip.Unmap()] = true
		public = public || isPublic(ip)
	}
	for _, name := range cfg.TLS.Domains {
		c, cancel := context.WithTimeout(ctx, timeout)
		ips, err := net.DefaultResolver.LookupNetIP(c, "ip", name)
		cancel()
		if err != nil {
			d.note("%s: cannot tell where it points (no DNS answer: %s); once online, it must point at this machine's public address", name, oneLine(err.Error()))
			continue
		}
		var shown []string
		match := false
		for _, ip := range ips {
			ip = ip.Unmap()
			shown = append(shown, ip.String())
			match = match || local[ip]
		}
		switch {
		case match:
			d.ok("%s points at this machine (%s)", name, strings.Join(shown, ", "))
		case !public:
			d.note("%s points at %s; this machine has only private addresses, so it cannot tell: make sure that address forwards ports 80 and 443 here", name, strings.Join(shown, ", "))
		default:
			d.fail("point the A/AAAA records of "+name+" at this machine's public address", "%s points at %s, not at this machine", name, strings.Join(shown, ", "))
		}
	}
}

func isPublic(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !netip.MustParsePrefix("100.64.0.0/10").Contains(ip)
}

// checkSMTP dials the SMTP server and says EHLO, with a short timeout.
func (d *doctor) checkSMTP(cfg Config, timeout time.Duration) {
	s := cfg.SMTP
	if s.Host == "" {
		d.note("no SMTP server (smtp.host): e-mails wait in Administration → Outbox")
		return
	}
	addr := net.JoinHostPort(s.Host, fmt.Sprint(s.Port))
	dialer := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if s.Security == "tls" {
		conn, err = tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{ServerName: s.Host})
	} else {
		conn, err = dialer.Dial("tcp", addr)
	}
	if err != nil {
		d.fail("check smtp.host, smtp.port and that the firewall lets this machine reach it", "SMTP server %s does not answer: %s", addr, oneLine(err.Error()))
		return
	}
	conn.SetDeadline(time.Now().Add(timeout))
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("daraport-doctor"); err != nil {
		d.fail("check that "+addr+" is an SMTP server (smtp.security "+s.Security+")", "SMTP server %s did not accept EHLO: %s", addr, oneLine(err.Error()))
		return
	}
	if s.Security == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			d.fail(`set smtp.security = "tls" (port 465) or "none" if the server really offers no encryption`, "SMTP server %s does not offer STARTTLS", addr)
			return
		}
	}
	_ = c.Quit()
	d.ok("SMTP server %s answers", addr)
}
