package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// The one-query reads must return exactly what the separate reads return.

func TestFindBookingTarget(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	pid := mustPracticeForTypes(t, db, "Cabinet Hot")
	other := mustPracticeForTypes(t, db, "Cabinet Other")
	typ := mustCreateType(t, db, pid, "Visit")
	foreign := mustCreateType(t, db, other, "Foreign")
	start := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.InsertSlots(ctx, pid, []Slot{{Start: start, End: start.Add(15 * time.Minute), Day: "2030-03-04", State: SlotFree}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.FindSlots(ctx, pid, start, start.Add(time.Hour))
	if err != nil || len(list) != 1 {
		t.Fatalf("%d slots, %v", len(list), err)
	}
	id := list[0].ID
	wantSlot, err := db.FindSlotByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantP, _ := db.FindPracticeByID(ctx, pid)
	wantT, _ := db.FindTypeByID(ctx, typ.ID)

	t.Run("OK", func(t *testing.T) {
		sl, p, ty, err := db.FindBookingTarget(ctx, id, typ.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sl, wantSlot) || !reflect.DeepEqual(p, wantP) || !reflect.DeepEqual(ty, wantT) {
			t.Fatalf("got\n%+v\n%+v\n%+v\nwant\n%+v\n%+v\n%+v", sl, p, ty, wantSlot, wantP, wantT)
		}
	})
	t.Run("TypeOfAnotherPractice", func(t *testing.T) {
		_, p, ty, err := db.FindBookingTarget(ctx, id, foreign.ID)
		if err != nil || ty != nil || p.ID != pid {
			t.Fatalf("type %v, practice %v, err %v", ty, p, err)
		}
	})
	t.Run("UnknownType", func(t *testing.T) {
		if _, _, ty, err := db.FindBookingTarget(ctx, id, "nope"); err != nil || ty != nil {
			t.Fatalf("type %v, err %v", ty, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, _, _, err := db.FindBookingTarget(ctx, "nope", typ.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v", err)
		}
	})
	// The practice and type come from a cache once read; the slot never
	// does, and any write to practices or appointment_types, even plain
	// SQL that no store method knows of, is seen by the next read.
	t.Run("Cache", func(t *testing.T) {
		exec := func(q string, args ...any) {
			t.Helper()
			if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
				t.Fatal(err)
			}
		}
		_, p, ty, err := db.FindBookingTarget(ctx, id, typ.ID)
		if err != nil {
			t.Fatal(err)
		}
		p.Name, p.Specialties, ty.Name = "changed by a caller", append(p.Specialties, "x"), "changed"
		sl, p, ty, err := db.FindBookingTarget(ctx, id, typ.ID)
		if err != nil || !reflect.DeepEqual(p, wantP) || !reflect.DeepEqual(ty, wantT) || sl.State != SlotFree {
			t.Fatalf("a caller's copy changed the cache: %+v %+v %v", p, ty, err)
		}
		exec("UPDATE slots SET state = 'blocked' WHERE id = ?", id)
		if sl, _, _, _ := db.FindBookingTarget(ctx, id, typ.ID); sl.State != SlotBlocked {
			t.Fatalf("slot state %q, want blocked", sl.State)
		}
		exec("UPDATE practices SET name = 'Cabinet Renamed', status = 'suspended' WHERE id = ?", pid)
		if _, p, _, _ := db.FindBookingTarget(ctx, id, typ.ID); p.Name != "Cabinet Renamed" || p.Status != "suspended" {
			t.Fatalf("practice %q %q after a change", p.Name, p.Status)
		}
		exec("UPDATE appointment_types SET minutes = 45, archived_at = 1 WHERE id = ?", typ.ID)
		if _, _, ty, _ := db.FindBookingTarget(ctx, id, typ.ID); ty.Minutes != 45 || !ty.Archived() {
			t.Fatalf("type %d min, archived %v after a change", ty.Minutes, ty.Archived())
		}
		// The single reads share the cache and its invalidation.
		if p, _ := db.FindPracticeByID(ctx, pid); p.Name != "Cabinet Renamed" {
			t.Fatalf("FindPracticeByID: %q", p.Name)
		}
		exec("UPDATE practices SET name = 'Cabinet Again' WHERE id = ?", pid)
		if p, _ := db.FindPracticeByID(ctx, pid); p.Name != "Cabinet Again" {
			t.Fatalf("FindPracticeByID after a change: %q", p.Name)
		}
		if ty, _ := db.FindTypeByID(ctx, typ.ID); ty.Minutes != 45 {
			t.Fatalf("FindTypeByID: %d min", ty.Minutes)
		}
		exec("UPDATE appointment_types SET minutes = 50 WHERE id = ?", typ.ID)
		if ty, _ := db.FindTypeByID(ctx, typ.ID); ty.Minutes != 50 {
			t.Fatalf("FindTypeByID after a change: %d min", ty.Minutes)
		}
	})
}

func TestFindAPIActor(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	u := mustCreateUser(t, db, "actor@example.org")
	pid := mustPracticeForTypes(t, db, "Cabinet Actor")
	var secret, revoked string
	err := db.Update(ctx, func(tx *Tx) error {
		for _, m := range []*Membership{{UserID: u.ID, Role: RolePatient}, {UserID: u.ID, Role: RoleSecretary, PracticeID: pid}} {
			if err := tx.AddMembership(ctx, m); err != nil {
				return err
			}
		}
		var err error
		if secret, _, err = tx.CreateAPIToken(ctx, u.ID, "cli"); err != nil {
			return err
		}
		if revoked, _, err = tx.CreateAPIToken(ctx, u.ID, "old"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = 1 WHERE token_hash = ?", HashToken(revoked))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantT, _ := db.FindAPIToken(ctx, secret)
	wantU, _ := db.FindUserByID(ctx, u.ID)
	wantM, _ := db.Memberships(ctx, u.ID)
	tok, user, ms, err := db.FindAPIActor(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tok, wantT) || !reflect.DeepEqual(user, wantU) || !reflect.DeepEqual(ms, wantM) || len(ms) != 2 {
		t.Fatalf("got\n%+v\n%+v\n%+v\nwant\n%+v\n%+v\n%+v", tok, user, ms, wantT, wantU, wantM)
	}
	for _, s := range []string{revoked, "unknown"} {
		if _, _, _, err := db.FindAPIActor(ctx, s); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%q: err %v", s, err)
		}
	}
}

// TestAuthEpoch: every write that can change what a token may do moves the
// epoch; recording a token's last use does not.
func TestAuthEpoch(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	u := mustCreateUser(t, db, "epoch@example.org")
	var secret string
	var tok *APIToken
	step := func(name string, moves bool, fn func(tx *Tx) error) {
		t.Helper()
		before := db.AuthEpoch()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := db.AuthEpoch() != before; got != moves {
			t.Fatalf("%s: epoch moved %v, want %v", name, got, moves)
		}
	}
	step("token created", true, func(tx *Tx) error {
		var err error
		secret, tok, err = tx.CreateAPIToken(ctx, u.ID, "cli")
		return err
	})
	before := db.AuthEpoch()
	if err := db.TouchAPIToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if db.AuthEpoch() != before {
		t.Fatal("touching a token moved the epoch")
	}
	step("membership added", true, func(tx *Tx) error {
		return tx.AddMembership(ctx, &Membership{UserID: u.ID, Role: RolePatient})
	})
	step("user disabled", true, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE users SET disabled_at = 1 WHERE id = ?", u.ID)
		return err
	})
	step("token revoked", true, func(tx *Tx) error { return tx.RevokeAPITokens(ctx, u.ID) })
	step("unrelated write", false, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('x', 'y')")
		return err
	})
	_ = secret
}
