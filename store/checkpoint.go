package store

import (
	"context"
	"sync"
	"time"
)

// Checkpoints off the writer's path. SQLite's automatic checkpoint runs
// inside the commit that crosses its threshold, on the one writer
// connection: every thousand pages a commit also copies the WAL into the
// database file and syncs it, and every claim queued behind it waits. The
// writer therefore has automatic checkpoints off (wal_autocheckpoint(0) in
// its DSN) and a goroutine of its own runs PASSIVE checkpoints on a read
// connection after commits, at most every checkpointEvery: a PASSIVE
// checkpoint never blocks the writer or readers, and the writer rewinds the
// WAL by itself once a checkpoint has copied all of it. Close still
// truncates the WAL.

// checkpointEvery spaces checkpoints: a busy second holds a few of them,
// an idle database none.
const checkpointEvery = 100 * time.Millisecond

type checkpointer struct {
	wake chan struct{}
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup
}

func (db *DB) startCheckpointer() {
	c := &db.ckpt
	c.wake = make(chan struct{}, 1)
	c.quit = make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.wake:
			case <-c.quit:
				return
			}
			_ = db.Checkpoint(context.Background())
			select {
			case <-time.After(checkpointEvery):
			case <-c.quit:
				return
			}
		}
	}()
}

// committed tells the checkpointer that the WAL grew.
func (db *DB) committed() {
	if db.ckpt.wake == nil {
		return
	}
	select {
	case db.ckpt.wake <- struct{}{}:
	default:
	}
}

func (db *DB) stopCheckpointer() {
	if db.ckpt.quit == nil {
		return
	}
	db.ckpt.stop.Do(func() { close(db.ckpt.quit) })
	db.ckpt.wg.Wait()
}

// Checkpoint copies what the WAL holds into the database file as far as no
// reader still needs it (PASSIVE), without blocking anyone.
func (db *DB) Checkpoint(ctx context.Context) error {
	var busy, log, done int
	return db.read.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
}
