package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BackupFormat is the version of the backup_info layout written by Backup.
const BackupFormat = "1"

// ErrNotBackup means a file given to Restore or ReadBackupInfo is not a
// Daraport backup: not a SQLite database, damaged, or without backup_info.
var ErrNotBackup = errors.New("store: not a Daraport backup")

// Backup writes a consistent copy of the live database to dst, safe while
// other goroutines or processes write (VACUUM INTO reads one snapshot).
// The copy carries a backup_info table: the key fingerprint, the creation
// time, the format and, when withKey is not nil, the at-rest key itself
// (the operator's --with-key). withKey must be the database's own key.
//
// The copy is built in a private temporary directory next to dst, checked
// with PRAGMA integrity_check, synced, and only then moved to dst (0600).
// It returns an error if dst already exists.
func (db *DB) Backup(ctx context.Context, dst string, withKey []byte) error {
	if withKey != nil && KeyFingerprint(withKey) != db.KeyID() {
		return errors.New("store: backup: the key given is not the database's key")
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("store: backup: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// A 0700 directory keeps the copy unreadable by others during the moment
	// VACUUM INTO creates it with the process umask.
	tmpDir, err := os.MkdirTemp(parent, ".daraport-backup-*")
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, DBFile)
	if err := db.VacuumInto(ctx, tmp); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	info := map[string]string{
		"key_id":     db.KeyID(),
		"created_at": db.Now().Format(time.RFC3339),
		"format":     BackupFormat,
	}
	if withKey != nil {
		info["key"] = base64.StdEncoding.EncodeToString(withKey)
	}
	if err := writeBackupInfo(ctx, tmp, info); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := renameNoReplace(tmp, dst); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	syncDir(parent)
	return nil
}

// writeBackupInfo opens the fresh copy at path (rollback journal, so no
// -wal file travels with it), adds backup_info and checks the result.
func writeBackupInfo(ctx context.Context, path string, info map[string]string) error {
	c, err := openFile(path, false)
	if err != nil {
		return err
	}
	defer c.Close()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "CREATE TABLE backup_info (key TEXT PRIMARY KEY, value TEXT)"); err != nil {
		return err
	}
	for k, v := range info {
		if _, err := tx.ExecContext(ctx, "INSERT INTO backup_info (key, value) VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := integrityCheck(ctx, c); err != nil {
		return err
	}
	return c.Close()
}

// ReadBackupInfo returns the backup_info of the backup at src, without the
// key itself: "key_id", "created_at", "format" and "has_key" ("true" or
// "false"). src is opened read-only. It returns ErrNotBackup (wrapped) if
// src is not a Daraport backup.
func ReadBackupInfo(ctx context.Context, src string) (map[string]string, error) {
	if err := checkSQLiteHeader(src); err != nil {
		return nil, err
	}
	c, err := openFile(src, true)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	info, err := readBackupInfo(ctx, c, src)
	if err != nil {
		return nil, err
	}
	_, has := info["key"]
	delete(info, "key")
	info["has_key"] = fmt.Sprint(has)
	return info, nil
}

func readBackupInfo(ctx context.Context, c *sql.DB, src string) (map[string]string, error) {
	var n int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'backup_info'").Scan(&n); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotBackup, src, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s has no backup_info table", ErrNotBackup, src)
	}
	rows, err := c.QueryContext(ctx, "SELECT key, COALESCE(value, '') FROM backup_info")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotBackup, src, err)
	}
	defer rows.Close()
	info := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotBackup, src, err)
		}
		info[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotBackup, src, err)
	}
	if _, ok := info["key_id"]; !ok {
		return nil, fmt.Errorf("%w: %s: backup_info has no key_id", ErrNotBackup, src)
	}
	if info["format"] != BackupFormat {
		return nil, fmt.Errorf("store: %s: unsupported backup format %q", src, info["format"])
	}
	return info, nil
}

// keyNeededError is Restore's refusal when the data directory does not hold
// the key the backup was made with. It matches ErrNoKey.
type keyNeededError struct{ fingerprint, dir string }

func (e *keyNeededError) Error() string {
	return fmt.Sprintf("the backup needs the key with fingerprint %s; put it at %s (or DARAPORT_KEY) or use a backup made with --with-key",
		e.fingerprint, filepath.Join(e.dir, KeyFile))
}

func (e *keyNeededError) Unwrap() error { return ErrNoKey }

// Restore replaces the database in dir with the backup at src.
//
// It takes the directory lock first and returns ErrLocked while a server
// holds it. It returns ErrNotBackup (wrapped) if src is not a sound Daraport
// backup, and an error matching ErrNoKey, which names the fingerprint, when
// the backup carries no key and neither envKey (DARAPORT_KEY, base64) nor
// dir/secret.key is the key it was made with. A backup made with --with-key
// installs its key as dir/secret.key, unless envKey already is that key;
// an envKey that differs from the backup's key is refused, since the server
// would then start with the wrong key.
//
// Every check runs on a private copy inside dir before anything is moved, so
// a refusal leaves the directory as it was (apart from the lock file). On
// success the previous database and key, if any, are kept beside the new
// ones as daraport.db.before-restore-<time> and secret.key.before-restore-<time>;
// the backup_info table (and with it any key) is removed from the restored
// database.
func Restore(ctx context.Context, dir, src, envKey string) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	release, err := LockDir(dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, release()) }()

	if err := checkSQLiteHeader(src); err != nil {
		return err
	}
	// Work on a copy: src is never opened by SQLite, so never written to,
	// and the copy is already on the data directory's file system, ready to
	// be renamed into place.
	tmpf, err := os.CreateTemp(dir, DBFile+".restore-*")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp := tmpf.Name()
	installed := false
	defer func() {
		if !installed {
			os.Remove(tmp)
			os.Remove(tmp + "-journal")
		}
	}()
	if err := copyInto(tmpf, src); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}

	c, err := openFile(tmp, false)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer c.Close()
	if err := integrityCheck(ctx, c); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotBackup, src, err)
	}
	info, err := readBackupInfo(ctx, c, src)
	if err != nil {
		return err
	}
	if err := checkKnownMigrations(ctx, c); err != nil {
		return err
	}

	need := info["key_id"]
	var installKey []byte // the backup's key, to write as dir/secret.key
	if enc, ok := info["key"]; ok {
		k, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(k) != 32 || KeyFingerprint(k) != need {
			return fmt.Errorf("%w: %s: its key does not match its key_id %s", ErrNotBackup, src, need)
		}
		if envKey != "" {
			ek, err := LoadKey(dir, envKey, false)
			if err != nil {
				return err
			}
			if KeyFingerprint(ek) != need {
				return fmt.Errorf("store: restore: the backup's key has fingerprint %s but DARAPORT_KEY has %s; unset DARAPORT_KEY or set it to the backup's key",
					need, KeyFingerprint(ek))
			}
		} else if cur, err := LoadKey(dir, "", false); err != nil || subtle.ConstantTimeCompare(cur, k) != 1 {
			installKey = k
		}
	} else if need != "" {
		k, err := LoadKey(dir, envKey, false)
		if err != nil || KeyFingerprint(k) != need {
			return &keyNeededError{fingerprint: need, dir: dir}
		}
	}

	// Remove backup_info so the key does not live on inside the database;
	// secure_delete and VACUUM leave no copy in free pages.
	for _, q := range []string{"PRAGMA secure_delete = ON", "DROP TABLE backup_info", "VACUUM"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: restore: %s: %w", q, err)
		}
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}

	// From here on the directory changes. The key goes in before the
	// database, so a daraport.db restored here is never without its key;
	// a failure puts back what was moved.
	stamp := "before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	keyPath := filepath.Join(dir, KeyFile)
	var keptKey string
	if installKey != nil {
		if _, err := os.Stat(keyPath); err == nil {
			keptKey = freeName(keyPath + "." + stamp)
			if err := os.Rename(keyPath, keptKey); err != nil {
				return fmt.Errorf("store: restore: keep the previous key: %w", err)
			}
		}
		if err := WriteKey(dir, installKey); err != nil {
			return errors.Join(err, undoKey(keyPath, keptKey))
		}
		if err := syncFile(keyPath); err != nil {
			return errors.Join(fmt.Errorf("store: restore: %w", err), undoKey(keyPath, keptKey))
		}
	}
	undo := func(err error) error {
		if installKey != nil {
			err = errors.Join(err, undoKey(keyPath, keptKey))
		}
		return err
	}

	dbPath := filepath.Join(dir, DBFile)
	if _, err := os.Stat(dbPath); err == nil {
		kept := freeName(dbPath + "." + stamp)
		if err := os.Rename(dbPath, kept); err != nil {
			return undo(fmt.Errorf("store: restore: keep the previous database: %w", err))
		}
		// A -wal left by a server that stopped uncleanly may hold committed
		// transactions of the previous database: it follows that database
		// (SQLite finds it as <name>-wal) rather than being thrown away.
		if _, err := os.Stat(dbPath + "-wal"); err == nil {
			if err := os.Rename(dbPath+"-wal", kept+"-wal"); err != nil {
				return undo(errors.Join(fmt.Errorf("store: restore: %w", err), os.Rename(kept, dbPath)))
			}
		}
	}
	if err := removeIfExists(dbPath + "-wal"); err != nil {
		return undo(fmt.Errorf("store: restore: %w", err))
	}
	if err := removeIfExists(dbPath + "-shm"); err != nil {
		return undo(fmt.Errorf("store: restore: %w", err))
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return undo(fmt.Errorf("store: restore: %w", err))
	}
	installed = true
	syncDir(dir)
	return nil
}

// checkKnownMigrations refuses a backup whose schema was migrated by a newer
// Daraport than this one: migrations only go forward.
func checkKnownMigrations(ctx context.Context, c *sql.DB) error {
	known := map[string]bool{}
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	for _, n := range names {
		known[filepath.Base(n)] = true
	}
	rows, err := c.QueryContext(ctx, "SELECT name FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("%w: no schema_migrations: %w", ErrNotBackup, err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if !known[n] {
			return fmt.Errorf("store: restore: the backup has migration %s, unknown to this version of Daraport; restore it with a newer version", n)
		}
	}
	return rows.Err()
}

// openFile opens one SQLite file outside the DB pools, on one connection.
// readOnly opens it immutable (a backup file no one writes); otherwise it
// uses a rollback journal, so no -wal file is left beside it.
func openFile(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	} else {
		q.Add("_pragma", "journal_mode(DELETE)")
		q.Add("_pragma", "synchronous(FULL)")
	}
	// SQLite decodes %HH in a URI path and stops it at '?' or '#'.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	c, err := sql.Open("sqlite", "file:"+esc+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	c.SetMaxOpenConns(1)
	return c, nil
}

// checkSQLiteHeader gives a clear error for a file that is not SQLite at all.
func checkSQLiteHeader(src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(f, hdr); err != nil || !bytes.Equal(hdr, []byte("SQLite format 3\x00")) {
		return fmt.Errorf("%w: %s is not a SQLite database", ErrNotBackup, src)
	}
	return nil
}

// copyInto copies src into f, syncs and closes f.
func copyInto(f *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		f.Close()
		return err
	}
	defer in.Close()
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes renames in dir durable. Best effort: Windows cannot open a
// directory for syncing, and the renames are done already.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// renameNoReplace moves tmp to dst, failing if dst appeared meanwhile. A hard
// link cannot replace an existing file; where links are unsupported it falls
// back to a rename after a last check.
func renameNoReplace(tmp, dst string) error {
	if err := os.Link(tmp, dst); err == nil {
		return os.Remove(tmp)
	} else if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists", dst)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s already exists", dst)
	}
	return os.Rename(tmp, dst)
}

// freeName returns path, or path with a counter when that name is taken
// (two restores in the same second).
func freeName(path string) string {
	p := path
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p
		}
		p = fmt.Sprintf("%s-%d", path, i)
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// undoKey removes a key Restore installed and puts back the one it moved.
func undoKey(keyPath, kept string) error {
	err := removeIfExists(keyPath)
	if kept != "" {
		err = errors.Join(err, os.Rename(kept, keyPath))
	}
	return err
}

// VerifyBackup opens the backup at path read-only and checks it the way
// Restore would: a SQLite file whose PRAGMA integrity_check answers "ok",
// holding a readable backup_info. It returns ErrNotBackup (wrapped) when it
// is not a sound Daraport backup.
func VerifyBackup(ctx context.Context, path string) error {
	if err := checkSQLiteHeader(path); err != nil {
		return err
	}
	c, err := openFile(path, true)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := integrityCheck(ctx, c); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotBackup, path, err)
	}
	_, err = readBackupInfo(ctx, c, path)
	return err
}
