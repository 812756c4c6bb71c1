package app

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// doctorConfig writes a config file whose every listener is on a free
// loopback port, plus extra TOML lines.
func doctorConfig(t *testing.T, extra string) string {
	t.Helper()
	body := "[server]\naddr = \"127.0.0.1:0\"\n\n[turn]\nlisten = \"127.0.0.1:0\"\n" + extra
	p := filepath.Join(t.TempDir(), "daraport.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type nopSession struct{}

func (nopSession) Reset()                                      {}
func (nopSession) Logout() error                               { return nil }
func (nopSession) Mail(string, *smtp.MailOptions) error        { return nil }
func (nopSession) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (nopSession) Data(r io.Reader) error                      { _, err := io.Copy(io.Discard, r); return err }
func (nopBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return nopSession{}, nil }

type nopBackend struct{}

// TestDoctor runs `daraport doctor` on a sound setup and on each kind of
// trouble the issue names, and checks it says what is wrong and what to do.
func TestDoctor(t *testing.T) {
	mail := smtp.NewServer(nopBackend{})
	mail.Domain = "localhost"
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mail.Serve(mln)
	t.Cleanup(func() { mail.Close() })
	_, mport, _ := net.SplitHostPort(mln.Addr().String())

	t.Run("OK", func(t *testing.T) {
		cfg := doctorConfig(t, "\n[smtp]\nhost = \"127.0.0.1\"\nport = "+mport+"\nsecurity = \"none\"\n")
		out, errOut, code := cli(t, "", nil, "doctor", "--config", cfg, "--data", filepath.Join(t.TempDir(), "data"))
		if code != 0 || !strings.Contains(out, "All checks passed") || !strings.Contains(out, "SMTP server 127.0.0.1:"+mport+" answers") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("BrokenConfig", func(t *testing.T) {
		cfg := doctorConfig(t, "\n[tls]\nmode = \"sometimes\"\n")
		out, errOut, code := cli(t, "", nil, "doctor", "--config", cfg)
		if code != 1 || !strings.Contains(out, "FAIL  configuration") || !strings.Contains(out, "tls.mode") || !strings.Contains(out, "fix: ") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "problem") {
			t.Fatalf("no one-line reason on stderr: %q", errOut)
		}
	})
	t.Run("DataDirIsAFile", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "data")
		os.WriteFile(f, []byte("x"), 0o600)
		out, _, code := cli(t, "", nil, "doctor", "--config", doctorConfig(t, ""), "--data", f)
		if code != 1 || !strings.Contains(out, "is a file, not a directory") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("DataDirNotWritable", func(t *testing.T) {
		// Tests run as root here: root writes through 0500, so the check
		// must read the mode, not only try a write.
		d := filepath.Join(t.TempDir(), "data")
		os.Mkdir(d, 0o500)
		out, _, code := cli(t, "", nil, "doctor", "--config", doctorConfig(t, ""), "--data", d)
		if code != 1 || !strings.Contains(out, "is not writable") || !strings.Contains(out, "chmod 700") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("KeyReadableByOthers", func(t *testing.T) {
		d := t.TempDir()
		os.Chmod(d, 0o700)
		os.WriteFile(filepath.Join(d, "secret.key"), []byte("x"), 0o644)
		os.Chmod(filepath.Join(d, "secret.key"), 0o644)
		out, _, code := cli(t, "", nil, "doctor", "--config", doctorConfig(t, ""), "--data", d)
		if code != 1 || !strings.Contains(out, "secret.key is readable by other users") || !strings.Contains(out, "chmod 600") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("PortInUse", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := doctorConfig(t, "")
		body, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(body), `addr = "127.0.0.1:0"`, `addr = "`+ln.Addr().String()+`"`, 1)), 0o600)
		out, _, code := cli(t, "", nil, "doctor", "--config", cfg, "--data", t.TempDir())
		if code != 1 || !strings.Contains(out, "TCP "+ln.Addr().String()+" (server.addr) is already in use") || !strings.Contains(out, "fix: stop the program") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("SMTPSilent", func(t *testing.T) {
		cfg := doctorConfig(t, "\n[smtp]\nhost = \"127.0.0.1\"\nport = "+strings.TrimPrefix(freeAddr(t), "127.0.0.1:")+"\n")
		out, _, code := cli(t, "", nil, "doctor", "--config", cfg, "--data", t.TempDir())
		if code != 1 || !strings.Contains(out, "does not answer") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("DNSCannotTell", func(t *testing.T) {
		// No DNS here: a domain that cannot be resolved is "cannot tell",
		// never a failure.
		cfg := doctorConfig(t, "\n[tls]\nmode = \"files\"\nhttp_addr = \"127.0.0.1:0\"\ndomains = [\"clinic.invalid\"]\n")
		d := t.TempDir()
		certFile, keyFile := filepath.Join(d, "c.pem"), filepath.Join(d, "k.pem")
		writeTestCert(t, certFile, keyFile, 5000, []string{"clinic.invalid"}, false)
		body, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, append(body, []byte("cert_file = \""+certFile+"\"\nkey_file = \""+keyFile+"\"\n")...), 0o600)
		out, _, code := cli(t, "", []string{"DARAPORT_SERVER_BASE_URL=https://clinic.invalid"}, "doctor", "--config", cfg, "--data", filepath.Join(d, "data"))
		if code != 0 || !strings.Contains(out, "clinic.invalid: cannot tell") || !strings.Contains(out, "certificate valid until") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}
