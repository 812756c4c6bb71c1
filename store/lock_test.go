package store

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestLockDir(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		release, err := LockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, LockFile))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Fatalf("lock file mode %v, want 0600", fi.Mode().Perm())
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrLockedSameProcess", func(t *testing.T) {
		dir := t.TempDir()
		release, err := LockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := LockDir(dir); !errors.Is(err, ErrLocked) {
			if r2 != nil {
				r2()
			}
			t.Fatalf("second LockDir = %v, want ErrLocked", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		r3, err := LockDir(dir)
		if err != nil {
			t.Fatalf("LockDir after release = %v", err)
		}
		r3()
	})

	t.Run("ErrLockedOtherProcess", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "DARAPORT_LOCK_HELPER_DIR="+dir)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "locked\n" {
			stdin.Close()
			cmd.Wait()
			t.Fatalf("helper said %q, %v", line, err)
		}
		_, err = LockDir(dir)
		stdin.Close() // the helper exits, and with it its lock
		if werr := cmd.Wait(); werr != nil {
			t.Fatalf("helper: %v", werr)
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("LockDir while another process holds it = %v, want ErrLocked", err)
		}
		release, err := LockDir(dir)
		if err != nil {
			t.Fatalf("LockDir after the other process exited = %v", err)
		}
		release()
	})
}

// TestMain lets TestLockDir re-run the test binary as a second process that
// holds a lock until its stdin closes (DARAPORT_LOCK_HELPER_DIR set).
func TestMain(m *testing.M) {
	if dir := os.Getenv("DARAPORT_LOCK_HELPER_DIR"); dir != "" {
		release, err := LockDir(dir)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		bufio.NewReader(os.Stdin).ReadString('\n')
		if err := release(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
