package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit. A durable commit (synchronous=FULL) costs an fsync; a busy
// booking service would spend its time waiting for them. Batch hands fn to
// one writer goroutine, which runs every claim waiting at that moment, each
// in its own savepoint, inside one transaction, commits once and then answers
// every caller. A claim that fails rolls back to its savepoint alone; the
// others commit. Callers see exactly the semantics of Update: their fn's
// writes are durable when Batch returns nil, absent otherwise.

// maxBatch bounds how many claims share one commit, and batchBudget how
// long a batch keeps taking claims before it commits (see runBatch).
const (
	maxBatch    = 128
	batchBudget = 2 * time.Millisecond
)

type batchReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

type batcher struct {
	once sync.Once
	reqs chan *batchReq
	quit chan struct{}
	wg   sync.WaitGroup
}

// Batch runs fn in a write transaction shared with other concurrent Batch
// calls (each in its own savepoint) and returns once that transaction
// committed, with fn's error if fn failed (its writes then undone) or the
// commit's error. fn must not keep tx after it returns.
func (db *DB) Batch(ctx context.Context, fn func(tx *Tx) error) error {
	b := &db.batch
	b.once.Do(func() {
		b.reqs = make(chan *batchReq, 1024)
		b.quit = make(chan struct{})
		b.wg.Add(1)
		go db.batchLoop()
	})
	req := &batchReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errors.New("store: closed")
	}
	// Once queued, the claim runs to completion (or is skipped if its
	// context ended before its turn): wait for the verdict so a caller
	// never mistakes a committed booking for a failed one.
	return <-req.done
}

func (db *DB) stopBatch() {
	b := &db.batch
	if b.quit == nil {
		return
	}
	close(b.quit)
	b.wg.Wait()
}

func (db *DB) batchLoop() {
	b := &db.batch
	defer b.wg.Done()
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-b.quit:
			// Answer what is still queued, then stop.
			for {
				select {
				case r := <-b.reqs:
					db.runBatch(r)
				default:
					return
				}
			}
		}
		db.runBatch(first)
	}
}

// runBatch runs first and the claims that are queued, or arrive, while the
// batch is younger than batchBudget, then commits once and answers them
// all. The budget is what keeps the writer busy: an unbounded batch takes
// every waiting claim, and the writer then idles while all their clients
// read the answers and prepare their next requests; a batch that commits
// after a few milliseconds answers its clients while the next batch runs.
func (db *DB) runBatch(first *batchReq) {
	b := &db.batch
	batch := []*batchReq{first}
	var results []error
	ctx := context.Background()
	start := time.Now()
	err := db.Update(ctx, func(tx *Tx) error {
		tx.inBatch = true
		for i := 0; ; i++ {
			r := batch[i]
			var res error
			if err := r.ctx.Err(); err != nil {
				res = err
			} else {
				res = runSavepoint(ctx, tx, r.fn)
			}
			results = append(results, res)
			if len(batch) >= maxBatch || time.Since(start) >= batchBudget {
				return nil
			}
			select {
			case next := <-b.reqs:
				batch = append(batch, next)
			default:
				return nil
			}
		}
	})
	for i, r := range batch {
		var res error
		if i < len(results) {
			res = results[i]
		}
		if err != nil && res == nil {
			res = err // the commit failed: nothing of this claim stays
		}
		r.done <- res
	}
	if db.ws.pending() {
		db.ws.prepareWanted(ctx, db.write)
	}
}

// runSavepoint runs fn inside a savepoint of tx, undoing only fn's writes
// when it fails (or panics).
func runSavepoint(ctx context.Context, tx *Tx, fn func(tx *Tx) error) (err error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT claim"); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: claim panicked: %v", p)
		}
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO claim"); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE claim"); rerr != nil && err == nil {
			err = rerr
		}
	}()
	return fn(tx)
}
