// Package store is Daraport's persistence layer: it opens the SQLite
// database in the data directory, applies the embedded migrations and exposes
// typed methods grouped by aggregate (one file each). It knows SQL and
// nothing of HTTP.
//
// Writes go through a single connection whose transactions start with
// BEGIN IMMEDIATE, so writers queue instead of failing with SQLITE_BUSY;
// reads use a separate pool. Every connection gets its pragmas from the DSN.
//
//	db, err := store.Open(ctx, store.Options{Dir: "./daraport-data"})
//	if err != nil { ... }
//	defer db.Close()
//	u, err := db.FindUserByEmail(ctx, "a@example.org") // store.ErrNotFound if absent
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// DBFile is the name of the database file inside the data directory.
const DBFile = "daraport.db"

// Errors returned by store methods. Callers compare with errors.Is.
var (
	// ErrNotFound means the object asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness rule or a state precondition failed
	// (an e-mail already taken, a slot no longer free, a token already used).
	ErrConflict = errors.New("store: conflict")
)

// Options configures Open.
type Options struct {
	// Dir is the data directory; it is created (0700) if missing.
	Dir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Synchronous is the SQLite synchronous level: "FULL" (default) or "NORMAL".
	Synchronous string
	// NoMigrate opens without applying migrations (backup/restore tools).
	NoMigrate bool
	// Key is the 32-byte at-rest encryption key (see LoadKey). Without it,
	// methods that read or write encrypted columns fail with ErrNoKey.
	Key []byte
}

// DB is the open database: one writer connection and a pool of readers.
type DB struct {
	write *sql.DB
	read  *sql.DB
	dir   string
	path  string
	now   func() time.Time
	seal  *sealer
	keyID string
	batch batcher
	ckpt  checkpointer
	rq    *stmtCache // the read pool, through prepared statements

	ws          writeStmts    // prepared statements of the writer (writestmts.go)
	authEpoch   atomic.Uint64 // see authepoch.go
	intakeEpoch atomic.Uint64
	authDirty   atomic.Bool // set by the writer's hook, flushed after the transaction
	intakeDirty atomic.Bool
	targetEpoch atomic.Uint64 // practices and types (targetcache.go)
	targetDirty atomic.Bool
	targets     targetCache
	// outboxHook is called when a queued outbox row is written (outbox.go).
	outboxHook atomic.Pointer[func()]
	// linkKey makes visit links (visits.go), derived from the at-rest key.
	linkKey []byte
}

// Open opens (creating if needed) the database in opts.Dir, applies pending
// migrations (backing the database up first when it already holds data) and
// returns it ready for use.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Dir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(opts.Dir, DBFile)
	// Create the file 0600 before SQLite does: its -wal and -shm files take
	// the database file's mode, so none of them is ever readable by others.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("store: create database file: %w", err)
	}
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("store: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	db := &DB{dir: opts.Dir, path: path, now: opts.Now}
	wc, err := sqlite.NewConnector(dsn(path, sync, true))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	w := sql.OpenDB(hookedConnector{Connector: wc, db: db})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn(path, sync, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.write, db.read, db.rq = w, r, newStmtCache(r)
	if db.now == nil {
		db.now = time.Now
	}
	if opts.Key != nil {
		if db.seal, err = newSealer(opts.Key); err != nil {
			db.Close()
			return nil, err
		}
		db.keyID = KeyFingerprint(opts.Key)
		db.linkKey = deriveLinkKey(opts.Key)
	}
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o600)
	if !opts.NoMigrate {
		if err := db.migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	db.startCheckpointer()
	return db, nil
}

func dsn(path, sync string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous("+sync+")")
	// Statement and savepoint journals (every claim of a group commit
	// runs in a savepoint), sorts and temporary indexes stay in memory:
	// on a file they cost a write(2) per page a claim first touches.
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Set("_txlock", "immediate")
		// Checkpoints run beside the writer, not in its commits
		// (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	// Escape the path: a directory name holding '?', '#' or '%' must not
	// change which file is opened.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close checkpoints the WAL and closes both pools.
func (db *DB) Close() error {
	db.stopBatch()
	db.stopCheckpointer()
	if db.rq != nil {
		db.rq.close()
	}
	db.ws.close()
	if db.write != nil {
		_, _ = db.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// KeyID returns the fingerprint of the at-rest key in use ("" without key).
func (db *DB) KeyID() string { return db.keyID }

func (db *DB) sealer() (*sealer, error) {
	if db.seal == nil {
		return nil, ErrNoKey
	}
	return db.seal, nil
}

// Now returns the store clock's current time, in UTC.
func (db *DB) Now() time.Time { return db.now().UTC() }

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.rq.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is a write transaction with the time fixed when it began, so every row
// a use case writes carries the same instant.
type Tx struct {
	*sql.Tx
	db      *DB
	now     time.Time
	inBatch bool // the batch loop prepares after answering its callers
}

// Now returns the transaction's instant (UTC).
func (tx *Tx) Now() time.Time { return tx.now }

// Update runs fn in one write transaction (BEGIN IMMEDIATE) and commits it if
// fn returns nil; it rolls back otherwise and returns fn's error.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, db: db, now: db.Now()}
	defer db.flushEpochs()
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", formatError(err))
	}
	db.committed()
	if !tx.inBatch && db.ws.pending() {
		db.ws.prepareWanted(ctx, db.write)
	}
	return nil
}

// queryer is what read helpers need: the read pool or a write transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// NewID returns a new opaque identifier of 26 characters: the creation
// time in milliseconds (48 bits) then 80 random bits, in lower-case
// base32hex, so ids sort by creation. Unguessable all the same, and never
// a counter (DESIGN §2); the time prefix is what keeps a busy write path
// cheap: a table's id index takes new rows on its last page instead of a
// random one each, so a group commit writes a few pages where it wrote one
// per row. Secrets come from newSecret, all random.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return idEncoding.EncodeToString(b[:])
}

// idEncoding is base32hex, whose alphabet is in ASCII order, so the
// encoded ids sort as the bytes do.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newSecret returns 32 random bytes in lower-case base32 (52 characters).
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// formatError maps SQLite constraint errors to the store's typed errors.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}

// unix converts a time to stored unix seconds; the zero time is stored as NULL.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// fromUnix converts a stored nullable unix time back.
func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return err
	}
	return db.migrateFS(ctx, sub)
}

// migrateFS applies the *.sql files at the root of fsys that are not yet
// recorded in schema_migrations, in lexical order, one transaction each,
// backing the database up first when it already holds applied migrations.
// migrate passes the embedded migrations; tests pass an fstest.MapFS to
// exercise a pending migration on a database that holds data.
func (db *DB) migrateFS(ctx context.Context, fsys fs.FS) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	applied := map[string]bool{}
	rows, err := db.write.QueryContext(ctx, "SELECT name FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("store: read migrations: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		applied[n] = true
	}
	rows.Close()
	var pending []string
	for _, n := range names {
		if !applied[filepath.Base(n)] {
			pending = append(pending, n)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if len(applied) > 0 {
		dst := filepath.Join(db.dir, "backups", fmt.Sprintf("pre-migrate-%s-%s.db",
			strings.TrimSuffix(filepath.Base(pending[0]), ".sql"), db.Now().Format("20060102T150405Z")))
		if err := db.VacuumInto(ctx, dst); err != nil {
			return fmt.Errorf("store: backup before migrating: %w", err)
		}
	}
	for _, n := range pending {
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return err
		}
		err = db.Update(ctx, func(tx *Tx) error {
			// Re-check under the write lock: a second process (say, `user
			// add` started with `serve`) may have applied it meanwhile.
			var done int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", filepath.Base(n)).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", filepath.Base(n), tx.now.Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", filepath.Base(n), err)
		}
	}
	return nil
}

// VacuumInto writes a consistent copy of the live database to dst (which must
// not exist), safe while other connections write. The directory of dst is
// created if missing.
func (db *DB) VacuumInto(ctx context.Context, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s already exists", dst)
	}
	_, err := db.read.ExecContext(ctx, "VACUUM INTO ?", dst)
	if err != nil {
		return fmt.Errorf("store: vacuum into: %w", err)
	}
	return os.Chmod(dst, 0o600)
}

// Migrations returns the names of the applied migrations, in order.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT name FROM schema_migrations ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error unless it
// answers "ok".
func (db *DB) IntegrityCheck(ctx context.Context) error {
	return integrityCheck(ctx, db.read)
}

func integrityCheck(ctx context.Context, q queryer) error {
	rows, err := q.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("integrity check failed: %s", strings.Join(msgs, "; "))
}
