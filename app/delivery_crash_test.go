package app

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"daraport/store"
)

// startServeProcess starts `daraport serve` on dir and returns the process,
// so the test can kill it with SIGKILL (startServe only stops gracefully).
func startServeProcess(t *testing.T, dir string, env ...string) *exec.Cmd {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(buildBinary(t), "serve", "--data", dir, "--addr", addr)
	cmd.Env = append(cleanEnv(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitFor(t, "daraport serve", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return cmd
}

// outboxCounts opens the data directory's database (as the CLI does, safe
// while a server runs) and counts the outbox per state.
func outboxCounts(t *testing.T, dir string) map[string]int {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeliveryKill9 kills the server with SIGKILL while it delivers a batch:
// every message the SMTP server accepted is already marked sent, and after
// a restart the rest goes out, each Message-ID accepted exactly once.
func TestDeliveryKill9(t *testing.T) {
	t.Parallel()
	const total, before = 200, 60
	k := newSMTPSink(t, nil)
	k.holdAfter.Store(before)
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *store.Tx) error {
		for i := range total {
			m := &store.OutboxMessage{To: fmt.Sprintf("patient%03d@example.org", i), Subject: "Reminder", TextBody: "See you tomorrow."}
			if err := tx.Enqueue(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"DARAPORT_SMTP_HOST=127.0.0.1", "DARAPORT_SMTP_PORT=" + strconv.Itoa(k.port), "DARAPORT_SMTP_SECURITY=none", "DARAPORT_SMTP_MAX_CONNECTIONS=4"}

	cmd := startServeProcess(t, dir, env...)
	// Every connection is now inside DATA of a message the server has not
	// accepted (it holds the reply): the middle of a batch.
	waitFor(t, "all connections held in DATA", func() bool {
		h := k.holding.Load()
		return k.count.Load() >= before && h > 0 && h == k.sessions.Load()
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	accepted := k.count.Load()
	k.holdAfter.Store(0)
	k.unholdAll()
	counts := outboxCounts(t, dir)
	if counts[store.OutboxSent] != int(accepted) {
		t.Errorf("after SIGKILL: %d rows sent, the server accepted %d (%v)", counts[store.OutboxSent], accepted, counts)
	}
	if counts[store.OutboxSending] == 0 {
		t.Errorf("no message was in flight when the process was killed (%v)", counts)
	}

	startServeProcess(t, dir, env...)
	waitFor(t, "every message delivered", func() bool { return k.count.Load() >= total })
	time.Sleep(200 * time.Millisecond) // a duplicate would show now
	copies := k.copies()
	if len(copies) != total {
		t.Errorf("%d distinct Message-IDs accepted, want %d", len(copies), total)
	}
	for id, n := range copies {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	waitFor(t, "every row sent", func() bool { return outboxCounts(t, dir)[store.OutboxSent] == total })
	t.Logf("killed after %d of %d accepted; %d rows claimed (sending)", accepted, total, counts[store.OutboxSending])
}
