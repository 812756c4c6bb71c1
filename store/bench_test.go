package store

// Benchmarks for DESIGN §2: "Measure synchronous=NORMAL vs FULL and pick with
// reason: a confirmed booking must survive power loss". Run them with
//
//	go test ./store/ -run '^$' -bench . -cpu 2
//
// on the machine's real disk (b.TempDir() is under $TMPDIR, /tmp by
// default: check it is not a tmpfs, where fsync costs nothing and the two
// levels look the same).

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkWriteTx is a booking-shaped write transaction through DB.Update,
// the only way the application writes: read a row, change it, insert a row,
// append a hash-chained audit entry — one BEGIN IMMEDIATE … COMMIT on the
// single writer connection, so one WAL commit (and with FULL one fsync of the
// WAL) per transaction. Appointments do not exist yet: the user row stands
// for the slot and a session row for the appointment.
func BenchmarkWriteTx(b *testing.B) {
	for _, level := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+level, func(b *testing.B) {
			ctx := context.Background()
			db := mustOpenDBOpts(b, Options{Synchronous: level})
			var got int
			if err := db.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
				b.Fatal(err)
			}
			if want := map[string]int{"NORMAL": 1, "FULL": 2}[level]; got != want {
				b.Fatalf("writer connection has synchronous=%d, want %d (%s)", got, want, level)
			}
			u := mustCreateUser(b, db, "bench@example.org")
			expires := time.Now().Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				err := db.Update(ctx, func(tx *Tx) error {
					cur, err := tx.FindUserByID(ctx, u.ID)
					if err != nil {
						return err
					}
					name := cur.Name[:min(len(cur.Name), 40)] + "'"
					if err := tx.UpdateUser(ctx, u.ID, UserUpdate{Name: &name}); err != nil {
						return err
					}
					s := &Session{ID: HashToken(strconv.Itoa(i)), UserID: u.ID, ExpiresAt: expires, IP: "192.0.2.1", UserAgent: "bench"}
					if err := tx.CreateSession(ctx, s); err != nil {
						return err
					}
					return tx.Audit(ctx, &AuditEntry{ActorID: u.ID, Action: "bench.book", ObjectType: "session", ObjectID: s.ID, IP: "192.0.2.1"})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// BenchmarkReadUser is FindUserByID on the read pool from parallel
// goroutines (every signed-in request does one).
func BenchmarkReadUser(b *testing.B) {
	ctx := context.Background()
	db := mustOpenDB(b)
	u := mustCreateUser(b, db, "bench@example.org")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.FindUserByID(ctx, u.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
