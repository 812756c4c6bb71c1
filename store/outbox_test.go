package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestOutboxClaimAndRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	db := mustOpenDBOpts(t, Options{Now: clock})
	ctx := context.Background()
	woken := 0
	db.OnOutbox(func() { woken++ })
	enqueue := func(m *OutboxMessage) *OutboxMessage {
		t.Helper()
		if err := db.Update(ctx, func(tx *Tx) error { return tx.Enqueue(ctx, m) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := enqueue(&OutboxMessage{To: "a@example.org", Subject: "A", TextBody: "a"})
	b := enqueue(&OutboxMessage{To: "b@example.org", Subject: "B", TextBody: "b"})
	sms := enqueue(&OutboxMessage{Kind: OutboxSMS, To: "+33612345678", TextBody: "s"})
	held := enqueue(&OutboxMessage{To: "h@example.org", Subject: "H", TextBody: "h", State: OutboxHeld})
	if woken != 3 {
		t.Errorf("woken %d times for 3 queued rows", woken)
	}

	t.Run("OnlyDueQueuedOfTheKinds", func(t *testing.T) {
		got, err := db.ClaimOutbox(ctx, []string{OutboxEmail}, 10, time.Minute)
		if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].State != OutboxSending {
			t.Fatalf("claimed %v, %v", got, err)
		}
		if again, _ := db.ClaimOutbox(ctx, []string{OutboxEmail, OutboxSMS}, 10, time.Minute); len(again) != 1 || again[0].ID != sms.ID {
			t.Errorf("second claim: %v", again)
		}
		if none, _ := db.ClaimOutbox(ctx, nil, 10, time.Minute); len(none) != 0 {
			t.Errorf("no kinds claimed %d", len(none))
		}
	})
	t.Run("Record", func(t *testing.T) {
		next := now.Add(15 * time.Second)
		errs, err := db.RecordOutboxAttempts(ctx, []OutboxAttempt{
			{a.ID, OutboxResult{State: OutboxSent}},
			{b.ID, OutboxResult{State: OutboxQueued, NextAttemptAt: next, Error: "451 later"}},
			{held.ID, OutboxResult{State: OutboxSent}},
		})
		if err != nil || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrConflict) {
			t.Fatalf("record: %v %v", errs, err)
		}
		ra, _ := db.FindOutboxByID(ctx, a.ID)
		rb, _ := db.FindOutboxByID(ctx, b.ID)
		if ra.State != OutboxSent || ra.Attempts != 1 || !ra.SentAt.Equal(now) || rb.State != OutboxQueued || rb.Attempts != 1 || !rb.NextAttemptAt.Equal(next) || rb.LastError != "451 later" {
			t.Errorf("a %+v\nb %+v", ra, rb)
		}
		if got, _ := db.ClaimOutbox(ctx, []string{OutboxEmail}, 10, time.Minute); len(got) != 0 {
			t.Errorf("claimed a row before its next attempt: %d", len(got))
		}
		advance(time.Minute)
		if got, _ := db.ClaimOutbox(ctx, []string{OutboxEmail}, 10, time.Minute); len(got) != 1 || got[0].ID != b.ID || got[0].Attempts != 1 {
			t.Errorf("due again: %v", got)
		}
	})
	t.Run("LeasesRunOut", func(t *testing.T) {
		// b and sms are claimed with a one-minute lease; sms a minute earlier.
		advance(time.Second)
		if n, _ := db.RequeueOutbox(ctx, false); n != 1 {
			t.Errorf("requeued %d expired leases, want 1", n)
		}
		if n, _ := db.RequeueOutbox(ctx, true); n != 1 {
			t.Errorf("requeued %d at start, want 1", n)
		}
		if err := db.Update(ctx, func(tx *Tx) error { return tx.RecordOutboxAttempt(ctx, b.ID, OutboxResult{State: OutboxSent}) }); !errors.Is(err, ErrConflict) {
			t.Errorf("recording a row no longer claimed: %v", err)
		}
	})
	t.Run("RetryAndClaimByID", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error { return tx.RetryOutbox(ctx, a.ID) })
		if !errors.Is(err, ErrConflict) {
			t.Errorf("retrying a sent row: %v", err)
		}
		if err := db.Update(ctx, func(tx *Tx) error { return tx.RetryOutbox(ctx, "nope") }); !errors.Is(err, ErrNotFound) {
			t.Errorf("retrying an unknown row: %v", err)
		}
		m, err := db.ClaimOutboxByID(ctx, held.ID, time.Minute)
		if err != nil || m.State != OutboxSending {
			t.Fatalf("claim held by id: %v %v", m, err)
		}
		if _, err := db.ClaimOutboxByID(ctx, held.ID, time.Minute); !errors.Is(err, ErrConflict) {
			t.Errorf("claiming twice: %v", err)
		}
		if err := db.Update(ctx, func(tx *Tx) error {
			return tx.RecordOutboxAttempt(ctx, held.ID, OutboxResult{State: OutboxFailed, Error: "550"})
		}); err != nil {
			t.Fatal(err)
		}
		advance(time.Hour)
		var n int
		if err := db.Update(ctx, func(tx *Tx) (err error) { n, err = tx.RetryFailedOutbox(ctx, []string{OutboxEmail}); return }); err != nil || n != 1 {
			t.Fatalf("retry failed: %d %v", n, err)
		}
		m, _ = db.FindOutboxByID(ctx, held.ID)
		if m.State != OutboxQueued || m.Attempts != 0 || !m.RetryFrom.Equal(now) || !m.NextAttemptAt.Equal(now) || m.LastError != "550" {
			t.Errorf("after retry: %+v", m)
		}
	})
}
