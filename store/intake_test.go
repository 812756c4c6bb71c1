package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestIntakeQuestions(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	typ := mustCreateType(t, db, mustPracticeForTypes(t, db, "Intake practice"), "Visit")
	var ids []string
	err := db.Update(ctx, func(tx *Tx) error {
		for _, q := range []*IntakeQuestion{
			{TypeID: typ.ID, Label: "A", Kind: IntakeShort},
			{TypeID: typ.ID, Label: "B", Kind: IntakeSingle, Options: []string{"x", "y"}, Required: true},
			{TypeID: typ.ID, Label: "C", Kind: IntakeDate},
		} {
			if err := tx.CreateIntakeQuestion(ctx, q); err != nil {
				return err
			}
			ids = append(ids, q.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	order := func() string {
		list, err := db.FindIntakeQuestions(ctx, typ.ID)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, q := range list {
			s += q.Label + string(rune('0'+q.Position))
		}
		return s
	}
	if got := order(); got != "A1B2C3" {
		t.Fatalf("order %s", got)
	}
	t.Run("Move", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			if moved, err := tx.MoveIntakeQuestion(ctx, typ.ID, ids[2], -1); err != nil || !moved {
				return errors.Join(err, errors.New("not moved"))
			}
			if moved, err := tx.MoveIntakeQuestion(ctx, typ.ID, ids[0], -1); err != nil || moved {
				return errors.Join(err, errors.New("moved past the top"))
			}
			return nil
		})
		if err != nil || order() != "A1C2B3" {
			t.Fatalf("%v %s", err, order())
		}
	})
	t.Run("ArchiveClosesTheGap", func(t *testing.T) {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.ArchiveIntakeQuestion(ctx, typ.ID, ids[0]) }); err != nil {
			t.Fatal(err)
		}
		if got := order(); got != "C1B2" {
			t.Fatalf("order %s", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.UpdateIntakeQuestion(ctx, &IntakeQuestion{ID: ids[0], TypeID: typ.ID, Label: "gone", Kind: IntakeShort})
		})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("update an archived question: %v", err)
		}
		err = db.Update(ctx, func(tx *Tx) error { return tx.ArchiveIntakeQuestion(ctx, "other-type", ids[1]) })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("archive through another type: %v", err)
		}
	})
}

func TestIntakeAnswersSealed(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	if _, err := db.FindIntakeAnswers(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no answers: %v", err)
	}
	// The document is bound to its appointment: moved to another row it
	// does not open.
	p := mustPracticeForTypes(t, db, "Sealed")
	typ := mustCreateType(t, db, p, "Visit")
	u := &User{Email: "sealed@example.org", Name: "S"}
	doc := []byte(`{"v":1,"answers":[{"value":"Penicillin"}]}`)
	var a1, a2 string
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		for _, id := range []*string{&a1, &a2} {
			a := &Appointment{PracticeID: p, PatientID: u.ID, TypeID: typ.ID, Start: tx.now, End: tx.now}
			if err := tx.CreateAppointment(ctx, a); err != nil {
				return err
			}
			*id = a.ID
		}
		return tx.SaveIntakeAnswers(ctx, a1, doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.FindIntakeAnswers(ctx, a1)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("%v %s", err, got)
	}
	var raw []byte
	if err := db.read.QueryRowContext(ctx, "SELECT answers FROM intake_answers WHERE appointment_id = ?", a1).Scan(&raw); err != nil || bytes.Contains(raw, []byte("Penicillin")) {
		t.Fatalf("stored in clear: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, "INSERT INTO intake_answers (appointment_id, answers, created_at) VALUES (?, ?, 0)", a2, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindIntakeAnswers(ctx, a2); err == nil {
		t.Fatal("a sealed document swapped into another row opens")
	}
}
