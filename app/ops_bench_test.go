package app

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"daraport/store"
)

// BenchmarkOps1GB builds a 1 GB database once (encrypted documents, as
// uploads make a database big, plus a practice with a 180-day planning;
// DARAPORT_BENCH_DB_MB changes the size), then measures:
//
//   - ColdStart: `daraport serve` on it, from exec to the first 200 of
//     /healthz (target ≤ 1 s);
//   - BackupUnderBookings: the nightly backup (copy, integrity check,
//     verification) while four clients keep booking; it reports the backup
//     time (target ≤ 30 s) and the booking p99 during it (target ≤ 200 ms).
//
// Run: go test ./app -run '^$' -bench Ops1GB -benchtime 1x
func BenchmarkOps1GB(b *testing.B) {
	mb := 1024
	if v, err := strconv.Atoi(os.Getenv("DARAPORT_BENCH_DB_MB")); err == nil && v > 0 {
		mb = v
	}
	ts, key := newKeyedTestServer(b, nil)
	ts.addUser(b, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p, typ := openPractice(b, ts, "pro@example.org", 180)
	owner := ts.addUser(b, "patient@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()
	start := time.Now()
	doc := make([]byte, 1<<20)
	for i := 0; i < mb; i += 32 {
		err := ts.db.Update(ctx, func(tx *store.Tx) error {
			for j := 0; j < 32 && i+j < mb; j++ {
				rand.Read(doc)
				if err := tx.CreateDocument(ctx, &store.Document{OwnerID: owner.ID, Purpose: "message", Filename: "scan.pdf", ContentType: "application/pdf"}, doc); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	dbBytes, walBytes, _ := ts.db.Sizes()
	b.Logf("built a %s database (WAL %s) in %s", humanBytes(dbBytes), humanBytes(walBytes), time.Since(start).Round(time.Millisecond))

	b.Run("ColdStart", func(b *testing.B) {
		// The serving process reads the key from the data directory.
		if _, err := os.Stat(filepath.Join(ts.cfg.Server.DataDir, store.KeyFile)); err != nil {
			if err := store.WriteKey(ts.cfg.Server.DataDir, key); err != nil {
				b.Fatal(err)
			}
		}
		bin := buildBinary(b)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			addr := freeAddr(b)
			cmd := exec.Command(bin, "serve", "--data", ts.cfg.Server.DataDir, "--addr", addr)
			cmd.Env = cleanEnv()
			t0 := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for {
				res, err := http.Get("http://" + addr + "/healthz")
				if err == nil {
					res.Body.Close()
					if res.StatusCode == 200 {
						break
					}
				}
				if time.Since(t0) > 30*time.Second {
					cmd.Process.Kill()
					b.Fatal("no /healthz within 30 s")
				}
				time.Sleep(2 * time.Millisecond)
			}
			total += time.Since(t0)
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
	})

	b.Run("BackupUnderBookings", func(b *testing.B) {
		today := ts.srv.today(p, ts.srv.clock())
		starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(1), today.AddDays(179), ts.srv.clock())
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		for i := 0; i < b.N; i++ {
			var mu sync.Mutex
			var during []time.Duration
			var backingUp atomic.Bool
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						k := int(next.Add(1)) - 1
						if k >= len(starts) {
							return
						}
						t0 := time.Now()
						_, err := ts.srv.book(ctx, bookRequest{SlotID: starts[k].ID, TypeID: typ.ID, Patient: owner.User, ActorID: owner.ID})
						d := time.Since(t0)
						if err != nil {
							b.Errorf("book: %v", err)
							return
						}
						if backingUp.Load() {
							mu.Lock()
							during = append(during, d)
							mu.Unlock()
						}
						time.Sleep(20 * time.Millisecond) // ~50 bookings/s per client
					}
				}()
			}
			time.Sleep(200 * time.Millisecond)
			backingUp.Store(true)
			t0 := time.Now()
			err := ts.srv.nightlyBackup(ctx, ts.srv.clock().Add(time.Duration(i)*time.Minute))
			took := time.Since(t0)
			backingUp.Store(false)
			close(stop)
			wg.Wait()
			if err != nil {
				b.Fatal(err)
			}
			if len(during) == 0 {
				b.Fatal("no booking completed during the backup")
			}
			slices.Sort(during)
			p99 := during[(len(during)*99)/100]
			b.ReportMetric(took.Seconds(), "s/backup")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(len(during)), "bookings-during")
			b.Logf("backup %s, %d bookings during it, p50 %s, p99 %s, max %s", took.Round(time.Millisecond), len(during),
				during[len(during)/2].Round(time.Microsecond), p99.Round(time.Microsecond), during[len(during)-1].Round(time.Microsecond))
		}
	})
}
