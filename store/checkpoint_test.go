package store

import (
	"context"
	"os"
	"testing"
	"time"
)

// The writer never checkpoints in its commits; the checkpointer copies the
// WAL into the database file beside it, and the writer then rewinds the
// WAL instead of growing it.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	var auto int
	if err := db.write.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	size := func(name string) int64 {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size(db.path)
	if err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE ckpt_test (b BLOB)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	write := func(rounds int) {
		for i := 0; i < rounds; i++ {
			if err := db.Update(ctx, func(tx *Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO ckpt_test VALUES (randomblob(100000))")
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(40) // 4 MB
	deadline := time.Now().Add(10 * time.Second)
	for size(db.path) < before+4_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes, WAL %d: nothing was checkpointed", size(db.path), size(db.path+"-wal"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Checkpointed WAL is reused from its start: writing as much again
	// does not double it.
	wal := size(db.path + "-wal")
	time.Sleep(3 * checkpointEvery)
	if err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM ckpt_test")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	write(40)
	if got := size(db.path + "-wal"); got > wal+wal/2 {
		t.Fatalf("WAL grew from %d to %d bytes: it is not reused after checkpoints", wal, got)
	}
}
