package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestBatch: concurrent claims share commits, a failing or panicking claim
// undoes only its own writes, and every success is durable on return.
func TestBatch(t *testing.T) {
	db := mustOpenDB(t)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Batch(ctx, func(tx *Tx) error {
				// Every third claim collides on the same e-mail; the first of
				// them wins, the others fail alone.
				email := fmt.Sprintf("u%d@example.org", i)
				if i%3 == 0 {
					email = "same@example.org"
				}
				if err := tx.CreateUser(ctx, &User{Email: email, Name: "U"}); err != nil {
					return err
				}
				if i == 7 {
					panic("boom")
				}
				return tx.Audit(ctx, &AuditEntry{Action: "test.batch", ObjectID: email})
			})
		}(i)
	}
	wg.Wait()
	ok, conflicts, panics := 0, 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConflict):
			conflicts++
		case i == 7:
			panics++
		default:
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	users, _ := db.CountUsers(ctx)
	if users != ok || ok != (n-n/3-1)+1 { // 199 distinct e-mails but the panicking one, plus the first "same"
		t.Fatalf("%d users, %d successes (conflicts %d, panics %d)", users, ok, conflicts, panics)
	}
	if conflicts != n/3-1 || panics != 1 {
		t.Fatalf("conflicts %d, panics %d", conflicts, panics)
	}
	if c, err := db.VerifyAudit(ctx); err != nil || c != ok {
		t.Fatalf("audit chain %d entries, %v", c, err)
	}
}
