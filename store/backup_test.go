package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirSnapshot maps every file under dir (but the lock file, which any
// LockDir call creates) to the SHA-256 of its content.
func dirSnapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == LockFile {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func assertUnchanged(tb testing.TB, dir string, before map[string]string) {
	tb.Helper()
	if after := dirSnapshot(tb, dir); !reflect.DeepEqual(before, after) {
		tb.Fatalf("directory changed:\nbefore %v\nafter  %v", before, after)
	}
}

// dumpRows returns every row of query as one formatted string each.
func dumpRows(tb testing.TB, c *sql.DB, query string) []string {
	tb.Helper()
	rows, err := c.Query(query)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%q", vals))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func openReadOnly(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	c, err := openFile(path, true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// openRestored opens a restored data directory the way the server does:
// key from DARAPORT_KEY or secret.key, migrations applied.
func openRestored(tb testing.TB, dir, envKey string) *DB {
	tb.Helper()
	key, err := LoadKey(dir, envKey, false)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := Open(context.Background(), Options{Dir: dir, Key: key})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func writerEmail(i int) string { return fmt.Sprintf("w%06d@example.org", i) }

// TestBackup_WhileWriting takes backups while a writer commits users, each
// with an audit entry in the same transaction, then restores them.
func TestBackup_WhileWriting(t *testing.T) {
	ctx := context.Background()
	src := mustOpenDB(t)
	key, err := LoadKey(src.Dir(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	// A second handle on the same directory, as `daraport backup` is while
	// `daraport serve` runs.
	cli, err := Open(ctx, Options{Dir: src.Dir(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	var (
		mu        sync.Mutex
		committed int
		stop      = make(chan struct{})
		done      = make(chan error, 1)
	)
	progress := func() int { mu.Lock(); defer mu.Unlock(); return committed }
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); progress() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("writer stuck at %d", progress())
			}
		}
	}
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := src.Update(ctx, func(tx *Tx) error {
				u := &User{Email: writerEmail(i), Name: fmt.Sprint("writer ", i)}
				if err := tx.CreateUser(ctx, u); err != nil {
					return err
				}
				return tx.Audit(ctx, &AuditEntry{Action: "user.create", ObjectType: "user", ObjectID: u.ID})
			})
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			committed = i + 1
			mu.Unlock()
		}
	}()

	backupDir := t.TempDir()
	plain := filepath.Join(backupDir, "plain.db")
	withKey := filepath.Join(backupDir, "with-key.db")
	waitFor(30)
	if err := src.Backup(ctx, plain, nil); err != nil {
		t.Fatal(err)
	}
	if err := cli.Backup(ctx, withKey, key); err != nil {
		t.Fatal(err)
	}
	waitFor(progress() + 30) // the writer kept going after the backups
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	total := progress()

	// check verifies a restored directory: sound, audit chain whole, and its
	// users exactly the first n the writer committed (a consistent prefix).
	check := func(t *testing.T, db *DB) {
		t.Helper()
		if err := db.IntegrityCheck(ctx); err != nil {
			t.Fatal(err)
		}
		users, err := db.FindUsers(ctx, UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		n := len(users)
		if n == 0 || n >= total {
			t.Fatalf("restored %d users; want some, fewer than the %d written", n, total)
		}
		audited, err := db.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if audited != n {
			t.Fatalf("%d audit entries for %d users: a transaction was cut in half", audited, n)
		}
		got := map[string]bool{}
		for _, u := range users {
			s, err := src.FindUserByID(ctx, u.ID)
			if err != nil || s.Email != u.Email || s.Name != u.Name {
				t.Fatalf("restored user %s (%s) is not in the source: %v", u.ID, u.Email, err)
			}
			got[u.Email] = true
		}
		for i := range n {
			if !got[writerEmail(i)] {
				t.Fatalf("restored %d users but not %s: not a prefix", n, writerEmail(i))
			}
		}
		var tables int
		if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'backup_info'").Scan(&tables); err != nil || tables != 0 {
			t.Fatalf("backup_info left in the restored database (%d, %v)", tables, err)
		}
	}

	t.Run("RestoreWithKeyFileOK", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, filepath.Join(src.Dir(), KeyFile), filepath.Join(dir, KeyFile))
		if err := Restore(ctx, dir, plain, ""); err != nil {
			t.Fatal(err)
		}
		check(t, openRestored(t, dir, ""))
	})

	t.Run("RestoreWithEnvKeyOK", func(t *testing.T) {
		dir := t.TempDir()
		env := base64.StdEncoding.EncodeToString(key)
		if err := Restore(ctx, dir, plain, env); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("restore wrote a key file although DARAPORT_KEY holds the key (%v)", err)
		}
		check(t, openRestored(t, dir, env))
	})

	t.Run("RestoreWithKeyBackupIntoEmptyDirOK", func(t *testing.T) {
		dir := t.TempDir()
		if err := Restore(ctx, dir, withKey, ""); err != nil {
			t.Fatal(err)
		}
		got, err := LoadKey(dir, "", false)
		if err != nil || KeyFingerprint(got) != KeyFingerprint(key) {
			t.Fatalf("installed key %v, %v; want fingerprint %s", got, err, KeyFingerprint(key))
		}
		if fi, err := os.Stat(filepath.Join(dir, DBFile)); err != nil || (fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/') {
			t.Fatalf("restored database: %v, %v", fi, err)
		}
		db := openRestored(t, dir, "")
		check(t, db)
		db.Close()
		raw, err := os.ReadFile(filepath.Join(dir, DBFile))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), base64.StdEncoding.EncodeToString(key)) {
			t.Fatal("the key stayed inside the restored database file")
		}
	})
}

func TestBackup(t *testing.T) {
	ctx := context.Background()

	t.Run("ErrDestinationExists", func(t *testing.T) {
		db := mustOpenDB(t)
		dst := filepath.Join(t.TempDir(), "b.db")
		if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := db.Backup(ctx, dst, nil); err == nil {
			t.Fatal("Backup overwrote an existing file")
		}
		if b, _ := os.ReadFile(dst); string(b) != "keep me" {
			t.Fatalf("existing file changed to %q", b)
		}
	})

	t.Run("ErrWrongKey", func(t *testing.T) {
		db := mustOpenDB(t)
		dst := filepath.Join(t.TempDir(), "b.db")
		if err := db.Backup(ctx, dst, randomKey(t)); err == nil {
			t.Fatal("Backup accepted a key that is not the database's")
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused backup left %s (%v)", dst, err)
		}
	})

	t.Run("OKNoTemporaryFilesLeft", func(t *testing.T) {
		db := mustOpenDB(t)
		out := t.TempDir()
		dst := filepath.Join(out, "b.db")
		if err := db.Backup(ctx, dst, nil); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(out)
		if len(entries) != 1 || entries[0].Name() != "b.db" {
			t.Fatalf("backup directory holds %v", entries)
		}
		if fi, _ := os.Stat(dst); os.PathSeparator == '/' && fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup mode %v, want 0600", fi.Mode().Perm())
		}
	})
}

func TestReadBackupInfo(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: time.Date(2032, 2, 3, 4, 5, 6, 0, time.UTC)}
	db := mustOpenDBOpts(t, Options{Now: clock.Now})
	key, _ := LoadKey(db.Dir(), "", false)
	out := t.TempDir()

	for _, tc := range []struct {
		name    string
		withKey []byte
		hasKey  string
	}{{"OKWithoutKey", nil, "false"}, {"OKWithKey", key, "true"}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(out, tc.name+".db")
			if err := db.Backup(ctx, dst, tc.withKey); err != nil {
				t.Fatal(err)
			}
			info, err := ReadBackupInfo(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"key_id": db.KeyID(), "created_at": "2032-02-03T04:05:06Z", "format": "1", "has_key": tc.hasKey}
			if !reflect.DeepEqual(info, want) {
				t.Fatalf("info %v, want %v", info, want)
			}
		})
	}

	t.Run("ErrNotBackup", func(t *testing.T) {
		junk := filepath.Join(out, "junk")
		os.WriteFile(junk, []byte("not a database at all, not even close"), 0o600)
		for _, p := range []string{db.Path(), junk} {
			if _, err := ReadBackupInfo(ctx, p); !errors.Is(err, ErrNotBackup) {
				t.Fatalf("ReadBackupInfo(%s) = %v, want ErrNotBackup", filepath.Base(p), err)
			}
		}
	})
}

func TestRestore(t *testing.T) {
	ctx := context.Background()

	// newSource returns a closed data directory holding two users, a backup
	// made between them, and a --with-key backup of the same moment.
	newSource := func(t *testing.T) (dir, plain, withKey string, key []byte) {
		t.Helper()
		db := mustOpenDB(t)
		key, _ = LoadKey(db.Dir(), "", false)
		mustCreateUser(t, db, "before@example.org")
		out := t.TempDir()
		plain, withKey = filepath.Join(out, "plain.db"), filepath.Join(out, "with-key.db")
		if err := db.Backup(ctx, plain, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Backup(ctx, withKey, key); err != nil {
			t.Fatal(err)
		}
		mustCreateUser(t, db, "after@example.org")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return db.Dir(), plain, withKey, key
	}

	t.Run("IntoSourceDirEqualsBackup", func(t *testing.T) {
		dir, plain, _, _ := newSource(t)
		want := dumpRows(t, openReadOnly(t, plain), "SELECT * FROM users ORDER BY id")
		if err := Restore(ctx, dir, plain, ""); err != nil {
			t.Fatal(err)
		}
		db := openRestored(t, dir, "")
		if got := dumpRows(t, db.read, "SELECT * FROM users ORDER BY id"); !reflect.DeepEqual(got, want) {
			t.Fatalf("users after restore:\n%v\nwant\n%v", got, want)
		}
		if _, err := db.FindUserByEmail(ctx, "after@example.org"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a user added after the backup survived the restore: %v", err)
		}
		// The replaced database is kept, whole.
		kept, _ := filepath.Glob(filepath.Join(dir, DBFile+".before-restore-*"))
		if len(kept) != 1 {
			t.Fatalf("kept databases: %v", kept)
		}
		var n int
		if err := openReadOnly(t, kept[0]).QueryRow("SELECT count(*) FROM users WHERE email = 'after@example.org'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the kept database lacks the later user: %d, %v", n, err)
		}
	})

	t.Run("ErrLockedChangesNothing", func(t *testing.T) {
		dir, plain, _, _ := newSource(t)
		before := dirSnapshot(t, dir)
		release, err := LockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if err := Restore(ctx, dir, plain, ""); !errors.Is(err, ErrLocked) {
			t.Fatalf("Restore while locked = %v, want ErrLocked", err)
		}
		assertUnchanged(t, dir, before)
	})

	t.Run("ErrNoKeyNamesFingerprintChangesNothing", func(t *testing.T) {
		_, plain, _, key := newSource(t)
		other, _, _, _ := newSource(t) // a data directory with another key
		before := dirSnapshot(t, other)
		wantMsg := fmt.Sprintf("the backup needs the key with fingerprint %s; put it at %s (or DARAPORT_KEY) or use a backup made with --with-key",
			KeyFingerprint(key), filepath.Join(other, KeyFile))
		for _, env := range []string{"", base64.StdEncoding.EncodeToString(randomKey(t))} {
			err := Restore(ctx, other, plain, env)
			if !errors.Is(err, ErrNoKey) || err.Error() != wantMsg {
				t.Fatalf("Restore without the key (env %q) = %v\nwant %s", env, err, wantMsg)
			}
			assertUnchanged(t, other, before)
		}
		empty := t.TempDir()
		if err := Restore(ctx, empty, plain, ""); !errors.Is(err, ErrNoKey) {
			t.Fatalf("Restore into an empty dir without key = %v, want ErrNoKey", err)
		}
		assertUnchanged(t, empty, map[string]string{})
	})

	t.Run("ErrNotBackupChangesNothing", func(t *testing.T) {
		dir, _, _, _ := newSource(t)
		before := dirSnapshot(t, dir)
		junk := filepath.Join(t.TempDir(), "junk")
		os.WriteFile(junk, []byte(strings.Repeat("x", 4096)), 0o600)
		live := filepath.Join(t.TempDir(), "copy.db")
		copyFile(t, filepath.Join(dir, DBFile), live)
		truncated := filepath.Join(t.TempDir(), "truncated.db")
		b, _ := os.ReadFile(filepath.Join(dir, DBFile))
		os.WriteFile(truncated, b[:len(b)/2], 0o600)
		for _, p := range []string{junk, live, truncated} {
			if err := Restore(ctx, dir, p, ""); !errors.Is(err, ErrNotBackup) {
				t.Fatalf("Restore(%s) = %v, want ErrNotBackup", filepath.Base(p), err)
			}
			assertUnchanged(t, dir, before)
		}
	})

	t.Run("WithKeyReplacesOtherKeyAndKeepsIt", func(t *testing.T) {
		_, _, withKey, key := newSource(t)
		other, _, _, otherKey := newSource(t)
		if err := Restore(ctx, other, withKey, ""); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadKey(other, "", false); err != nil || KeyFingerprint(got) != KeyFingerprint(key) {
			t.Fatalf("key after restore: %v", err)
		}
		kept, _ := filepath.Glob(filepath.Join(other, KeyFile+".before-restore-*"))
		if len(kept) != 1 {
			t.Fatalf("kept keys: %v", kept)
		}
		b, _ := os.ReadFile(kept[0])
		if strings.TrimSpace(string(b)) != base64.StdEncoding.EncodeToString(otherKey) {
			t.Fatal("the kept key is not the previous key")
		}
		db := openRestored(t, other, "")
		if _, err := db.FindUserByEmail(ctx, "before@example.org"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrEnvKeyDiffersFromBackupKey", func(t *testing.T) {
		_, _, withKey, _ := newSource(t)
		other, _, _, _ := newSource(t)
		before := dirSnapshot(t, other)
		if err := Restore(ctx, other, withKey, base64.StdEncoding.EncodeToString(randomKey(t))); err == nil {
			t.Fatal("Restore installed a key that DARAPORT_KEY would override")
		}
		assertUnchanged(t, other, before)
	})
}
