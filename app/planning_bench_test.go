package app

// Benchmarks for the Performance targets of issue 3 (the rolling planning):
//
//	initial generation of 180 days, 6 days × 8 h at 15 min (≈ 5,000 slots) ≤ 50 ms
//	nightly roll for 1,000 practitioners ≤ 5 s
//	free slots of one week, 200 practitioners × 180 days (≈ 1 M slot rows)
//	in the database: p99 ≤ 5 ms server-side
//
// Each runs on a real SQLite file (synchronous=FULL, as served) under the
// system temporary directory. Run them with
//
//	go test ./app/ -run '^$' -bench 'InitialGeneration|NightlyRoll|FreeSlotsWeek' -benchtime 1x
//
// and more iterations where cheap, e.g. -bench InitialGeneration -benchtime 200x.
// The numbers to quote: InitialGeneration's ms/op and median-ms, NightlyRoll1000's
// s/roll, FreeSlotsWeek's p50-ms and p99-ms (each op of FreeSlotsWeek is a
// batch of 1,000 requests, so even -benchtime 1x gives a meaningful p99).
//
// InitialGeneration adds a practice to the same database each iteration, so
// many iterations also show how generation holds up as the slots table
// grows (200x ends near 1 M rows). The tail latencies are those of the whole
// machine: on a shared 2-core box, other processes' bursts show in p99 and
// max; compare runs made at a similar load (uptime) and repeat with -count.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// benchWeek is 6 days × 8 hours: Monday to Saturday, 08:00–12:00 and 13:00–17:00.
func benchWeek() hoursSpec {
	week := map[string][][2]string{"sun": {}}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat"} {
		week[d] = [][2]string{{"08:00", "12:00"}, {"13:00", "17:00"}}
	}
	return hoursSpec{"": week}
}

// benchHoursFrom is the valid_from of the benchmark hours: long ago, so they
// apply to every day generated.
const benchHoursFrom = "2000-01-01"

// benchPractices creates n verified practices in Paris with benchWeek at 15
// minutes and the given horizon, in one transaction, and returns their ids.
func benchPractices(ctx context.Context, db *store.DB, n, horizon int) ([]string, error) {
	spec, err := json.Marshal(benchWeek())
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, n)
	err = db.Update(ctx, func(tx *store.Tx) error {
		for i := range n {
			st := store.DefaultSettings()
			st.HorizonDays, st.SlotMinutes = horizon, 15
			p := &store.Practice{Name: fmt.Sprintf("Cabinet %04d", i), TimeZone: "Europe/Paris", Status: store.PracticeVerified, Settings: st}
			if err := tx.CreatePractice(ctx, p); err != nil {
				return err
			}
			if err := tx.SaveHours(ctx, p.ID, benchHoursFrom, string(spec)); err != nil {
				return err
			}
			ids = append(ids, p.ID)
		}
		return nil
	})
	return ids, err
}

// benchGenerate materialises the plannings of practices made by
// benchPractices as the initial generation does (from today, horizon days,
// generated_at set), but with direct batched inserts of many practices per
// transaction, so a large database is built in bounded time. It returns the
// number of slot rows written.
func benchGenerate(ctx context.Context, srv *Server, db *store.DB, ids []string, horizon int) (int, error) {
	spec, err := parseSpec(benchWeek())
	if err != nil {
		return 0, err
	}
	loc := srv.location("Europe/Paris")
	from := schedule.DayOf(srv.clock().In(loc))
	to := from.AddDays(horizon - 1)
	versions := []schedule.Version{{From: schedule.Day{Y: 2000, M: time.January, D: 1}, Spec: spec}}
	rows := slotRows(schedule.Generate(versions, from, to, 15, loc))
	const perTx = 25
	total := 0
	for i := 0; i < len(ids); i += perTx {
		err := db.Update(ctx, func(tx *store.Tx) error {
			for _, id := range ids[i:min(i+perTx, len(ids))] {
				n, err := tx.InsertSlots(ctx, id, rows)
				if err != nil {
					return err
				}
				total += n
				if err := tx.SetPlanned(ctx, id, to.String(), true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// BenchmarkInitialGeneration times s.generateInitial for one practitioner
// working 6 days × 8 h at 15 minutes with a 180-day horizon (≈ 5,000 slots),
// on a fresh practice each iteration. Target: ≤ 50 ms.
func BenchmarkInitialGeneration(b *testing.B) {
	ts := newTestServer(b, nil)
	ctx := context.Background()
	slots := 0
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ids, err := benchPractices(ctx, ts.db, 1, 180)
		if err != nil {
			b.Fatal(err)
		}
		var run store.PlanningRun
		t0 := time.Now()
		b.StartTimer()
		if err := ts.srv.generateInitial(ctx, ids[0], "", &run); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		times = append(times, time.Since(t0))
		slots = run.Added
	}
	slices.Sort(times)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	// The median resists a busy machine's stalls better than the mean.
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(slots), "slots")
}

// BenchmarkNightlyRoll1000 builds 1,000 generated practices (90-day horizon,
// ≈ 2.5 M slot rows), then per iteration moves the clock one day on and
// times one s.roll over all of them. Target: ≤ 5 s.
func BenchmarkNightlyRoll1000(b *testing.B) {
	ts := newTestServer(b, nil)
	ctx := context.Background()
	t0 := time.Now()
	ids, err := benchPractices(ctx, ts.db, 1000, 90)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := benchGenerate(ctx, ts.srv, ts.db, ids, 90)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: 1,000 practices, %d slot rows in %v", rows, time.Since(t0).Round(time.Millisecond))
	added := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ts.clock.Advance(24 * time.Hour)
		b.StartTimer()
		if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runs, err := ts.db.FindRuns(ctx, "", 1)
		if err != nil || len(runs) == 0 {
			b.Fatal(err)
		}
		if runs[0].Practices != 1000 {
			b.Fatalf("the roll went over %d practices", runs[0].Practices)
		}
		added += runs[0].Added
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/roll")
	b.ReportMetric(float64(added)/float64(b.N), "slots-added/roll")
}

// freeSlotsBench is the 1 M-row database of BenchmarkFreeSlotsWeek, built
// once per process (the benchmark function may run several times).
var freeSlotsBench struct {
	once  sync.Once
	srv   *Server
	ids   []string
	today schedule.Day
	err   error
}

// freeSlotsDB builds 200 practitioners × 180 days of slots, a quarter of
// them booked, in a temporary directory that lives as long as the process
// (the benchmark function runs several times with -count or -benchtime Nx,
// and building takes tens of seconds). Nothing runs at process exit, so each
// build first removes the directories of benchmark processes that are gone.
func freeSlotsDB(b *testing.B) {
	fs := &freeSlotsBench
	fs.once.Do(func() {
		const prefix = "daraport-bench-slots-"
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
		for _, d := range old {
			pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), prefix), "-")
			if n, err := strconv.Atoi(pid); err == nil && !processAlive(n) {
				os.RemoveAll(d)
			}
		}
		dir, err := os.MkdirTemp("", prefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			fs.err = err
			return
		}
		ctx := context.Background()
		key := make([]byte, 32)
		rand.Read(key)
		db, err := store.Open(ctx, store.Options{Dir: dir, Key: key})
		if err != nil {
			fs.err = err
			return
		}
		cfg := DefaultConfig()
		cfg.Server.DataDir = dir
		fs.srv, err = New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets"), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			fs.err = err
			return
		}
		t0 := time.Now()
		if fs.ids, err = benchPractices(ctx, db, 200, 180); err != nil {
			fs.err = err
			return
		}
		rows, err := benchGenerate(ctx, fs.srv, db, fs.ids, 180)
		if err != nil {
			fs.err = err
			return
		}
		err = db.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked', appointment_id = 'bench' WHERE abs(random()) % 4 = 0")
			return err
		})
		if err != nil {
			fs.err = err
			return
		}
		fs.today = schedule.DayOf(fs.srv.clock().In(fs.srv.location("Europe/Paris")))
		b.Logf("setup: 200 practices, %d slot rows (a quarter booked) in %v, in %s", rows, time.Since(t0).Round(time.Millisecond), dir)
	})
	if fs.err != nil {
		b.Fatal(fs.err)
	}
}

// processAlive tells whether a process with that id runs (signal 0 checks
// without sending anything).
func processAlive(pid int) bool {
	if runtime.GOOS == "windows" {
		return true // no signal 0 there: keep everything
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// BenchmarkFreeSlotsWeek times GET /api/v1/practitioners/{id}/slots for one
// week of a random practitioner among 200 × 180 days of slots, through the
// whole handler chain (srv.Handler(), no sockets: server-side time). One op
// is a batch of 1,000 requests; p50 and p99 are over every request. Target:
// p99 ≤ 5 ms.
func BenchmarkFreeSlotsWeek(b *testing.B) {
	freeSlotsDB(b)
	fs := &freeSlotsBench
	h := fs.srv.Handler()
	const batch = 1000
	rng := mrand.New(mrand.NewPCG(1, 2))
	query := func() (*httptest.ResponseRecorder, time.Duration) {
		id := fs.ids[rng.IntN(len(fs.ids))]
		from := fs.today.AddDays(rng.IntN(170))
		req := httptest.NewRequest("GET", "/api/v1/practitioners/"+id+"/slots?from="+from.String()+"&to="+from.AddDays(6).String(), nil)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return rec, d
	}
	// Warm up (each pooled read connection's page cache), and start the
	// timed part without the build's garbage pending.
	rec, _ := query()
	var list []apiSlot
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) == 0 {
		b.Fatalf("no starts in a week (%v): %s", err, rec.Body)
	}
	for range 200 {
		query()
	}
	runtime.GC()
	durations := make([]time.Duration, 0, b.N*batch)
	b.ResetTimer()
	for range b.N {
		for range batch {
			_, d := query()
			durations = append(durations, d)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[min(len(durations)-1, int(p*float64(len(durations))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(list)), "starts/week")
}
