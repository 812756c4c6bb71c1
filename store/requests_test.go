package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestBookingRequests(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	p := mustPracticeForTypes(t, db, "Requests")
	u := &User{Email: "req@example.org", Name: "R"}
	r := &BookingRequest{PracticeID: p, Preferences: "Tuesday evenings"}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		r.PatientID = u.ID
		return tx.CreateBookingRequest(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.FindBookingRequestByID(ctx, r.ID)
	if err != nil || got.Preferences != "Tuesday evenings" || got.State != RequestOpen {
		t.Fatalf("%v %+v", err, got)
	}
	var raw []byte
	if err := db.read.QueryRowContext(ctx, "SELECT preferences FROM booking_requests WHERE id = ?", r.ID).Scan(&raw); err != nil || bytes.Contains(raw, []byte("Tuesday")) {
		t.Fatalf("preferences stored in clear: %v", err)
	}
	t.Run("OK", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.ChangeBookingRequest(ctx, r.ID, BookingRequestChange{From: RequestOpen, To: RequestProposed, TypeID: "t1", ProposedSlot: "s1"})
		})
		got, _ := db.FindBookingRequestByID(ctx, r.ID)
		if err != nil || got.State != RequestProposed || got.TypeID != "t1" || got.ProposedSlot != "s1" {
			t.Fatalf("%v %+v", err, got)
		}
		// An empty TypeID keeps the type; the slot is cleared.
		err = db.Update(ctx, func(tx *Tx) error {
			return tx.ChangeBookingRequest(ctx, r.ID, BookingRequestChange{From: RequestProposed, To: RequestOpen})
		})
		got, _ = db.FindBookingRequestByID(ctx, r.ID)
		if err != nil || got.State != RequestOpen || got.TypeID != "t1" || got.ProposedSlot != "" {
			t.Fatalf("%v %+v", err, got)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.ChangeBookingRequest(ctx, r.ID, BookingRequestChange{From: RequestProposed, To: RequestBooked})
		})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.ChangeBookingRequest(ctx, "nope", BookingRequestChange{From: RequestOpen, To: RequestBooked})
		})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v", err)
		}
		if _, err := db.FindBookingRequestByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("Filter", func(t *testing.T) {
		var n int
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.CountActiveBookingRequests(ctx, p, u.ID)
			return err
		})
		list, err2 := db.FindBookingRequests(ctx, BookingRequestFilter{PracticeID: p, States: []string{RequestOpen}})
		none, err3 := db.FindBookingRequests(ctx, BookingRequestFilter{PatientID: "other"})
		if err != nil || err2 != nil || err3 != nil || n != 1 || len(list) != 1 || len(none) != 0 {
			t.Fatalf("%v %v %v: %d %d %d", err, err2, err3, n, len(list), len(none))
		}
	})
}
