package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// reminderFixture is a practice, a patient, a type and a booked appointment
// three days after the clock's instant.
func reminderFixture(t *testing.T) (*DB, *testClock, *Appointment) {
	t.Helper()
	clock := &testClock{t: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)}
	db := mustOpenDBOpts(t, Options{Now: clock.Now})
	ctx := context.Background()
	pid := mustPracticeForTypes(t, db, "Cabinet")
	typ := mustCreateType(t, db, pid, "Consultation")
	u := mustCreateUser(t, db, "pat@example.org")
	start := clock.Now().Add(72 * time.Hour)
	a := &Appointment{PracticeID: pid, PatientID: u.ID, TypeID: typ.ID, Start: start, End: start.Add(15 * time.Minute)}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateAppointment(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	return db, clock, a
}

func TestReminders_ScheduleDueFinish(t *testing.T) {
	t.Parallel()
	db, clock, a := reminderFixture(t)
	ctx := context.Background()
	update := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	// 96 h before is already past: not scheduled.
	update(func(tx *Tx) error {
		return tx.ScheduleReminders(ctx, a.ID, a.Start, []time.Duration{96 * time.Hour, 48 * time.Hour, 2 * time.Hour}, true)
	})
	list, err := db.FindReminders(ctx, a.ID)
	if err != nil || len(list) != 2 || list[0].Offset != 48*time.Hour || !list[1].SendAt.Equal(a.Start.Add(-2*time.Hour)) || list[0].State != ReminderPending {
		t.Fatalf("scheduled %+v (%v)", list, err)
	}
	update(func(tx *Tx) error {
		due, err := tx.DueReminders(ctx, 10)
		if len(due) != 0 {
			t.Errorf("due before their time: %+v", due)
		}
		return err
	})
	// After a downtime both are due; the earlier one is superseded.
	clock.Add(71 * time.Hour)
	update(func(tx *Tx) error {
		due, err := tx.DueReminders(ctx, 10)
		if err != nil {
			return err
		}
		if len(due) != 2 || !due[0].Superseded || due[1].Superseded || due[0].Offset != 48*time.Hour {
			t.Errorf("due %+v", due)
		}
		if err := tx.FinishReminder(ctx, due[1].ID, ReminderSent); err != nil {
			return err
		}
		if err := tx.FinishReminder(ctx, due[1].ID, ReminderSent); !errors.Is(err, ErrConflict) {
			t.Errorf("finishing twice: %v, want ErrConflict", err)
		}
		return tx.FinishReminder(ctx, due[0].ID, ReminderSkipped)
	})
	// Re-scheduling for another start replaces the pending ones only.
	later := a.Start.Add(24 * time.Hour)
	update(func(tx *Tx) error {
		return tx.ScheduleReminders(ctx, a.ID, later, []time.Duration{2 * time.Hour}, false)
	})
	list, _ = db.FindReminders(ctx, a.ID)
	if len(list) != 3 || list[2].State != ReminderPending || !list[2].TargetStart.Equal(later) {
		t.Fatalf("after re-scheduling %+v", list)
	}
	update(func(tx *Tx) error { return tx.DropReminders(ctx, a.ID) })
	list, _ = db.FindReminders(ctx, a.ID)
	if len(list) != 2 || list[0].State == ReminderPending || list[1].State == ReminderPending {
		t.Errorf("after dropping %+v", list)
	}
}

func TestPracticeNotices_DefaultNoneCustom(t *testing.T) {
	t.Parallel()
	db, _, a := reminderFixture(t)
	ctx := context.Background()
	n, err := db.FindPracticeNotices(ctx, a.PracticeID)
	if err != nil || n.Reminders != nil || n.SMSEnabled {
		t.Fatalf("never saved: %+v %v", n, err)
	}
	for _, want := range [][]time.Duration{{}, {72 * time.Hour, 90 * time.Minute}, nil} {
		err := db.Update(ctx, func(tx *Tx) error {
			return tx.SavePracticeNotices(ctx, &PracticeNotices{PracticeID: a.PracticeID, Reminders: want, SMSEnabled: true})
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.FindPracticeNotices(ctx, a.PracticeID)
		if err != nil || !n.SMSEnabled || (want == nil) != (n.Reminders == nil) || len(n.Reminders) != len(want) {
			t.Errorf("saved %v, read %+v (%v)", want, n, err)
		}
	}
}

func TestWebhooks_SealedSecretAndScope(t *testing.T) {
	t.Parallel()
	db, _, a := reminderFixture(t)
	ctx := context.Background()
	other := mustPracticeForTypes(t, db, "Other")
	w := &Webhook{PracticeID: a.PracticeID, URL: "https://hooks.example.org/x", Secret: "whsec_plaintext-secret", Events: []string{"appointment.created", "appointment.paid"}}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.CreateWebhook(ctx, w) }); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.rq.QueryRowContext(ctx, "SELECT secret FROM webhook_endpoints WHERE id = ?", w.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "plaintext") {
		t.Error("the secret is stored in clear")
	}
	got, err := db.FindWebhook(ctx, a.PracticeID, w.ID)
	if err != nil || got.Secret != w.Secret || !got.Subscribes("appointment.paid") || got.Subscribes("appointment.moved") {
		t.Fatalf("read back %+v (%v)", got, err)
	}
	if _, err := db.FindWebhook(ctx, other, w.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another practice reads it: %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteWebhook(ctx, other, w.ID) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("another practice deletes it: %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteWebhook(ctx, a.PracticeID, w.ID) }); err != nil {
		t.Fatal(err)
	}
	if list, _ := db.FindWebhooks(ctx, a.PracticeID); len(list) != 0 {
		t.Errorf("still listed: %+v", list)
	}
}
