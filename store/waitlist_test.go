package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// waitFixture is a practice with four free 15-minute slots from start, a
// type and two patients.
type waitFixture struct {
	db         *DB
	practiceID string
	typ        *AppointmentType
	p1, p2     string
	start      time.Time
	slots      []Slot
}

func newWaitFixture(t *testing.T) *waitFixture {
	t.Helper()
	db := mustOpenDB(t)
	ctx := context.Background()
	f := &waitFixture{db: db, practiceID: mustPracticeForTypes(t, db, "Waiting room")}
	f.typ = mustCreateType(t, db, f.practiceID, "Visit")
	f.start = time.Now().Add(48 * time.Hour).Truncate(time.Hour).UTC()
	var slots []Slot
	for i := range 4 {
		st := f.start.Add(time.Duration(i*15) * time.Minute)
		slots = append(slots, Slot{Start: st, End: st.Add(15 * time.Minute), Day: st.Format("2006-01-02")})
	}
	err := db.Update(ctx, func(tx *Tx) error {
		for i, email := range []string{"w1@example.org", "w2@example.org"} {
			u := &User{Email: email, Name: email, Locale: "en"}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if i == 0 {
				f.p1 = u.ID
			} else {
				f.p2 = u.ID
			}
		}
		_, err := tx.InsertSlots(ctx, f.practiceID, slots)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.slots, err = db.FindSlots(ctx, f.practiceID, f.start, f.start.Add(time.Hour)); err != nil || len(f.slots) != 4 {
		t.Fatalf("%d slots: %v", len(f.slots), err)
	}
	return f
}

func (f *waitFixture) states(t *testing.T) string {
	t.Helper()
	list, err := f.db.FindSlots(context.Background(), f.practiceID, f.start, f.start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s := ""
	for _, sl := range list {
		s += sl.State[:1]
	}
	return s
}

func TestHoldSlots(t *testing.T) {
	f := newWaitFixture(t)
	ctx := context.Background()
	ids := []string{f.slots[0].ID, f.slots[1].ID}
	t.Run("OK", func(t *testing.T) {
		if err := f.db.Update(ctx, func(tx *Tx) error { return tx.HoldSlots(ctx, f.practiceID, ids) }); err != nil {
			t.Fatal(err)
		}
		if got := f.states(t); got != "hhff" {
			t.Fatalf("states %s", got)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		// One of the two is held already: nothing changes.
		err := f.db.Update(ctx, func(tx *Tx) error { return tx.HoldSlots(ctx, f.practiceID, []string{f.slots[1].ID, f.slots[2].ID}) })
		if !errors.Is(err, ErrConflict) || f.states(t) != "hhff" {
			t.Fatalf("%v %s", err, f.states(t))
		}
		// Booking a held slot fails like booking a taken one.
		err = f.db.Update(ctx, func(tx *Tx) error { return tx.BookSlots(ctx, f.practiceID, "appt", ids[:1]) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("booking a held slot: %v", err)
		}
		// Another practice's id does not hold these slots.
		err = f.db.Update(ctx, func(tx *Tx) error { return tx.HoldSlots(ctx, "other", []string{f.slots[2].ID}) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("other practice: %v", err)
		}
	})
	t.Run("Unhold", func(t *testing.T) {
		var n int
		err := f.db.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.UnholdSlots(ctx, f.practiceID, []string{f.slots[0].ID, f.slots[1].ID, f.slots[2].ID})
			return err
		})
		if err != nil || n != 2 || f.states(t) != "ffff" {
			t.Fatalf("unhold %d %v %s", n, err, f.states(t))
		}
	})
}

func TestWaitlistEntries(t *testing.T) {
	f := newWaitFixture(t)
	ctx := context.Background()
	add := func(patient string) (*WaitlistEntry, error) {
		e := &WaitlistEntry{PracticeID: f.practiceID, PatientID: patient, TypeID: f.typ.ID}
		return e, f.db.Update(ctx, func(tx *Tx) error { return tx.AddToWaitlist(ctx, e) })
	}
	e1, err := add(f.p2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := add(f.p1); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrConflict", func(t *testing.T) {
		if _, err := add(f.p2); !errors.Is(err, ErrConflict) {
			t.Fatalf("twice: %v", err)
		}
	})
	t.Run("FirstComeFirstServed", func(t *testing.T) {
		err := f.db.Update(ctx, func(tx *Tx) error {
			list, err := tx.Waiting(ctx, f.practiceID)
			if err != nil {
				return err
			}
			if len(list) != 2 || list[0].PatientID != f.p2 || list[1].PatientID != f.p1 {
				t.Fatalf("order %+v", list)
			}
			yes, err := tx.AnyoneWaiting(ctx, f.practiceID)
			if err != nil || !yes {
				t.Fatalf("anyone waiting: %v %v", yes, err)
			}
			yes, err = tx.AnyoneWaiting(ctx, "nobody")
			if err != nil || yes {
				t.Fatalf("anyone waiting elsewhere: %v %v", yes, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		err := f.db.Update(ctx, func(tx *Tx) error { return tx.RemoveFromWaitlist(ctx, f.p1, e1.ID) })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("another's entry: %v", err)
		}
		if err := f.db.Update(ctx, func(tx *Tx) error { return tx.RemoveFromWaitlist(ctx, f.p2, e1.ID) }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOffers(t *testing.T) {
	f := newWaitFixture(t)
	ctx := context.Background()
	o := &Offer{EntryID: "e", PracticeID: f.practiceID, PatientID: f.p1, TypeID: f.typ.ID, SlotIDs: []string{f.slots[0].ID},
		Start: f.start, End: f.start.Add(15 * time.Minute), ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second)}
	if err := f.db.Update(ctx, func(tx *Tx) error { return tx.CreateOffer(ctx, o) }); err != nil {
		t.Fatal(err)
	}
	if o.ChainID != o.ID {
		t.Fatal("a first offer starts its chain")
	}
	got, err := f.db.FindOffer(ctx, f.p1, o.ID)
	if err != nil || got.SlotIDs[0] != f.slots[0].ID || !got.ExpiresAt.Equal(o.ExpiresAt) || got.State != OfferOffered {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := f.db.FindOffer(ctx, f.p2, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another's offer: %v", err)
	}
	err = f.db.Update(ctx, func(tx *Tx) error {
		if list, err := tx.ExpiredOffers(ctx, time.Now(), 10); err != nil || len(list) != 0 {
			t.Fatalf("expired too early: %d %v", len(list), err)
		}
		if list, err := tx.ExpiredOffers(ctx, time.Now().Add(2*time.Hour), 10); err != nil || len(list) != 1 {
			t.Fatalf("not expired: %d %v", len(list), err)
		}
		done, err := tx.ChainPatients(ctx, o.ChainID)
		if err != nil || !done[f.p1] || done[f.p2] {
			t.Fatalf("chain %v %v", done, err)
		}
		if err := tx.SetOfferState(ctx, o.ID, OfferDeclined, ""); err != nil {
			return err
		}
		if err := tx.SetOfferState(ctx, o.ID, OfferAccepted, "x"); !errors.Is(err, ErrConflict) {
			t.Fatalf("second change: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := f.db.PatientOffers(ctx, f.p1); err != nil || len(list) != 0 {
		t.Fatalf("declined offer still live: %d %v", len(list), err)
	}
}

// TestHeldSlotsQueryPlan checks that holding and releasing look the slots
// up by their id, not by the practice's whole planning.
func TestHeldSlotsQueryPlan(t *testing.T) {
	f := newWaitFixture(t)
	for _, q := range []string{holdSQL(2), unholdSQL(2)} {
		rows, err := f.db.write.Query("EXPLAIN QUERY PLAN "+q, "p", "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		plan := ""
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail + "\n"
		}
		rows.Close()
		if want := "USING INDEX slots_id"; !strings.Contains(plan, want) {
			t.Fatalf("plan of %q:\n%s", q, plan)
		}
	}
}
