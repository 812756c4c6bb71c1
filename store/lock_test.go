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
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockDirHelperProcess$")
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

// TestLockDirHelperProcess is not a test: TestLockDir runs the test binary
// with it to hold a lock from another process until its stdin closes.
func TestLockDirHelperProcess(t *testing.T) {
	dir := os.Getenv("DARAPORT_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestLockDir")
	}
	release, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	if err := release(); err != nil {
		t.Fatal(err)
	}
}
