package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// mustOpenDB opens a fresh database in a temporary directory with a random
// at-rest key (also written as dir/secret.key, as a real data directory
// holds it) and closes it when the test ends.
func mustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenDBOpts(tb, Options{})
}

// mustOpenDBOpts is mustOpenDB with options; an empty Dir becomes a fresh
// temporary directory and a nil Key a random key written to the directory.
func mustOpenDBOpts(tb testing.TB, opts Options) *DB {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if opts.Key == nil {
		opts.Key = randomKey(tb)
		if err := WriteKey(opts.Dir, opts.Key); err != nil {
			tb.Fatal(err)
		}
	}
	db, err := Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func randomKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustCreateUser(tb testing.TB, db *DB, email string) *User {
	tb.Helper()
	u := &User{Email: email, Name: "Test " + email}
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.CreateUser(context.Background(), u) }); err != nil {
		tb.Fatal(err)
	}
	return u
}

// rawConn opens the database file on a connection of its own, outside the
// store, as an operator's sqlite3 shell (or an attacker) would.
func rawConn(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	c, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func embeddedMigrations(tb testing.TB) []string {
	tb.Helper()
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, n := range names {
		out = append(out, filepath.Base(n))
	}
	if len(out) == 0 {
		tb.Fatal("no embedded migrations")
	}
	return out
}

func TestOpen_Migrations(t *testing.T) {
	ctx := context.Background()

	t.Run("EmptyDirAppliesEveryMigration", func(t *testing.T) {
		db := mustOpenDB(t)
		got, err := db.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := embeddedMigrations(t); !reflect.DeepEqual(got, want) {
			t.Fatalf("applied %v, want %v", got, want)
		}
		if _, err := os.Stat(filepath.Join(db.Dir(), "backups")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a fresh database was backed up before migrating (stat backups: %v)", err)
		}
	})

	t.Run("ReopenAppliesNothingAndMakesNoBackup", func(t *testing.T) {
		dir := t.TempDir()
		key := randomKey(t)
		db := mustOpenDBOpts(t, Options{Dir: dir, Key: key})
		mustCreateUser(t, db, "a@example.org")
		before, _ := db.Migrations(ctx)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = mustOpenDBOpts(t, Options{Dir: dir, Key: key})
		after, err := db.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("migrations changed on reopen: %v -> %v", before, after)
		}
		if _, err := os.Stat(filepath.Join(dir, "backups")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("reopening with nothing pending made a backup (stat backups: %v)", err)
		}
	})

	// A new migration cannot be added to the embedded set from a test, so
	// the pending-migration path runs through migrateFS (which migrate
	// calls with the embedded files) with the embedded files plus one more.
	t.Run("PendingMigrationBacksUpFirst", func(t *testing.T) {
		clock := &testClock{t: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)}
		db := mustOpenDBOpts(t, Options{Now: clock.Now})
		u := mustCreateUser(t, db, "kept@example.org")

		fsys := fstest.MapFS{}
		for _, n := range embeddedMigrations(t) {
			b, err := migrationsFS.ReadFile("migrations/" + n)
			if err != nil {
				t.Fatal(err)
			}
			fsys[n] = &fstest.MapFile{Data: b}
		}
		fsys["9999_test.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE test_added (id INTEGER PRIMARY KEY); INSERT INTO test_added (id) VALUES (1);")}
		if err := db.migrateFS(ctx, fsys); err != nil {
			t.Fatal(err)
		}

		got, _ := db.Migrations(ctx)
		if want := append(embeddedMigrations(t), "9999_test.sql"); !reflect.DeepEqual(got, want) {
			t.Fatalf("applied %v, want %v", got, want)
		}
		var n int
		if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM test_added").Scan(&n); err != nil || n != 1 {
			t.Fatalf("migration did not run: n=%d err=%v", n, err)
		}

		backup := filepath.Join(db.Dir(), "backups", "pre-migrate-9999_test-20310506T070809Z.db")
		c := rawConn(t, backup)
		var email string
		if err := c.QueryRow("SELECT email FROM users WHERE id = ?", u.ID).Scan(&email); err != nil || email != u.Email {
			t.Fatalf("pre-migration backup lacks the user: %q, %v", email, err)
		}
		if err := c.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'test_added'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("pre-migration backup already has the new table: n=%d err=%v", n, err)
		}

		// Nothing pending any more: no second backup.
		entries, _ := os.ReadDir(filepath.Join(db.Dir(), "backups"))
		clock.Add(time.Hour)
		if err := db.migrateFS(ctx, fsys); err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadDir(filepath.Join(db.Dir(), "backups"))
		if len(again) != len(entries) {
			t.Fatalf("backups: %d, then %d with nothing pending", len(entries), len(again))
		}
	})
}

func TestErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("ErrNotFound", func(t *testing.T) {
		db := mustOpenDB(t)
		if _, err := db.FindUserByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("FindUserByID(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("ErrConflictDuplicateEmail", func(t *testing.T) {
		db := mustOpenDB(t)
		mustCreateUser(t, db, "Anne@Example.org")
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.CreateUser(ctx, &User{Email: "anne@example.ORG", Name: "Other"})
		})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("CreateUser(duplicate e-mail) = %v, want ErrConflict", err)
		}
		if n, _ := db.CountUsers(ctx); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})

	t.Run("ErrConflictTokenReused", func(t *testing.T) {
		db := mustOpenDB(t)
		u := mustCreateUser(t, db, "b@example.org")
		var secret string
		if err := db.Update(ctx, func(tx *Tx) (err error) {
			secret, err = tx.CreateEmailToken(ctx, u.ID, PurposeVerify, time.Hour)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		use := func() (string, error) {
			var id string
			err := db.Update(ctx, func(tx *Tx) (err error) {
				id, err = tx.UseEmailToken(ctx, secret, PurposeVerify)
				return err
			})
			return id, err
		}
		if id, err := use(); err != nil || id != u.ID {
			t.Fatalf("first use = %q, %v; want %q", id, err, u.ID)
		}
		if _, err := use(); !errors.Is(err, ErrConflict) {
			t.Fatalf("second use = %v, want ErrConflict", err)
		}
	})

	t.Run("ErrConflictTokenExpired", func(t *testing.T) {
		clock := &testClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
		db := mustOpenDBOpts(t, Options{Now: clock.Now})
		u := mustCreateUser(t, db, "c@example.org")
		var secret string
		if err := db.Update(ctx, func(tx *Tx) (err error) {
			secret, err = tx.CreateEmailToken(ctx, u.ID, PurposeReset, time.Hour)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour + time.Second)
		err := db.Update(ctx, func(tx *Tx) error {
			_, err := tx.UseEmailToken(ctx, secret, PurposeReset)
			return err
		})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("UseEmailToken(expired) = %v, want ErrConflict", err)
		}
	})
}

func TestDocument_Encryption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := randomKey(t)
	db := mustOpenDBOpts(t, Options{Dir: dir, Key: key})
	u := mustCreateUser(t, db, "doc@example.org")
	plain := []byte("Compte rendu: allergie à la pénicilline, traitement en cours.")
	d := &Document{OwnerID: u.ID, Purpose: "message", Filename: "cr.txt", ContentType: "text/plain"}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateDocument(ctx, d, plain) }); err != nil {
		t.Fatal(err)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		got, content, err := db.FindDocument(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(content, plain) || got.Filename != "cr.txt" || got.Size != len(plain) {
			t.Fatalf("got %+v %q", got, content)
		}
	})

	t.Run("RawColumnHoldsNoPlaintext", func(t *testing.T) {
		var raw []byte
		if err := rawConn(t, db.Path()).QueryRow("SELECT data FROM documents WHERE id = ?", d.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("pénicilline")) || bytes.Contains(raw, plain[:16]) {
			t.Fatal("the data column holds the plaintext")
		}
	})

	t.Run("OtherKeyCannotDecrypt", func(t *testing.T) {
		other, err := Open(ctx, Options{Dir: dir, Key: randomKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, _, err := other.FindDocument(ctx, d.ID); err == nil {
			t.Fatal("a database opened with another key decrypted the document")
		}
	})

	t.Run("ErrNoKeyWithoutKey", func(t *testing.T) {
		nokey, err := Open(ctx, Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer nokey.Close()
		if _, _, err := nokey.FindDocument(ctx, d.ID); !errors.Is(err, ErrNoKey) {
			t.Fatalf("FindDocument without key = %v, want ErrNoKey", err)
		}
	})
}

func TestAudit_Chain(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	for i := range 50 {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.Audit(ctx, &AuditEntry{ActorID: "u1", Action: "test.step", ObjectType: "thing", ObjectID: fmt.Sprint(i), Detail: "step"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("OK", func(t *testing.T) {
		n, err := db.VerifyAudit(ctx)
		if err != nil || n != 50 {
			t.Fatalf("VerifyAudit = %d, %v; want 50, nil", n, err)
		}
	})

	t.Run("UpdateForbiddenByTrigger", func(t *testing.T) {
		if _, err := rawConn(t, db.Path()).Exec("UPDATE audit SET detail = 'x' WHERE seq = 1"); err == nil {
			t.Fatal("the append-only trigger let an UPDATE through")
		}
	})

	t.Run("TamperedEntryReported", func(t *testing.T) {
		// An attacker with the file drops the trigger and rewrites a row.
		c := rawConn(t, db.Path())
		if _, err := c.Exec("DROP TRIGGER audit_no_update"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec("UPDATE audit SET actor_id = 'someone-else' WHERE seq = 20"); err != nil {
			t.Fatal(err)
		}
		n, err := db.VerifyAudit(ctx)
		if err == nil {
			t.Fatal("VerifyAudit accepted a tampered entry")
		}
		if n != 19 || !strings.Contains(err.Error(), "audit entry 20 ") {
			t.Fatalf("VerifyAudit = %d, %v; want 19 and entry 20 named", n, err)
		}
	})
}
