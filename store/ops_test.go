package store

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestUpgrade opens a data directory made by the oldest schema with the
// current code: every later migration runs, the data stays, and a copy was
// taken first. A migration that fails leaves the database as it was.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	names := embeddedMigrations(t)
	if len(names) < 2 || names[0] != "0001_init.sql" {
		t.Fatalf("embedded migrations %v", names)
	}

	// A data directory as the first release left it: only 0001, with a
	// user and a practice written by that schema's SQL.
	dir := t.TempDir()
	old, err := Open(ctx, Options{Dir: dir, Key: key, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := migrationsFS.ReadFile("migrations/0001_init.sql")
	if err := old.migrateFS(ctx, fstest.MapFS{"0001_init.sql": &fstest.MapFile{Data: first}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for _, q := range []string{
		"INSERT INTO users (id, email, name, created_at, updated_at) VALUES ('u1', 'old@example.org', 'Old Timer', ?, ?)",
		"INSERT INTO practices (id, name, time_zone, status, created_at, updated_at) VALUES ('p1', 'Cabinet ancien', 'Europe/Paris', 'verified', ?, ?)",
	} {
		if _, err := old.write.ExecContext(ctx, q, now, now); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := old.Migrations(ctx); !reflect.DeepEqual(got, []string{"0001_init.sql"}) {
		t.Fatalf("fixture migrations %v", got)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("MigratesAndKeepsData", func(t *testing.T) {
		db, err := Open(ctx, Options{Dir: dir, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, _ := db.Migrations(ctx); !reflect.DeepEqual(got, names) {
			t.Fatalf("applied %v, want %v", got, names)
		}
		u, err := db.FindUserByEmail(ctx, "old@example.org")
		if err != nil || u.Name != "Old Timer" {
			t.Fatalf("user after upgrade: %+v %v", u, err)
		}
		p, err := db.FindPracticeByID(ctx, "p1")
		if err != nil || p.Name != "Cabinet ancien" {
			t.Fatalf("practice after upgrade: %+v %v", p, err)
		}
		if err := db.IntegrityCheck(ctx); err != nil {
			t.Fatal(err)
		}
		pre, _ := filepath.Glob(filepath.Join(dir, "backups", "pre-migrate-"+strings.TrimSuffix(names[1], ".sql")+"-*.db"))
		if len(pre) != 1 {
			t.Fatalf("pre-migration copies: %v", pre)
		}
	})

	t.Run("FailedMigrationLeavesDatabase", func(t *testing.T) {
		db, err := Open(ctx, Options{Dir: dir, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		before, _ := db.Migrations(ctx)
		// Checkpoint so the file alone holds the database, then hash it.
		if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		sumBefore := fileSum(t, db.Path())
		fsys := fstest.MapFS{}
		for _, n := range names {
			b, _ := migrationsFS.ReadFile("migrations/" + n)
			fsys[n] = &fstest.MapFile{Data: b}
		}
		// Its first statement works, its second fails: the transaction
		// must take the first back too.
		fsys["9999_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half_done (id INTEGER); DELETE FROM users; INSERT INTO no_such_table VALUES (1);")}
		if err := db.migrateFS(ctx, fsys); err == nil || !strings.Contains(err.Error(), "9999_broken.sql") {
			t.Fatalf("broken migration: %v", err)
		}
		after, _ := db.Migrations(ctx)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("migrations %v after a failure, were %v", after, before)
		}
		var n int
		db.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").Scan(&n)
		if n != 0 {
			t.Fatal("the failed migration left a table")
		}
		if _, err := db.FindUserByEmail(ctx, "old@example.org"); err != nil {
			t.Fatalf("the failed migration lost a user: %v", err)
		}
		if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		if fileSum(t, db.Path()) != sumBefore {
			t.Fatal("the database file changed although the migration failed")
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// And the current code still opens it.
		again, err := Open(ctx, Options{Dir: dir, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	})
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
