package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// planningFixture is a verified practice in Paris with weekday hours
// 09:00–12:00 and 14:00–17:00 at 15 minutes, and a 14-day horizon.
func planningFixture(t *testing.T) (*testServer, *store.Practice, *testUser) {
	t.Helper()
	ts := newTestServer(t, nil)
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, pro.PracticeID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.HorizonDays, st.MinNoticeMinutes = 14, 0
		return tx.UpdateSettings(ctx, p.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, pro.PracticeID)
	week := map[string][][2]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week[d] = [][2]string{{"09:00", "12:00"}, {"14:00", "17:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, pro.ID); err != nil {
		t.Fatal(err)
	}
	return ts, mustPractice(t, ts, pro.PracticeID), pro
}

func mustPractice(t testing.TB, ts *testServer, id string) *store.Practice {
	t.Helper()
	p, err := ts.db.FindPracticeByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// workdays counts Monday–Friday days in [from, from+n).
func workdays(from schedule.Day, n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if wd := from.AddDays(i).Weekday(); wd != time.Saturday && wd != time.Sunday {
			c++
		}
	}
	return c
}

func TestPlanningGenerateOnce(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	today := ts.srv.today(p, ts.srv.clock())
	counts, _ := ts.db.CountSlots(ctx, p.ID)
	if want := workdays(today, 14) * 24; counts[store.SlotFree] != want {
		t.Fatalf("%d free slots, want %d", counts[store.SlotFree], want)
	}
	err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != ECodeConflict || e.Message != "error.already_generated" {
		t.Fatalf("second generation: %v", err)
	}
	if again, _ := ts.db.CountSlots(ctx, p.ID); again[store.SlotFree] != counts[store.SlotFree] {
		t.Fatal("the second generation changed the planning")
	}
}

func TestPlanningRollCatchesUp(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := ts.db.CountSlots(ctx, p.ID)
	// Three nights missed: the next roll adds exactly those three days.
	ts.clock.Advance(3 * 24 * time.Hour)
	if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	after, _ := ts.db.CountSlots(ctx, p.ID)
	p2 := mustPractice(t, ts, p.ID)
	end := ts.srv.today(p2, ts.srv.clock()).AddDays(13)
	if p2.PlannedUntil != end.String() {
		t.Fatalf("planned until %s, want %s", p2.PlannedUntil, end)
	}
	added := after[store.SlotFree] - before[store.SlotFree]
	if want := workdays(end.AddDays(-2), 3) * 24; added != want {
		t.Fatalf("roll added %d slots, want %d", added, want)
	}
	// Running it again the same night does nothing.
	if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	if again, _ := ts.db.CountSlots(ctx, p.ID); again[store.SlotFree] != after[store.SlotFree] {
		t.Fatal("a second roll the same night changed the planning")
	}
	runs, _ := ts.db.FindRuns(ctx, "", 0)
	if len(runs) != 2 || runs[1].Added != added || runs[0].Added != 0 || runs[0].State != "done" {
		t.Fatalf("runs %+v", runs)
	}
}

func TestPlanningTrimKeepsAppointments(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	appt := bookFirstFree(t, ts, p, patient, 2)
	// 45 days later, slots older than 30 days are gone, the booked ones stay.
	ts.clock.Advance(45 * 24 * time.Hour)
	if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	loc := ts.srv.location(p.TimeZone)
	cut := ts.srv.today(p, ts.srv.clock()).AddDays(-30).Start(loc)
	old, _ := ts.db.FindSlots(ctx, p.ID, time.Unix(0, 0), cut)
	for _, s := range old {
		if s.State != store.SlotBooked {
			t.Fatalf("a %s slot older than 30 days survived", s.State)
		}
	}
	if len(old) != 2 {
		t.Fatalf("%d old booked slots, want the appointment's 2", len(old))
	}
	if _, err := ts.db.FindAppointmentByID(ctx, appt.ID); err != nil {
		t.Fatalf("appointment lost: %v", err)
	}
}

// bookFirstFree books the first n consecutive free slots for patient, as the
// booking flow will, and returns the appointment.
func bookFirstFree(t *testing.T, ts *testServer, p *store.Practice, patient *testUser, n int) *store.Appointment {
	t.Helper()
	ctx := context.Background()
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, n*p.SlotMinutes, 0, today.AddDays(1), today.AddDays(10), ts.srv.clock())
	if err != nil || len(starts) == 0 {
		t.Fatalf("no free start: %v", err)
	}
	slots, _ := ts.db.FindSlots(ctx, p.ID, starts[0].Start, starts[0].Start.Add(time.Duration(n*p.SlotMinutes)*time.Minute))
	var ids []string
	for _, s := range slots {
		ids = append(ids, s.ID)
	}
	a := &store.Appointment{PracticeID: p.ID, PatientID: patient.ID, TypeID: "", Start: slots[0].Start, End: slots[len(slots)-1].End}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := ensureType(ctx, tx, p.ID); err != nil {
			return err
		}
		a.TypeID = "t-" + p.ID
		if err := tx.CreateAppointment(ctx, a); err != nil {
			return err
		}
		return tx.BookSlots(ctx, p.ID, a.ID, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ensureType(ctx context.Context, tx *store.Tx, practiceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO appointment_types (id, practice_id, name, minutes, created_at, updated_at)
		VALUES (?, ?, 'Consultation', 30, 0, 0) ON CONFLICT DO NOTHING`, "t-"+practiceID, practiceID)
	return err
}

func TestPlanningHoursChange(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	appt := bookFirstFree(t, ts, p, patient, 1) // a morning slot
	loc := ts.srv.location(p.TimeZone)
	from := schedule.DayOf(appt.Start.In(loc))
	// From that day on, afternoons only: the morning appointment conflicts.
	week := map[string][][2]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week[d] = [][2]string{{"14:00", "18:00"}}
	}
	spec, _ := parseSpec(hoursSpec{"": week})
	ch, err := ts.srv.changeHours(ctx, mustPractice(t, ts, p.ID), from, spec, pro.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Conflicts) != 1 || ch.Conflicts[0].ID != appt.ID {
		t.Fatalf("conflicts %+v, want the morning appointment", ch.Conflicts)
	}
	booked, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End)
	if len(booked) != 1 || booked[0].State != store.SlotBooked || booked[0].AppointmentID != appt.ID {
		t.Fatalf("the booked slot was touched: %+v", booked)
	}
	// Before that day nothing changed; from it, free slots follow the new hours.
	slots, _ := ts.db.FindSlots(ctx, p.ID, from.Start(loc), from.AddDays(1).Start(loc))
	free := 0
	for _, s := range slots {
		if s.State == store.SlotFree {
			free++
			if h := s.Start.In(loc).Hour(); h < 14 {
				t.Fatalf("free morning slot at %v after the change", s.Start.In(loc))
			}
		}
	}
	if free != 16 {
		t.Fatalf("%d free slots on %s, want 16", free, from)
	}
}

func TestPlanningFreeStarts(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	today := ts.srv.today(p, ts.srv.clock())
	var day schedule.Day
	for i := 1; ; i++ {
		if wd := today.AddDays(i).Weekday(); wd != time.Saturday && wd != time.Sunday {
			day = today.AddDays(i)
			break
		}
	}
	now := ts.srv.clock()
	for _, tc := range []struct {
		name            string
		minutes, buffer int
		want            int // starts on one working day
	}{
		{"OneSlot", 15, 0, 24},
		{"TwoSlots", 30, 0, 22},          // 11 per 3-hour range
		{"TwoSlotsBuffer15", 30, 15, 20}, // 3 slots: 10 per range
		{"FourHours", 240, 0, 0},         // longer than any range
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ts.srv.freeStarts(ctx, p, tc.minutes, tc.buffer, day, day, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d starts, want %d", len(got), tc.want)
			}
		})
	}
	// Minimum notice: with 24 h, nothing today or before this time tomorrow.
	st := p.Settings
	st.MinNoticeMinutes = 24 * 60
	ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateSettings(ctx, p.ID, st) })
	p = mustPractice(t, ts, p.ID)
	got, _ := ts.srv.freeStarts(ctx, p, 15, 0, today, today.AddDays(13), now)
	for _, c := range got {
		if c.Start.Before(now.Add(24 * time.Hour)) {
			t.Fatalf("start %v inside the minimum notice", c.Start)
		}
	}
}

// TestPlanningHoursOffGridKeepsNoOverlap: new hours starting off the old
// grid must not lay a free slot over a kept booking.
func TestPlanningHoursOffGridKeepsNoOverlap(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	appt := bookFirstFree(t, ts, p, patient, 1) // 09:00–09:15
	loc := ts.srv.location(p.TimeZone)
	from := schedule.DayOf(appt.Start.In(loc))
	week := map[string][][2]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week[d] = [][2]string{{"08:50", "12:00"}} // 08:50, 09:05, … straddle the booking
	}
	spec, _ := parseSpec(hoursSpec{"": week})
	ch, err := ts.srv.changeHours(ctx, mustPractice(t, ts, p.ID), from, spec, pro.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Dropped == 0 {
		t.Fatal("no new slot was dropped although two straddle the booking")
	}
	slots, _ := ts.db.FindSlots(ctx, p.ID, from.Start(loc), from.AddDays(1).Start(loc))
	for i, a := range slots {
		for _, b := range slots[i+1:] {
			if a.Start.Before(b.End) && b.Start.Before(a.End) {
				t.Fatalf("slots overlap: %s %v–%v and %s %v–%v", a.State, a.Start.In(loc), a.End.In(loc), b.State, b.Start.In(loc), b.End.In(loc))
			}
		}
	}
}
