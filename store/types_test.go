package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// mustPracticeForTypes creates a practice and returns its id.
func mustPracticeForTypes(tb testing.TB, db *DB, name string) string {
	tb.Helper()
	ctx := context.Background()
	p := &Practice{Name: name, TimeZone: "Europe/Paris", Status: PracticeVerified}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreatePractice(ctx, p) }); err != nil {
		tb.Fatal(err)
	}
	return p.ID
}

func mustCreateType(tb testing.TB, db *DB, practiceID, name string) *AppointmentType {
	tb.Helper()
	ctx := context.Background()
	t := &AppointmentType{PracticeID: practiceID, Name: name, Minutes: 15, Price: 2500, Currency: "EUR", NewPatients: true}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateType(ctx, t) }); err != nil {
		tb.Fatalf("create type %q: %v", name, err)
	}
	return t
}

// typeNames lists the practice's active types as "position:name".
func typeNames(tb testing.TB, db *DB, practiceID string, archived bool) string {
	tb.Helper()
	list, err := db.FindTypes(context.Background(), practiceID, archived)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, t := range list {
		s := t.Name
		if !t.Archived() {
			s = string(rune('0'+t.Position)) + ":" + s
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestTypes_CreateFind(t *testing.T) {
	db := mustOpenDB(t)
	ctx := context.Background()
	pid := mustPracticeForTypes(t, db, "Cabinet A")
	first := int64(4000)
	a := &AppointmentType{PracticeID: pid, Name: "Consultation", Minutes: 30, Price: 2500, FirstPrice: &first, Currency: "EUR",
		BufferAfter: 5, NewPatients: true}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateType(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	b := mustCreateType(t, db, pid, "Visite par téléconsultation")
	if a.ID == "" || a.Position != 1 || b.Position != 2 || a.CreatedAt.IsZero() {
		t.Fatalf("created %+v %+v", a, b)
	}
	got, err := db.FindTypeByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != a.Name || got.Minutes != 30 || got.Price != 2500 || got.FirstPrice == nil || *got.FirstPrice != 4000 ||
		got.Currency != "EUR" || got.BufferAfter != 5 || !got.NewPatients || got.Teleconsultation || got.PracticeID != pid || got.Archived() {
		t.Errorf("read back %+v", got)
	}
	if got, _ := db.FindTypeByID(ctx, b.ID); got.FirstPrice != nil {
		t.Errorf("no first-visit price read back as %d", *got.FirstPrice)
	}
	if _, err := db.FindTypeByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if got := typeNames(t, db, pid, false); got != "1:Consultation 2:Visite par téléconsultation" {
		t.Errorf("list %q", got)
	}
	other := mustPracticeForTypes(t, db, "Cabinet B")
	if got := typeNames(t, db, other, true); got != "" {
		t.Errorf("another practice lists %q", got)
	}
}

func TestTypes_NameUnique(t *testing.T) {
	db := mustOpenDB(t)
	ctx := context.Background()
	pid := mustPracticeForTypes(t, db, "Cabinet A")
	a := mustCreateType(t, db, pid, "Écho")
	t.Run("ErrConflict", func(t *testing.T) {
		dup := &AppointmentType{PracticeID: pid, Name: "éCHO", Minutes: 15, Currency: "EUR"}
		if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateType(ctx, dup) }); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		b := mustCreateType(t, db, pid, "Suivi")
		b.Name = "ÉCHO"
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, b) }); !errors.Is(err, ErrConflict) {
			t.Fatalf("rename onto a taken name: %v", err)
		}
		if got, _ := db.FindTypeByID(ctx, b.ID); got.Name != "Suivi" {
			t.Errorf("refused rename stored %q", got.Name)
		}
	})
	t.Run("OtherPracticeAndArchived", func(t *testing.T) {
		other := mustPracticeForTypes(t, db, "Cabinet B")
		mustCreateType(t, db, other, "Écho")
		if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveType(ctx, pid, a.ID) }); err != nil {
			t.Fatal(err)
		}
		mustCreateType(t, db, pid, "Écho") // the archived one no longer holds the name
	})
	t.Run("KeepOwnName", func(t *testing.T) {
		c := mustCreateType(t, db, pid, "Bilan")
		c.Minutes = 45
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, c) }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTypes_Update(t *testing.T) {
	db := mustOpenDB(t)
	ctx := context.Background()
	pid := mustPracticeForTypes(t, db, "Cabinet A")
	other := mustPracticeForTypes(t, db, "Cabinet B")
	a := mustCreateType(t, db, pid, "Consultation")
	mustCreateType(t, db, pid, "Suivi")
	t.Run("OK", func(t *testing.T) {
		fp := int64(3000)
		u := &AppointmentType{ID: a.ID, PracticeID: pid, Name: "Consultation longue", Minutes: 45, Price: 3500, FirstPrice: &fp,
			Currency: "CHF", Teleconsultation: true, BufferAfter: 10, NewPatients: false}
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, u) }); err != nil {
			t.Fatal(err)
		}
		got, _ := db.FindTypeByID(ctx, a.ID)
		if got.Name != "Consultation longue" || got.Minutes != 45 || got.Price != 3500 || *got.FirstPrice != 3000 || got.Currency != "CHF" ||
			!got.Teleconsultation || got.BufferAfter != 10 || got.NewPatients || got.Position != 1 || u.Position != 1 {
			t.Errorf("updated %+v", got)
		}
		u.FirstPrice = nil
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, u) }); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.FindTypeByID(ctx, a.ID); got.FirstPrice != nil {
			t.Error("first-visit price not cleared")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for name, u := range map[string]*AppointmentType{
			"other practice": {ID: a.ID, PracticeID: other, Name: "Stolen", Minutes: 15, Currency: "EUR"},
			"unknown id":     {ID: "nope", PracticeID: pid, Name: "Ghost", Minutes: 15, Currency: "EUR"},
		} {
			if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, u) }); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if got, _ := db.FindTypeByID(ctx, a.ID); got.Name != "Consultation longue" {
			t.Errorf("another practice renamed the type to %q", got.Name)
		}
		b := mustCreateType(t, db, pid, "Archivé")
		if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveType(ctx, pid, b.ID) }); err != nil {
			t.Fatal(err)
		}
		b.Name = "Revived"
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateType(ctx, b) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("archived type: %v", err)
		}
	})
}

func TestTypes_ArchiveMove(t *testing.T) {
	db := mustOpenDB(t)
	ctx := context.Background()
	pid := mustPracticeForTypes(t, db, "Cabinet A")
	other := mustPracticeForTypes(t, db, "Cabinet B")
	a := mustCreateType(t, db, pid, "A")
	b := mustCreateType(t, db, pid, "B")
	c := mustCreateType(t, db, pid, "C")
	d := mustCreateType(t, db, pid, "D")
	var moved bool
	move := func(id string, delta int) error {
		return db.Update(ctx, func(tx *Tx) error {
			var err error
			moved, err = tx.MoveType(ctx, pid, id, delta)
			return err
		})
	}
	steps := []struct {
		id    string
		delta int
		want  string
		moved bool
	}{
		{c.ID, -1, "1:A 2:C 3:B 4:D", true},
		{c.ID, -1, "1:C 2:A 3:B 4:D", true},
		{c.ID, -1, "1:C 2:A 3:B 4:D", false}, // already first
		{a.ID, 1, "1:C 2:B 3:A 4:D", true},
		{d.ID, 1, "1:C 2:B 3:A 4:D", false}, // already last
		{d.ID, -1, "1:C 2:B 3:D 4:A", true},
	}
	for _, s := range steps {
		if err := move(s.id, s.delta); err != nil {
			t.Fatal(err)
		}
		if got := typeNames(t, db, pid, false); got != s.want || moved != s.moved {
			t.Fatalf("after moving by %d: %q (moved %t), want %q (%t)", s.delta, got, moved, s.want, s.moved)
		}
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.MoveType(ctx, other, a.ID, -1); return err }); !errors.Is(err, ErrNotFound) {
		t.Errorf("move from another practice: %v", err)
	}

	// Archiving closes the gap; the archived type stays readable.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveType(ctx, pid, b.ID) }); err != nil {
		t.Fatal(err)
	}
	if got := typeNames(t, db, pid, false); got != "1:C 2:D 3:A" {
		t.Errorf("after archiving B: %q", got)
	}
	if got := typeNames(t, db, pid, true); got != "1:C 2:D 3:A B" {
		t.Errorf("with archived: %q", got)
	}
	got, err := db.FindTypeByID(ctx, b.ID)
	if err != nil || !got.Archived() {
		t.Errorf("archived type: %v %+v", err, got)
	}
	// Archiving twice changes nothing; another practice's type is not found.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveType(ctx, pid, b.ID) }); err != nil {
		t.Errorf("archive again: %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveType(ctx, other, a.ID) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("archive from another practice: %v", err)
	}
	if err := move(b.ID, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("move an archived type: %v", err)
	}
	// A new type goes last.
	e := mustCreateType(t, db, pid, "E")
	if e.Position != 4 {
		t.Errorf("new type at %d, want 4", e.Position)
	}
}
