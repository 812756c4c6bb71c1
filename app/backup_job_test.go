package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// newKeyedTestServer is newTestServer with an at-rest key the test knows,
// so a backup made without the key can be restored.
func newKeyedTestServer(t testing.TB, change func(*Config)) (*testServer, []byte) {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Server.DataDir = dir
	cfg.Server.BaseURL = "http://" + ln.Addr().String()
	if change != nil {
		change(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	clock := &testClock{}
	db, err := store.Open(context.Background(), store.Options{Dir: dir, Key: key, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, db, os.DirFS("../templates"), os.DirFS("../assets"), WithClock(clock.Now),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		db.Close()
	})
	return &testServer{Server: hs, srv: srv, db: db, cfg: cfg, clock: clock}, key
}

// openPractice gives a new practitioner's practice hours every day
// 08:00–20:00, a 15-minute visit and a generated planning, with no limit on
// future appointments per patient.
func openPractice(t testing.TB, ts *testServer, email string, horizonDays int) (*store.Practice, *store.AppointmentType) {
	t.Helper()
	ctx := context.Background()
	pro := ts.addUser(t, email, "Load Practitioner", store.RolePractitioner, "")
	p := mustPractice(t, ts, pro.PracticeID)
	st := p.Settings
	st.HorizonDays, st.MinNoticeMinutes, st.MaxFuturePerPatient = horizonDays, 0, 0
	typ := &store.AppointmentType{PracticeID: p.ID, Name: "Consultation", Minutes: 15, Price: 2500, Currency: "EUR", NewPatients: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateSettings(ctx, p.ID, st); err != nil {
			return err
		}
		return tx.CreateType(ctx, typ)
	}); err != nil {
		t.Fatal(err)
	}
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, pro.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	return mustPractice(t, ts, p.ID), typ
}

// TestBackupUnderLoad backs up while bookings keep coming, restores the
// backup into a fresh directory and finds every booking acknowledged before
// the backup started, in a database whose integrity check passes.
func TestBackupUnderLoad(t *testing.T) {
	copyTo := t.TempDir()
	ts, key := newKeyedTestServer(t, func(c *Config) { c.Backup.CopyTo, c.Backup.Keep = copyTo, 2 })
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	p, typ := openPractice(t, ts, "pro@example.org", 60)
	patient := ts.addUser(t, "patient@example.org", "Pat Patient", store.RolePatient, "")
	ctx := context.Background()
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(1), today.AddDays(50), ts.srv.clock())
	if err != nil || len(starts) < 400 {
		t.Fatalf("free starts: %d, %v", len(starts), err)
	}

	var mu sync.Mutex
	var acked []string // appointment ids, in acknowledgement order
	next := make(chan string)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for slot := range next {
				a, err := ts.srv.book(ctx, bookRequest{SlotID: slot, TypeID: typ.ID, Patient: patient.User, ActorID: patient.ID})
				if err != nil {
					t.Errorf("book: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, a.ID)
				mu.Unlock()
			}
		}()
	}
	go func() {
		defer close(next)
		for _, c := range starts {
			select {
			case next <- c.ID:
			case <-stop:
				return
			}
		}
	}()
	// Let bookings flow, then back up in the middle of them.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	if err := ts.srv.nightlyBackup(ctx, ts.srv.clock()); err != nil {
		t.Fatalf("backup: %v", err)
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	t.Logf("%d bookings acknowledged before the backup, %d while it ran, %d in all", len(before), during, len(acked))

	ok, failed := ts.srv.lastBackups(ctx)
	if ok.File == "" || !ok.Verified || failed.Error != "" || ok.WithKey {
		t.Fatalf("recorded backup %+v, failure %+v", ok, failed)
	}
	if filepath.Dir(ok.File) != filepath.Join(ts.cfg.Server.DataDir, "backups") || ok.Copy != filepath.Join(copyTo, filepath.Base(ok.File)) {
		t.Fatalf("backup at %s, copy at %s", ok.File, ok.Copy)
	}
	if info, err := store.ReadBackupInfo(ctx, ok.Copy); err != nil || info["has_key"] != "false" {
		t.Fatalf("second copy: %v %v (the key must not be in it)", info, err)
	}

	fresh := filepath.Join(t.TempDir(), "restored")
	if err := store.Restore(ctx, fresh, ok.File, ""); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("restore without the key: %v", err)
	}
	if err := store.Restore(ctx, fresh, ok.File, base64.StdEncoding.EncodeToString(key)); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, store.Options{Dir: fresh, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if _, err := db.FindAppointmentByID(ctx, id); err != nil {
			t.Fatalf("appointment %s acknowledged before the backup is missing: %v", id, err)
		}
	}

	// Rotation keeps backup.keep nightly files in both places, and never
	// touches the pre-migration copies beside them.
	pre := filepath.Join(ts.cfg.Server.DataDir, "backups", "pre-migrate-0009-x.db")
	os.WriteFile(pre, []byte("x"), 0o600)
	for i := 1; i <= 3; i++ {
		ts.clock.Advance(24 * time.Hour)
		if err := ts.srv.nightlyBackup(ctx, ts.srv.clock()); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Dir(ok.File), copyTo} {
		got, _ := filepath.Glob(filepath.Join(d, backupPrefix+"*.db"))
		if len(got) != 2 {
			t.Fatalf("%s holds %d nightly backups, want 2 (backup.keep)", d, len(got))
		}
	}
	if _, err := os.Stat(pre); err != nil {
		t.Fatal("rotation removed a pre-migration backup")
	}
}

// TestBackupFailureShown records a failed backup for the system page, and
// a later success clears it.
func TestBackupFailureShown(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, []byte("x"), 0o600)
	ts := newTestServer(t, func(c *Config) { c.Backup.Dir = filepath.Join(blocker, "backups") })
	admin := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	ctx := context.Background()
	if err := ts.srv.nightlyBackup(ctx, ts.srv.clock()); err == nil {
		t.Fatal("a backup into a path under a file worked")
	}
	c := ts.client(t)
	ts.login(t, c, admin)
	res := ts.get(t, c, "/admin/system")
	line := lastBackupLine(res.Body)
	if !pageHas(line, ts.text(t, "en", "ops.system.no_backup")) || !pageHas(line, "Backup failed") {
		t.Fatalf("system page does not show the failure: %s", line)
	}
	ts.srv.cfg.Backup.Dir = t.TempDir()
	res = ts.post(t, c, "/admin/system/backup", nil)
	if res.StatusCode != 303 {
		t.Fatalf("backup now: %d", res.StatusCode)
	}
	okRec, failed := ts.srv.lastBackups(ctx)
	if okRec.File == "" || failed.Error != "" {
		t.Fatalf("after a good backup: ok %+v failed %+v", okRec, failed)
	}
	res = ts.get(t, c, "/admin/system")
	if line := lastBackupLine(res.Body); pageHas(line, ts.text(t, "en", "ops.system.no_backup")) || pageHas(line, "failed") {
		t.Fatalf("system page after a good backup: %s", line)
	}
	if ts.rows(t, "audit", "action = ?", "admin.backup_requested") != 1 {
		t.Fatal("the admin's backup request is not audited")
	}
}

var lastBackupRe = regexp.MustCompile(`(?s)id="last-backup">(.*?)</dd>`)

// lastBackupLine is the system page's "last good backup" entry.
func lastBackupLine(body string) string {
	m := lastBackupRe.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}
