//go:build unix

package app

// Performance benchmarks for the targets of issue 2 (Performance):
//
//	binary ≤ 30 MB · cold start to serving /healthz ≤ 200 ms ·
//	idle RSS ≤ 30 MB · sign-in page ≥ 5,000 requests/s on the 2-core machine
//
// The targets are shown by these benchmarks, whose numbers get quoted, never
// by timed assertions in tests. Run them with
//
//	go test ./app/ -run '^$' -bench . -benchtime 3s -cpu 2
//
// Which number answers "sign-in page ≥ 5,000 req/s": BenchmarkLoginPage's
// req/s. It is the whole path a browser takes — TCP on loopback, the net/http
// server, every middleware, the template — measured with keep-alive
// connections as browsers use them. It is a lower bound for the server: the
// load generator (the http.Client, parsing responses) runs on the same two
// cores and takes a large share of the CPU, so a server on the machine by
// itself answers more. BenchmarkLoginPageHandler is the other bound: the
// application's own cost alone (handler chain and template, no sockets, no
// HTTP parsing), using both cores. If the loopback number meets the target,
// the target is met; if only the handler number does, it is not shown.
//
// Both also report req/CPU-s: requests per second of CPU the test process
// used (client, server and GC together) while the timer ran. This machine is
// shared, and other work steals cores: req/s ÷ req/CPU-s is how many cores
// the run actually got (2 when it had the machine to itself), which tells a
// slow run apart from a slow program.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"daraport/store"
)

// benchParallelism is the number of client goroutines per GOMAXPROCS in the
// loopback benchmarks: with -cpu 2, 8 connections in flight, so the server
// is never waiting on one client's round trip.
const benchParallelism = 4

// newBenchServer is the real application on loopback over a real SQLite
// file, with an admin so the first-run gate is passed and /login answers 200.
func newBenchServer(b *testing.B) *testServer {
	b.Helper()
	ts := newTestServer(b, nil)
	ts.addUser(b, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	return ts
}

// benchLoopback GETs path on a real server over loopback from parallel
// keep-alive clients, reads and discards each body, and reports req/s.
func benchLoopback(b *testing.B, path string) {
	ts := newBenchServer(b)
	tr := &http.Transport{
		MaxIdleConns:        1000,
		MaxIdleConnsPerHost: 1000,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := ts.URL + path
	// One request outside the timer: it must answer 200, and it warms up
	// whatever is lazily initialised.
	res, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: status %d: %.300s", path, res.StatusCode, body)
	}
	var failed atomic.Bool
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if failed.Load() {
				continue
			}
			res, err := c.Get(url)
			if err != nil {
				failed.Store(true)
				b.Errorf("GET %s: %v", path, err)
				continue
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK {
				failed.Store(true)
				b.Errorf("GET %s: status %d, read error %v", path, res.StatusCode, err)
			}
		}
	})
	b.StopTimer()
	reportRate(b, cpu0)
}

// benchHandler calls the application's root handler directly (no sockets,
// no HTTP parsing) from parallel goroutines and reports req/s.
func benchHandler(b *testing.B, path string) {
	ts := newBenchServer(b)
	h := ts.srv.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: status %d: %.300s", path, rec.Code, rec.Body.String())
	}
	var failed atomic.Bool
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if rec.Code != http.StatusOK && !failed.Swap(true) {
				b.Errorf("GET %s: status %d", path, rec.Code)
			}
		}
	})
	b.StopTimer()
	reportRate(b, cpu0)
}

// reportRate reports req/s (wall clock) and req/CPU-s (CPU time the process
// used since cpu0).
func reportRate(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "req/CPU-s")
	}
}

// cpuTime is the user+system CPU time used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoginPage is the sign-in page as a browser gets it: its req/s is
// the number quoted for the "≥ 5,000 requests/s" target (see the file
// comment: client and server share the two cores, so it is a lower bound).
func BenchmarkLoginPage(b *testing.B) { benchLoopback(b, "/login") }

// BenchmarkLoginPageHandler is the server-side cost of the sign-in page
// alone: an upper bound, not the number that answers the target.
func BenchmarkLoginPageHandler(b *testing.B) { benchHandler(b, "/login") }

// BenchmarkHealthz is the cheapest endpoint over loopback (a database ping
// and a small JSON): the ceiling of the HTTP stack on this machine.
func BenchmarkHealthz(b *testing.B) { benchLoopback(b, "/healthz") }

// BenchmarkHealthzHandler is /healthz without sockets.
func BenchmarkHealthzHandler(b *testing.B) { benchHandler(b, "/healthz") }

// BenchmarkBinary builds the real static binary as a release would be built
// and measures it from the outside:
//
//	size         MB          the stripped binary (target ≤ 30)
//	cold-start   ms/start    exec → first 200 from /healthz on a fresh, empty
//	                         data directory: key created, migrations from
//	                         empty, setup code printed (target ≤ 200)
//	             idle-RSS-MB VmRSS ~2 s after the last start, no traffic
//	                         (target ≤ 30)
//	warm-start   ms/warm-start  the same on an existing, migrated data
//	                         directory that has an admin (a restart)
//
// Every start is stopped with SIGTERM and must exit with status 0 within
// 5 s (graceful shutdown). Slow by nature: b.N stays small.
func BenchmarkBinary(b *testing.B) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Fatal("no go command to build the binary with")
	}
	bin := filepath.Join(b.TempDir(), "daraport")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("size", func(b *testing.B) {
		for range b.N {
		}
		b.ReportMetric(float64(fi.Size())/(1<<20), "MB")
		b.ReportMetric(0, "ns/op") // nothing is timed here
	})

	b.Run("cold-start", func(b *testing.B) {
		b.StopTimer()
		var total, worst time.Duration
		for i := range b.N {
			dir := filepath.Join(b.TempDir(), "data") // does not exist yet
			p := startBinary(b, bin, dir)
			total += p.ready
			worst = max(worst, p.ready)
			if i == b.N-1 {
				time.Sleep(2 * time.Second)
				if rss, ok := p.rssMB(); ok {
					b.ReportMetric(rss, "idle-RSS-MB")
				}
			}
			p.stop(b)
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
	})

	b.Run("warm-start", func(b *testing.B) {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "data")
		// Migrate the directory and give it an admin, as a real restart finds it.
		add := exec.Command(bin, "user", "add", "--data", dir, "--email", "admin@example.org", "--name", "Ada Admin", "--role", "admin")
		add.Env = benchEnv()
		add.Stdin = strings.NewReader(testPassword + "\n")
		if out, err := add.CombinedOutput(); err != nil {
			b.Fatalf("daraport user add: %v\n%s", err, out)
		}
		var total, worst time.Duration
		for range b.N {
			p := startBinary(b, bin, dir)
			total += p.ready
			worst = max(worst, p.ready)
			p.stop(b)
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/warm-start")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
	})
}

// benchEnv is the environment without DARAPORT_* variables, so the binary
// runs on its defaults plus the flags given.
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DARAPORT_") {
			env = append(env, kv)
		}
	}
	return env
}

// benchFreeAddr returns a loopback address with a port that was free a moment ago.
func benchFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// benchProcess is a running daraport binary.
type benchProcess struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, once done is closed
	ready  time.Duration // exec → first 200 from /healthz
	exited bool
}

// startBinary runs "daraport serve --data dir --addr 127.0.0.1:PORT" and
// returns once /healthz answers 200, having timed exec → 200 with the
// benchmark timer running and nothing else.
func startBinary(b *testing.B, bin, dir string) *benchProcess {
	b.Helper()
	addr := benchFreeAddr(b)
	health := "http://" + addr + "/healthz"
	poll := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	p := &benchProcess{out: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--data", dir, "--addr", addr)
	p.cmd.Env = benchEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out

	b.StartTimer()
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		b.StopTimer()
		b.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	deadline := start.Add(10 * time.Second)
	for {
		res, err := poll.Get(health)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			b.StopTimer()
			b.Fatalf("daraport exited before serving: %v\n%s", p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			b.StopTimer()
			p.cmd.Process.Kill()
			<-p.done
			b.Fatalf("/healthz not 200 within 10 s\n%s", p.out)
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.ready = time.Since(start)
	b.StopTimer()
	b.Cleanup(func() {
		if !p.exited {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// rssMB reads the process's resident set size from /proc (Linux).
func (p *benchProcess) rssMB() (float64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return 0, false
			}
			return float64(kb) / 1024, true
		}
	}
	return 0, false
}

// stop sends SIGTERM and fails unless the process exits with status 0
// within 5 s (graceful shutdown).
func (p *benchProcess) stop(b *testing.B) {
	b.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	select {
	case <-p.done:
		p.exited = true
		if p.err != nil {
			b.Fatalf("daraport after SIGTERM: %v (want exit status 0)\n%s", p.err, p.out)
		}
	case <-time.After(5 * time.Second):
		b.Fatalf("daraport still running 5 s after SIGTERM\n%s", p.out)
	}
}
