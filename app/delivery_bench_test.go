package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/store"
)

// rssBytes reads this process's resident set size.
func rssBytes(tb testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc: RSS cannot be measured here")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// BenchmarkDeliveryBurst: 10,000 reminders due at once, delivered to a
// go-smtp server on loopback by the outbox worker (default settings: 4
// connections), while two clients load the sign-in page in a loop.
// Reports the time to deliver all, the RSS growth during the burst and the
// sign-in page's p99. Run with -benchtime=1x.
func BenchmarkDeliveryBurst(b *testing.B) {
	const total = 10000
	text := strings.Repeat("Rappel : votre rendez-vous avec Dr Dupré a lieu demain à 9 h 30. ", 10)
	html := "<!doctype html><html><body>" + strings.Repeat("<p>Rappel : votre rendez-vous avec Dr Dupré a lieu demain à 9 h 30.</p>", 40) + "</body></html>"
	for range b.N {
		b.StopTimer()
		k := newSMTPSink(b, nil)
		// BENCH_SMTP_CONNS overrides smtp.max_connections to compare settings.
		ts := newTestServer(b, func(c *Config) {
			useSink(k)(c)
			if n, err := strconv.Atoi(os.Getenv("BENCH_SMTP_CONNS")); err == nil {
				c.SMTP.MaxConnections = n
			}
		})
		// With an admin, /login is the sign-in page (not the first-run redirect).
		ts.addUser(b, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
		ctx := context.Background()
		for i := 0; i < total; i += 1000 {
			err := ts.db.Update(ctx, func(tx *store.Tx) error {
				for j := i; j < i+1000; j++ {
					m := &store.OutboxMessage{To: fmt.Sprintf("Patient %d <patient%05d@example.org>", j, j), Locale: "fr", Template: "reminder",
						Subject: "Rappel de rendez-vous", TextBody: text, HTMLBody: html, State: store.OutboxQueued}
					if err := tx.Enqueue(ctx, m); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		rss0 := rssBytes(b)
		peak := rss0
		done := make(chan struct{})
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				c := &http.Client{Timeout: 10 * time.Second}
				for {
					select {
					case <-done:
						return
					default:
					}
					t0 := time.Now()
					res, err := c.Get(ts.URL + "/login")
					if err != nil {
						b.Error(err)
						return
					}
					res.Body.Close()
					d := time.Since(t0)
					if res.StatusCode != 200 {
						b.Errorf("sign-in page: %d", res.StatusCode)
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		b.StartTimer()
		start := time.Now()
		stop := ts.srv.startDelivery(ctx)
		for k.count.Load() < total {
			time.Sleep(10 * time.Millisecond)
			if r := rssBytes(b); r > peak {
				peak = r
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %d of %d delivered after 5 minutes", k.count.Load(), total)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		close(done)
		wg.Wait()
		stop()
		counts, err := ts.db.CountOutbox(ctx)
		if err != nil || counts[store.OutboxSent] != total {
			b.Errorf("rows sent: %v (%v)", counts, err)
		}
		for id, n := range k.copies() {
			if n != 1 {
				b.Errorf("%s accepted %d times", id, n)
			}
		}
		slices.Sort(lat)
		p99 := lat[len(lat)*99/100]
		b.ReportMetric(elapsed.Seconds(), "s/10k")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(peak-rss0)/(1<<20), "MB-rss-growth")
		b.ReportMetric(float64(p99.Microseconds())/1000, "ms-signin-p99")
		b.ReportMetric(float64(len(lat)), "signin-requests")
	}
}
