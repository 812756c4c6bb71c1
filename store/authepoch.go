package store

import (
	"context"
	"database/sql/driver"
	"reflect"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The auth epoch lets the app cache "who is this API token" safely. It
// changes whenever this process writes anything that decides what a
// request may do: a user row (disabled, consent, …), a membership, an API
// token created, revoked or deleted. The writer connection reports every
// row it changes through SQLite's pre-update hook, so no code path can
// forget to invalidate. Other processes (the CLI) only ever add users and
// tokens, which a cache of known tokens cannot hold stale; the app bounds
// each entry's life anyway.

// AuthEpoch returns the current auth epoch.
func (db *DB) AuthEpoch() uint64 { return db.authEpoch.Load() }

// IntakeEpoch changes whenever this process writes an intake question, so
// the questions of a type can be cached the same way.
func (db *DB) IntakeEpoch() uint64 { return db.intakeEpoch.Load() }

// hookedConnector opens writer connections with the pre-update hook set, on
// every connection the pool ever opens.
type hookedConnector struct {
	driver.Connector
	db *DB
}

func (c hookedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if h, ok := conn.(sqlite.HookRegisterer); ok {
		h.RegisterPreUpdateHook(c.db.preUpdate)
	}
	return conn, nil
}

// apiTokensLastUsed is the column index of api_tokens.last_used_at (0001):
// touching it on each use must not invalidate the cache.
const apiTokensLastUsed = 5

func (db *DB) preUpdate(d sqlite.SQLitePreUpdateData) {
	switch d.TableName {
	case "intake_questions":
		db.intakeDirty.Store(true)
	case "users", "memberships":
		db.authDirty.Store(true)
	case "practices", "appointment_types":
		db.targetDirty.Store(true)
	case "api_tokens":
		if d.Op == sqlite3.SQLITE_UPDATE {
			n := d.Count()
			old, cur := make([]any, n), make([]any, n)
			if d.Old(old...) == nil && d.New(cur...) == nil {
				old[apiTokensLastUsed], cur[apiTokensLastUsed] = nil, nil
				if reflect.DeepEqual(old, cur) {
					return // only its last use changed
				}
			}
		}
		db.authDirty.Store(true)
	}
}

// flushEpochs moves the epochs of what the transaction just ended changed.
// It runs once the commit (or rollback) is over, never from the hook: a
// reader that took the epoch and then read the old rows before the commit
// must find its cache entry outdated, so the epoch moves after the new rows
// are visible.
func (db *DB) flushEpochs() {
	if db.authDirty.Swap(false) {
		db.authEpoch.Add(1)
	}
	if db.intakeDirty.Swap(false) {
		db.intakeEpoch.Add(1)
	}
	if db.targetDirty.Swap(false) {
		db.targetEpoch.Add(1)
	}
}
