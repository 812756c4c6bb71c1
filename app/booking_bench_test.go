package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// BenchmarkBookingSustained books through the HTTP API as fast as 32
// clients can (each its own patient and token, each booking a different free
// start so none loses a race), and in the same run measures bare durable
// SQLite write transactions of the same shape (read a slot, flip it, insert
// a row) one after another. The issue asks for ≥ 1,000 bookings/s and at
// least half the bare rate: both and their ratio are reported.
//
//	go test ./app/ -run '^$' -bench BookingSustained -benchtime 1x
func BenchmarkBookingSustained(b *testing.B) {
	f := newBookingFixture(b, func(c *Config) { c.Security.APIRate = 100000 })
	ts := f.ts
	ctx := context.Background()
	// 5-minute slots make ~4,300 starts in the 30-day planning.
	setMode(b, ts, f.p.ID, func(st *store.Settings) { st.SlotMinutes = 5 })
	p := mustPractice(b, ts, f.p.ID)
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"00:00", "24:00"}}
	}
	spec, _ := parseSpec(hoursSpec{"": week})
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, ""); err != nil {
		b.Fatal(err)
	}
	five := &store.AppointmentType{PracticeID: p.ID, Name: "Five", Minutes: 5, Currency: "EUR", NewPatients: true}
	ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, five) })
	p = mustPractice(b, ts, p.ID)
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 5, 0, today.AddDays(1), today.AddDays(29), ts.srv.clock())
	if err != nil {
		b.Fatal(err)
	}
	// The last 1,500 starts are kept for the bare transactions.
	bare := starts[len(starts)-1500:]
	starts = starts[:len(starts)-1500]
	const clients = 32
	toks := make([]string, clients)
	for i := range toks {
		toks[i] = ts.token(b, ts.addUser(b, fmt.Sprintf("s%d@example.org", i), fmt.Sprintf("Sus %d", i), store.RolePatient, ""))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2}
	client := &http.Client{Transport: tr}
	var next, ok, failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(starts) || time.Since(start) > 10*time.Second {
					return
				}
				body := `{"slot_id":"` + starts[i].ID + `","type_id":"` + five.ID + `"}`
				req, _ := http.NewRequest("POST", ts.URL+"/api/v1/appointments", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+toks[c])
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				res.Body.Close()
				if res.StatusCode == 201 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d bookings failed", failed.Load())
	}
	bookRate := float64(ok.Load()) / elapsed.Seconds()

	// Bare durable write transactions of the booking shape, same database.
	other := ts.addUser(b, "bare@example.org", "Bare Tx", store.RolePatient, "")
	n := 0
	bareStart := time.Now()
	for _, c := range bare {
		if time.Since(bareStart) > 3*time.Second {
			break
		}
		sl := store.Slot{ID: c.ID, Start: c.Start, End: c.End}
		err := ts.db.Update(ctx, func(tx *store.Tx) error {
			var state string
			if err := tx.QueryRowContext(ctx, "SELECT state FROM slots WHERE id = ?", sl.ID).Scan(&state); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked', appointment_id = ? WHERE id = ? AND state = 'free'", "bare"+sl.ID, sl.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO appointments (id, practice_id, patient_id, type_id, starts_at, ends_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 0, 0)`, "bare"+sl.ID, p.ID, other.ID, five.ID, sl.Start.Unix(), sl.End.Unix())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	bareRate := float64(n) / time.Since(bareStart).Seconds()
	b.ReportMetric(bookRate, "bookings/s")
	b.ReportMetric(bareRate, "bare-tx/s")
	b.ReportMetric(bookRate/bareRate, "ratio")
	b.ReportMetric(float64(ok.Load()), "bookings")
}

// BenchmarkBookingRace: 1,000 concurrent clients race over 50 slots; no
// double booking, and the p99 latency of the answers is reported.
func BenchmarkBookingRace(b *testing.B) {
	f := newBookingFixture(b, func(c *Config) { c.Security.APIRate = 100000 })
	ts := f.ts
	starts := f.starts(b, f.visit)[:50]
	const clients = 1000
	toks := make([]string, clients)
	for i := range toks {
		toks[i] = ts.token(b, ts.addUser(b, fmt.Sprintf("r%d@example.org", i), fmt.Sprintf("Racer %d", i), store.RolePatient, ""))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, clients)
	codes := make([]int, clients)
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	b.ResetTimer()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		ready.Add(1)
		go func(i int) {
			defer wg.Done()
			body := `{"slot_id":"` + starts[i%50].ID + `","type_id":"` + f.visit.ID + `"}`
			req, _ := http.NewRequest("POST", ts.URL+"/api/v1/appointments", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+toks[i])
			req.Header.Set("Content-Type", "application/json")
			ready.Done()
			<-gate
			t0 := time.Now()
			res, err := client.Do(req)
			lat[i] = time.Since(t0)
			if err != nil {
				codes[i] = -1
				return
			}
			res.Body.Close()
			codes[i] = res.StatusCode
		}(i)
	}
	ready.Wait()
	if f := os.Getenv("DARAPORT_RACE_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	close(gate)
	wg.Wait()
	b.StopTimer()
	created := 0
	for i, c := range codes {
		switch c {
		case 201:
			created++
		case 409:
		default:
			b.Fatalf("client %d got %d", i, c)
		}
	}
	var appts int
	ts.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), "SELECT count(*) FROM appointments").Scan(&appts)
	})
	var doubles int
	ts.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `SELECT count(*) FROM (SELECT starts_at FROM appointments WHERE state = 'booked'
			GROUP BY practice_id, starts_at HAVING count(*) > 1)`).Scan(&doubles)
	})
	if created != 50 || appts != 50 || doubles != 0 {
		b.Fatalf("%d created, %d appointments, %d double bookings", created, appts, doubles)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(doubles), "double-bookings")
	_ = json.Marshal
}
