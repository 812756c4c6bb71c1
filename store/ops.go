package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// Sizes returns the size in bytes of the database file and of its
// write-ahead log (0 when there is none).
func (db *DB) Sizes() (dbBytes, walBytes int64, err error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, 0, err
	}
	dbBytes = fi.Size()
	if wi, err := os.Stat(db.path + "-wal"); err == nil {
		walBytes = wi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	return dbBytes, walBytes, nil
}

// CountAppointments returns the number of appointments by state.
func (db *DB) CountAppointments(ctx context.Context) (map[string]int, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT state, count(*) FROM appointments GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
