package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// wsFixture is a practice with a type, a patient and one booked
// appointment (no slots: the workspace's store functions do not need them).
func wsFixture(t *testing.T) (*DB, *Practice, *User, *Appointment) {
	t.Helper()
	db := mustOpenDB(t)
	ctx := context.Background()
	p := &Practice{Name: "Cabinet", TimeZone: "Europe/Paris", Status: PracticeVerified, Settings: DefaultSettings()}
	u := &User{Email: "anna@example.org", Name: "Anna"}
	typ := &AppointmentType{Name: "Téléconsultation", Minutes: 15, Price: 2500, Currency: "EUR", Teleconsultation: true}
	a := &Appointment{PatientID: "", Start: time.Now().Add(24 * time.Hour).Truncate(time.Second), PaymentState: "unpaid", Reason: "Toux"}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreatePractice(ctx, p); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		typ.PracticeID = p.ID
		if err := tx.CreateType(ctx, typ); err != nil {
			return err
		}
		a.PracticeID, a.PatientID, a.TypeID, a.End = p.ID, u.ID, typ.ID, a.Start.Add(15*time.Minute)
		return tx.CreateAppointment(ctx, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, p, u, a
}

func TestSetPaymentState(t *testing.T) {
	t.Parallel()
	db, _, _, a := wsFixture(t)
	ctx := context.Background()
	set := func(id, from, to string) error {
		return db.Update(ctx, func(tx *Tx) error { return tx.SetPaymentState(ctx, id, from, to) })
	}
	t.Run("OK", func(t *testing.T) {
		if err := set(a.ID, "unpaid", "paid"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		if err := set(a.ID, "unpaid", "paid"); !errors.Is(err, ErrConflict) {
			t.Fatalf("marking paid twice: %v", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := set("nope", "unpaid", "paid"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown appointment: %v", err)
		}
	})
}

func TestMoveAppointmentFrom(t *testing.T) {
	t.Parallel()
	db, _, _, a := wsFixture(t)
	ctx := context.Background()
	move := func(from int64, to time.Time) error {
		return db.Update(ctx, func(tx *Tx) error {
			return tx.MoveAppointmentFrom(ctx, a.ID, from, "", to.Unix(), to.Add(15*time.Minute).Unix())
		})
	}
	to := a.Start.Add(time.Hour)
	if err := move(a.Start.Unix(), to); err != nil {
		t.Fatalf("OK: %v", err)
	}
	// A second move decided from the old start finds it moved.
	if err := move(a.Start.Unix(), to.Add(time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("ErrConflict: %v", err)
	}
	got, _ := db.FindAppointmentByID(ctx, a.ID)
	if !got.Start.Equal(to) || got.Sequence != 1 {
		t.Errorf("after the moves: %v seq %d", got.Start, got.Sequence)
	}
}

func TestStaffNotesSealed(t *testing.T) {
	t.Parallel()
	db, p, u, _ := wsFixture(t)
	ctx := context.Background()
	n := &StaffNote{PracticeID: p.ID, PatientID: u.ID, Body: "Allergie à la pénicilline", AuthorID: u.ID}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.AddStaffNote(ctx, n) }); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.read.QueryRow("SELECT body FROM staff_notes WHERE id = ?", n.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if string(raw) == n.Body || len(raw) < len(n.Body) {
		t.Fatalf("the note is stored in clear")
	}
	list, err := db.FindStaffNotes(ctx, p.ID, u.ID)
	if err != nil || len(list) != 1 || list[0].Body != n.Body || list[0].AuthorName != "Anna" {
		t.Fatalf("notes: %v %+v", err, list)
	}
	// Sealed to its row: copied to another note's row, it does not open.
	other := &StaffNote{PracticeID: p.ID, PatientID: u.ID, Body: "x"}
	if err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.AddStaffNote(ctx, other); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE staff_notes SET body = ? WHERE id = ?", raw, other.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindStaffNotes(ctx, p.ID, u.ID); err == nil {
		t.Errorf("a note moved to another row opened")
	}
}

func TestHomeVisitsAndAllowlist(t *testing.T) {
	t.Parallel()
	db, p, u, _ := wsFixture(t)
	ctx := context.Background()
	save := func(body string) {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.SaveHomeVisits(ctx, p.ID, body, u.ID) }); err != nil {
			t.Fatal(err)
		}
	}
	save("Mme Martin 14h")
	if got, _, err := db.FindHomeVisits(ctx, p.ID); err != nil || got != "Mme Martin 14h" {
		t.Fatalf("home visits: %q %v", got, err)
	}
	save("  ")
	if got, at, err := db.FindHomeVisits(ctx, p.ID); err != nil || got != "" || !at.IsZero() {
		t.Fatalf("cleared home visits: %q %v %v", got, at, err)
	}
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.AddToAllowlist(ctx, p.ID, u.ID, "b@example.org", "a@example.org", "c@example.org")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, total, err := db.FindAllowlist(ctx, p.ID, "", 2, 0)
	if err != nil || total != 3 || len(list) != 2 || list[0].Email != "a@example.org" {
		t.Fatalf("allowlist page: %v %d %+v", err, total, list)
	}
	var removed int
	if err := db.Update(ctx, func(tx *Tx) error {
		var err error
		removed, err = tx.RemoveFromAllowlist(ctx, p.ID, "A@example.org", "nope@example.org")
		return err
	}); err != nil || removed != 1 {
		t.Fatalf("remove (case-insensitive): %v %d", err, removed)
	}
}

func TestUnsubscribeAndMailing(t *testing.T) {
	t.Parallel()
	db, p, u, _ := wsFixture(t)
	ctx := context.Background()
	var tok1, tok2 string
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		if tok1, err = tx.UnsubscribeToken(ctx, p.ID, u.Email); err != nil {
			return err
		}
		tok2, err = tx.UnsubscribeToken(ctx, p.ID, u.Email)
		return err
	})
	if err != nil || tok1 == "" || tok1 != tok2 {
		t.Fatalf("one token per address: %q %q %v", tok1, tok2, err)
	}
	pid, email, err := db.FindUnsubscribe(ctx, tok1)
	if err != nil || pid != p.ID || email != u.Email {
		t.Fatalf("token: %v", err)
	}
	if _, _, err := db.FindUnsubscribe(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	recipients := func() int {
		var n int
		_ = db.Update(ctx, func(tx *Tx) error {
			l, err := tx.MailingRecipients(ctx, p.ID)
			n = len(l)
			return err
		})
		return n
	}
	if recipients() != 1 {
		t.Fatalf("the patient is not a recipient")
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.OptOut(ctx, p.ID, "ANNA@example.org") }); err != nil {
		t.Fatal(err)
	}
	if recipients() != 0 {
		t.Errorf("an opted-out address is still a recipient")
	}
	create := func() error {
		return db.Update(ctx, func(tx *Tx) error { return tx.CreateMailing(ctx, NewID(), p.ID, u.ID, 1, tx.Now().Add(-time.Hour)) })
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	if err := create(); !errors.Is(err, ErrConflict) {
		t.Errorf("a second mailing within the hour: %v", err)
	}
}
