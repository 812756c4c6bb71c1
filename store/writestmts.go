package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements on the writer connection. Every query of a write
// transaction used to be parsed again each time, one after another on the
// single writer: under a booking race, parsing was a large part of the time
// each claim held the writer. database/sql cannot prepare on the pool while
// a transaction holds its only connection, so a query seen for the first
// time inside a transaction runs unprepared and is remembered; it is
// prepared between transactions, and every later transaction runs it
// through Tx.StmtContext, which reuses the statement already prepared on
// that connection.
type writeStmts struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool
}

// maxWriteStmts bounds the cache: queries whose text varies (IN lists of
// different lengths) stop being added once it is full.
const maxWriteStmts = 256

func (w *writeStmts) lookup(q string) *sql.Stmt {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.m[q]; st != nil {
		return st
	}
	if len(w.m)+len(w.wanted) < maxWriteStmts {
		if w.wanted == nil {
			w.wanted = map[string]bool{}
		}
		w.wanted[q] = true
	}
	return nil
}

// prepareWanted prepares the queries remembered since the last call. It
// must run outside any write transaction of the calling goroutine.
func (w *writeStmts) prepareWanted(ctx context.Context, db *sql.DB) {
	w.mu.Lock()
	wanted := w.wanted
	w.wanted = nil
	w.mu.Unlock()
	for q := range wanted {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue // it keeps running unprepared, and reports its error there
		}
		w.mu.Lock()
		if w.m == nil {
			w.m = map[string]*sql.Stmt{}
		}
		if w.m[q] == nil {
			w.m[q] = st
			st = nil
		}
		w.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

func (w *writeStmts) pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.wanted) > 0
}

func (w *writeStmts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.m {
		st.Close()
	}
	w.m = nil
}

// ExecContext runs a statement in the transaction, prepared once.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.db.ws.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction, prepared once.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.db.ws.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a one-row query in the transaction, prepared once.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.db.ws.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}
