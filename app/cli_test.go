package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"daraport/store"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the real daraport binary once per test run.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "daraport-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "daraport")
		cmd := exec.Command("go", "build", "-ldflags", "-s -w -X main.version=test", "-o", binPath, "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// cli runs the binary with args and stdin, returning stdout, stderr and the exit code.
func cli(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// cleanEnv is the environment without DARAPORT_* variables of the caller.
func cleanEnv() []string {
	// The relay would bind :3478 in every server these tests start at
	// once; the video tests run their own on loopback ports.
	env := []string{"DARAPORT_TURN_ENABLED=false"}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "DARAPORT_") {
			env = append(env, e)
		}
	}
	return env
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts `daraport serve` and waits until /healthz answers.
func startServe(t *testing.T, dir string, env ...string) (addr string, stdout *bytes.Buffer, stop func() int) {
	t.Helper()
	addr = freeAddr(t)
	cmd := exec.Command(buildBinary(t), "serve", "--data", dir, "--addr", addr)
	cmd.Env = append(cleanEnv(), env...)
	stdout = &bytes.Buffer{}
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, stdout}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			return 0
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not stop within 10 s of SIGTERM")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return addr, stdout, stop
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCLIUsage(t *testing.T) {
	t.Run("Version", func(t *testing.T) {
		out, _, code := cli(t, "", nil, "version")
		if code != 0 || !strings.HasPrefix(out, "daraport test") {
			t.Fatalf("version: %d %q", code, out)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"ErrUnknownCommand", []string{"frobnicate"}, 2, "unknown command"},
		{"ErrUnknownFlag", []string{"serve", "--nope"}, 2, "nope"},
		{"ErrUserAddMissingFlags", []string{"user", "add", "--email", "a@b.example"}, 2, "usage"},
		{"ErrUserBadRole", []string{"user", "add", "--email", "a@b.example", "--name", "A B", "--role", "king", "--data", "DIR"}, 1, "role"},
		{"ErrBackupNoFile", []string{"backup", "--data", "DIR"}, 2, "usage"},
		{"ErrTokenUnknownUser", []string{"token", "add", "--email", "nobody@b.example", "--data", "DIR"}, 1, "no account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, a := range tc.args {
				if a == "DIR" {
					tc.args[i] = dir
				}
			}
			_, errOut, code := cli(t, "a long enough password\n", nil, tc.args...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.want, errOut)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("stderr is not one line naming %q: %q", tc.msg, errOut)
			}
		})
	}
	t.Run("ErrUnknownConfigKey", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(f, []byte("[smtp]\nhots = \"x\"\n"), 0o600)
		_, errOut, code := cli(t, "", nil, "serve", "--config", f, "--data", t.TempDir())
		if code != 2 || !strings.Contains(errOut, "smtp.hots") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("ErrUnknownEnvKey", func(t *testing.T) {
		_, errOut, code := cli(t, "", []string{"DARAPORT_SMTP_HOTS=x"}, "serve", "--data", t.TempDir())
		if code != 2 || !strings.Contains(errOut, "DARAPORT_SMTP_HOTS") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestCLILiveDataDir runs the binary as an operator would: serve prints the
// setup link; user add and token add take effect on the running server at
// once; backup works while it writes; restore refuses while it runs; SIGTERM
// stops it cleanly; restore then brings the backup back.
func TestCLILiveDataDir(t *testing.T) {
	dir := t.TempDir()
	addr, out, stop := startServe(t, dir)
	if !strings.Contains(out.String(), "http://"+addr+"/setup?code=") {
		t.Fatalf("no setup link for %s in %q", addr, out.String())
	}
	res, err := http.Get("http://" + addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/setup" {
		t.Fatalf("before setup, /login went to %s", res.Request.URL.Path)
	}

	js, errOut, code := cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "dr@example.org", "--name", "Dr Who", "--role", "practitioner")
	if code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	var ids struct {
		UserID     string `json:"user_id"`
		PracticeID string `json:"practice_id"`
	}
	if err := json.Unmarshal([]byte(js), &ids); err != nil || ids.UserID == "" || ids.PracticeID == "" {
		t.Fatalf("user add printed %q", js)
	}
	_, _, code = cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "root@example.org", "--name", "Root Admin", "--role", "admin")
	if code != 0 {
		t.Fatal("admin add failed")
	}
	res, err = http.Get("http://" + addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/login" {
		t.Fatalf("after user add --role admin, /login went to %s", res.Request.URL.Path)
	}
	_, _, code = cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "DR@example.org", "--name", "Dup", "--role", "patient")
	if code != 1 {
		t.Fatalf("duplicate user add exit %d", code)
	}
	tok, errOut, code := cli(t, "", nil, "token", "add", "--data", dir, "--email", "dr@example.org")
	if code != 0 {
		t.Fatalf("token add: %s", errOut)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		ID    string `json:"id"`
		Roles []struct {
			Role       string `json:"role"`
			PracticeID string `json:"practice_id"`
		} `json:"roles"`
	}
	json.NewDecoder(res.Body).Decode(&me)
	res.Body.Close()
	if res.StatusCode != 200 || me.ID != ids.UserID {
		t.Fatalf("/api/v1/me with the new token: %d %+v", res.StatusCode, me)
	}
	found := false
	for _, r := range me.Roles {
		found = found || (r.Role == "practitioner" && r.PracticeID == ids.PracticeID)
	}
	if !found {
		t.Fatalf("roles %+v lack the practice", me.Roles)
	}

	// Backup while the server writes (sign-in failures append audit entries).
	stopWrites := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopWrites:
				return
			default:
			}
			r, err := http.PostForm("http://"+addr+"/contact", map[string][]string{"name": {"X"}})
			if err == nil {
				r.Body.Close()
			}
			_, _, _ = cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", fmt.Sprintf("p%d@example.org", i), "--name", "Pat Ient", "--role", "patient")
		}
	}()
	time.Sleep(300 * time.Millisecond)
	backup := filepath.Join(t.TempDir(), "b.db")
	bout, errOut, code := cli(t, "", nil, "backup", "--data", dir, backup)
	close(stopWrites)
	wg.Wait()
	if code != 0 || !strings.Contains(bout, "fingerprint") {
		t.Fatalf("backup: %d %q %q", code, bout, errOut)
	}
	_, errOut, code = cli(t, "", nil, "restore", "--data", dir, backup)
	if code != 1 || !strings.Contains(errOut, "in use") {
		t.Fatalf("restore while serving: exit %d %q", code, errOut)
	}
	if c := stop(); c != 0 {
		t.Fatalf("serve exited %d after SIGTERM", c)
	}
	// Restore into a fresh directory with the key copied, then serve it.
	dir2 := t.TempDir()
	key, _ := os.ReadFile(filepath.Join(dir, store.KeyFile))
	os.WriteFile(filepath.Join(dir2, store.KeyFile), key, 0o600)
	if _, errOut, code = cli(t, "", nil, "restore", "--data", dir2, backup); code != 0 {
		t.Fatalf("restore: %s", errOut)
	}
	k2, err := store.LoadKey(dir2, "", false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Options{Dir: dir2, Key: k2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindUserByID(context.Background(), ids.UserID); err != nil {
		t.Fatalf("restored database lacks the practitioner: %v", err)
	}
	if n, err := db.VerifyAudit(context.Background()); err != nil || n == 0 {
		t.Fatalf("restored audit chain: %d %v", n, err)
	}
	// Without the key, restore refuses and says which key it needs.
	dir3 := t.TempDir()
	_, errOut, code = cli(t, "", nil, "restore", "--data", dir3, backup)
	if code != 1 || !strings.Contains(errOut, store.KeyFingerprint(mustKey(t, key))) {
		t.Fatalf("restore without key: %d %q", code, errOut)
	}
}

func mustKey(t *testing.T, file []byte) []byte {
	k, err := store.LoadKey(t.TempDir(), strings.TrimSpace(string(file)), false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCLIDemo starts `daraport demo` and signs in with an account it prints.
func TestCLIDemo(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(buildBinary(t), "demo", "--data", t.TempDir(), "--addr", addr)
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &out}, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var res *http.Response
	var err error
	for i := 0; i < 500; i++ {
		if res, err = http.Get("http://" + addr + "/api/v1/practitioners"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list) != 2 {
		t.Fatalf("demo lists %d practitioners, want 2", len(list))
	}
	mu.Lock()
	printed := out.String()
	mu.Unlock()
	if !strings.Contains(printed, "admin@demo.daraport.test") || !strings.Contains(printed, demoPassword) {
		t.Fatalf("demo did not print its accounts: %q", printed)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", "http://"+addr+"/login", strings.NewReader("email=admin%40demo.daraport.test&password="+demoPassword))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("demo admin sign-in: %d", res.StatusCode)
	}
}

func TestCLIOrgAdmin(t *testing.T) {
	dir := t.TempDir()
	js, errOut, code := cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "org@example.org", "--name", "Clinique Azur", "--role", "org_admin")
	if code != 0 {
		t.Fatalf("org_admin add: %s", errOut)
	}
	var ids map[string]string
	if err := json.Unmarshal([]byte(js), &ids); err != nil || ids["organization_id"] == "" {
		t.Fatalf("printed %q", js)
	}
	_, errOut, code = cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "org2@example.org", "--name", "Second Admin", "--role", "org_admin", "--org", ids["organization_id"])
	if code != 0 {
		t.Fatalf("joining org: %s", errOut)
	}
	_, errOut, code = cli(t, "correct horse battery staple\n", nil, "user", "add", "--data", dir, "--email", "org3@example.org", "--name", "Third Admin", "--role", "org_admin", "--org", "nope")
	if code != 1 || !strings.Contains(errOut, "no organization") {
		t.Fatalf("unknown org: %d %q", code, errOut)
	}
}
