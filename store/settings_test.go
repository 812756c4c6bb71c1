package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSettingsSlotHelpers(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	p := &Practice{Name: "Cabinet", TimeZone: "Europe/Paris"}
	base := time.Date(2030, 3, 4, 8, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	slot := func(start, length int, loc string) Slot {
		return Slot{Start: at(start), End: at(start + length), LocationID: loc, Day: "2030-03-04"}
	}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreatePractice(ctx, p); err != nil {
			return err
		}
		// The old 15-minute grid with 0:15–0:45 booked, and a new 30-minute
		// grid laid beside it (0:00 and 0:30 collide with old starts, 1:00 free).
		_, err := tx.InsertSlots(ctx, p.ID, []Slot{slot(0, 15, ""), slot(15, 15, ""), slot(30, 15, ""), slot(45, 15, ""), slot(60, 30, ""),
			slot(90, 30, "hospital"), slot(300, 15, "hospital")})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE slots SET state = 'booked', appointment_id = 'a1' WHERE practice_id = ? AND starts_at IN (?, ?)`,
			p.ID, at(15).Unix(), at(30).Unix())
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE slots SET state = 'blocked', block_id = 'b1' WHERE practice_id = ? AND starts_at = ?`, p.ID, at(45).Unix())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var dropped, blocked int
	err = db.Update(ctx, func(tx *Tx) error {
		var err error
		if dropped, err = tx.DeleteSlotsOverlappingBooked(ctx, p.ID, base); err != nil {
			return err
		}
		blocked, err = tx.DeleteBlockedSlots(ctx, p.ID, base)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing overlapped the booked slots: 0:00–0:15 and 0:45–1:00 only touch them.
	if dropped != 0 || blocked != 1 {
		t.Fatalf("dropped %d, blocked %d", dropped, blocked)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		// A 30-minute slot over the booking (0:10–0:40) goes; one after stays.
		if _, err := tx.InsertSlots(ctx, p.ID, []Slot{slot(10, 30, "x")}); err != nil {
			return err
		}
		var err error
		dropped, err = tx.DeleteSlotsOverlappingBooked(ctx, p.ID, base)
		return err
	})
	if err != nil || dropped != 1 {
		t.Fatalf("overlapping slot: dropped %d, %v", dropped, err)
	}
	counts, _ := db.CountSlots(ctx, p.ID)
	if counts[SlotBooked] != 2 || counts[SlotFree] != 4 || counts[SlotBlocked] != 0 {
		t.Fatalf("counts %v", counts)
	}

	n, err := db.CountBookedAt(ctx, p.ID, "", base)
	if err != nil || n != 2 {
		t.Fatalf("booked at the office: %d %v", n, err)
	}
	if n, _ := db.CountBookedAt(ctx, p.ID, "", at(31)); n != 0 {
		t.Fatalf("booked from 0:31: %d", n)
	}
	var gone int
	err = db.Update(ctx, func(tx *Tx) error {
		var err error
		gone, err = tx.DeleteLocationSlots(ctx, p.ID, "hospital", at(100))
		return err
	})
	if err != nil || gone != 1 {
		t.Fatalf("location slots removed: %d %v", gone, err)
	}
}

func TestSettingsTypesAndDocuments(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	u := mustCreateUser(t, db, "pro@example.org")
	p := &Practice{Name: "Cabinet", TimeZone: "Europe/Paris"}
	doc := &Document{OwnerID: u.ID, Purpose: "photo", Filename: "photo.jpg", ContentType: "image/jpeg"}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreatePractice(ctx, p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO appointment_types (id, practice_id, name, minutes, position, archived_at, created_at, updated_at)
			VALUES ('b', ?, 'Suivi', 20, 2, NULL, 0, 0), ('a', ?, 'Première', 45, 1, NULL, 0, 0), ('c', ?, 'Ancien', 25, 0, 1, 0, 0)`, p.ID, p.ID, p.ID)
		if err != nil {
			return err
		}
		return tx.CreateDocument(ctx, doc, []byte("\xff\xd8jpeg"))
	})
	if err != nil {
		t.Fatal(err)
	}
	types, err := db.ActiveTypeDurations(ctx, p.ID)
	if err != nil || len(types) != 2 || types[0] != (TypeDuration{"Première", 45}) || types[1] != (TypeDuration{"Suivi", 20}) {
		t.Fatalf("types %+v %v", types, err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteDocument(ctx, doc.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.FindDocument(ctx, doc.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted document: %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteDocument(ctx, doc.ID) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
