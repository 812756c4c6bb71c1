package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var fenceRe = regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```")

// readmeBlocks returns the fenced blocks of README.md of the given
// language, in order.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range fenceRe.FindAllStringSubmatch(string(b), -1) {
		if m[1] == lang {
			out = append(out, m[2])
		}
	}
	return out
}

// TestREADMEFreshMachine runs the README's first command, the run command,
// in a clean temporary directory: Daraport starts on its defaults, keeps
// its data in ./daraport-data there, prints the setup link, and /healthz
// answers.
func TestREADMEFreshMachine(t *testing.T) {
	sh := readmeBlocks(t, "sh")
	if len(sh) < 2 {
		t.Fatal("README.md lacks its two commands (run, test) at the top")
	}
	run, test := strings.TrimSpace(sh[0]), strings.TrimSpace(sh[1])
	if test != "go test ./..." {
		t.Fatalf("README's test command is %q", test)
	}
	// `go run .` builds the main package and runs it without arguments;
	// the test runs the same build the same way. A different command needs
	// this test taught how to run it.
	if run != "go run ." {
		t.Fatalf("README's run command is %q; this test knows how to run `go run .`", run)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(buildBinary(t))
	cmd.Dir = dir
	// Only the port differs from the defaults, since :8080 may be taken on
	// a test machine.
	cmd.Env = append(cleanEnv(), "DARAPORT_ADDR="+addr)
	var out bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &out}, lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var res *http.Response
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
	}
	if err != nil {
		mu.Lock()
		t.Fatalf("no /healthz: %v\n%s", err, out.String())
	}
	var body struct{ Status, Version string }
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || body.Status != "ok" {
		t.Fatalf("/healthz: %d %+v", res.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "daraport-data", "daraport.db")); err != nil {
		t.Fatalf("no ./daraport-data in the working directory: %v", err)
	}
	mu.Lock()
	printed := out.String()
	mu.Unlock()
	if !strings.Contains(printed, "/setup?code=") {
		t.Fatalf("no setup link printed:\n%s", printed)
	}
}

// TestREADMEServerGuide checks the "10 minutes" guide against the code: its
// configuration loads, its systemd unit is the one in .ci/, and the release
// script it names exists.
func TestREADMEServerGuide(t *testing.T) {
	tomls := readmeBlocks(t, "toml")
	if len(tomls) == 0 {
		t.Fatal("README.md has no configuration example")
	}
	f := filepath.Join(t.TempDir(), "daraport.toml")
	os.WriteFile(f, []byte(tomls[0]), 0o600)
	cfg, err := LoadConfig(f, nil)
	if err != nil {
		t.Fatalf("README's configuration: %v", err)
	}
	if cfg.TLS.Mode != "acme" || len(cfg.TLS.Domains) == 0 || !strings.HasPrefix(cfg.Server.BaseURL, "https://") {
		t.Fatalf("README's configuration is not the HTTPS one: %+v", cfg.TLS)
	}
	unit, err := os.ReadFile("../.ci/daraport.service")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range readmeBlocks(t, "ini") {
		found = found || strings.TrimSpace(b) == strings.TrimSpace(string(unit))
	}
	if !found {
		t.Fatal("README's systemd unit differs from .ci/daraport.service")
	}
	for _, want := range []string{"AmbientCapabilities=CAP_NET_BIND_SERVICE", "ExecStart=/usr/local/bin/daraport serve --config /etc/daraport/daraport.toml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if fi, err := os.Stat("../.ci/release"); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf(".ci/release missing or not executable: %v", err)
	}
	readme, _ := os.ReadFile("../README.md")
	for _, want := range []string{"./.ci/release", "chmod +x", "setcap cap_net_bind_service", "daraport doctor"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("README lacks %q", want)
		}
	}
}

// TestReleaseScript runs .ci/release for this machine's platform only (the
// four-platform build is run by hand; see README): a static binary stamped
// with the version, commit and date, and a SHA256SUMS that checks.
func TestReleaseScript(t *testing.T) {
	dist := t.TempDir()
	goos, _ := exec.Command("go", "env", "GOOS").Output()
	goarch, _ := exec.Command("go", "env", "GOARCH").Output()
	target := strings.TrimSpace(string(goos)) + "/" + strings.TrimSpace(string(goarch))
	cmd := exec.Command("./.ci/release", "v9.9.9-test")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "DIST="+dist, "TARGETS="+target)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf(".ci/release: %v\n%s", err, out)
	}
	bin := filepath.Join(dist, "daraport-v9.9.9-test-"+strings.ReplaceAll(target, "/", "-"))
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	commit, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	if v := string(out); !strings.Contains(v, "daraport v9.9.9-test") || !strings.Contains(v, strings.TrimSpace(string(commit))) || strings.Contains(v, "unknown") {
		t.Fatalf("version: %q", v)
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("SHA256SUMS: %v\n%s", err, out)
	}
}
