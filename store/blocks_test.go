package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBlocks_ReapplyAfterDelete: deleting one of two overlapping blocks
// leaves the other's slots blocked once ReapplyBlocks runs, and a booked
// slot under the remaining block remembers it.
func TestBlocks_ReapplyAfterDelete(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	base := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	var practiceID, other string
	var wide, narrow *Block
	err := db.Update(ctx, func(tx *Tx) error {
		for _, id := range []*string{&practiceID, &other} {
			p := &Practice{Name: "Cabinet", TimeZone: "UTC", Status: PracticeVerified}
			if err := tx.CreatePractice(ctx, p); err != nil {
				return err
			}
			*id = p.ID
		}
		var slots []Slot
		for i := 0; i < 8; i++ { // 09:00–11:00 at 15 minutes
			s := base.Add(time.Duration(i) * 15 * time.Minute)
			slots = append(slots, Slot{Start: s, End: s.Add(15 * time.Minute), Day: "2030-03-04"})
		}
		if _, err := tx.InsertSlots(ctx, practiceID, slots); err != nil {
			return err
		}
		narrow = &Block{PracticeID: practiceID, Start: base, End: base.Add(30 * time.Minute)}
		if n, err := tx.CreateBlock(ctx, narrow); err != nil || n != 2 {
			t.Errorf("narrow block: %d %v", n, err)
		}
		wide = &Block{PracticeID: practiceID, Start: base, End: base.Add(2 * time.Hour)}
		if n, err := tx.CreateBlock(ctx, wide); err != nil || n != 6 {
			t.Errorf("wide block: %d %v, want the 6 slots still free", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.FindBlockByID(ctx, other, narrow.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("another practice's block: %v, want ErrNotFound", err)
		}
		got, err := tx.FindBlockByID(ctx, practiceID, narrow.ID)
		if err != nil || !got.Start.Equal(narrow.Start) || !got.End.Equal(narrow.End) || got.Kind != "absence" {
			t.Errorf("FindBlockByID: %+v %v", got, err)
		}
		list, err := tx.BlocksOverlapping(ctx, practiceID, base.Add(time.Hour), base.Add(3*time.Hour))
		if err != nil || len(list) != 1 || list[0].ID != wide.ID {
			t.Errorf("BlocksOverlapping: %+v %v, want the wide block only", list, err)
		}
		if err := tx.DeleteBlock(ctx, practiceID, narrow.ID); err != nil {
			return err
		}
		// DeleteBlock re-applies the blocks still covering its range, so
		// nothing is left for ReapplyBlocks to repair.
		n, err := tx.ReapplyBlocks(ctx, practiceID, base.Add(-24*time.Hour), base.Add(30*time.Minute))
		if err != nil || n != 0 {
			t.Errorf("ReapplyBlocks after DeleteBlock: %d %v, want 0", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slots, err := db.FindSlots(ctx, practiceID, base, base.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.State != SlotBlocked || s.BlockID != wide.ID {
			t.Errorf("slot %v: %s by %q, want blocked by the wide block", s.Start, s.State, s.BlockID)
		}
	}
}
