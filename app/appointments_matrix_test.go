package app

import (
	"context"
	"net/url"
	"testing"

	"daraport/app/schedule"
	"daraport/store"
)

// appointmentsMatrix are the route × role rows of the appointment API. The
// cancel and move rows act on an appointment already cancelled, so whoever
// may see it gets 409 (invalid) whatever the order, and nobody else learns it
// exists (404).
func appointmentsMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "POST /api/v1/appointments", perm: PermSignedIn, path: "/api/v1/appointments", form: url.Values{"slot_id": {"x"}},
			want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /api/v1/appointments", perm: PermSignedIn, path: "/api/v1/appointments", want: "login ok ok ok ok ok ok ok ok"},
		{route: "GET /api/v1/appointments/{id}", perm: PermSignedIn, path: "/api/v1/appointments/{appointment}",
			want: "login ok notfound ok notfound ok notfound notfound ok"},
		{route: "POST /api/v1/appointments/{id}/cancel", perm: PermSignedIn, path: "/api/v1/appointments/{cancelled}/cancel",
			want: "login invalid notfound invalid notfound invalid notfound notfound invalid"},
		{route: "POST /api/v1/appointments/{id}/move", perm: PermSignedIn, path: "/api/v1/appointments/{cancelled}/move",
			want: "login invalid notfound invalid notfound invalid notfound notfound invalid"},
	}
}

// appointmentsFixture gives practice A hours, a type, a planning, a booked
// appointment of patient and a cancelled one.
func appointmentsFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	ctx := context.Background()
	pid := f.ids["practiceA"]
	p := mustPractice(t, ts, pid)
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, ""); err != nil {
		t.Fatal(err)
	}
	typ := &store.AppointmentType{PracticeID: pid, Name: "Booking matrix visit", Minutes: 15, Currency: "EUR", NewPatients: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, typ) }); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, pid, "", nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, pid)
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(2), today.AddDays(6), ts.srv.clock())
	if err != nil || len(starts) < 2 {
		t.Fatalf("no free start for the fixture: %v", err)
	}
	patient := f.users["patient"]
	book := func(slot string) *store.Appointment {
		a, err := ts.srv.book(ctx, bookRequest{SlotID: slot, TypeID: typ.ID, Patient: patient.User, ActorID: patient.ID})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	f.ids["appointment"] = book(starts[0].ID).ID
	c := book(starts[1].ID)
	if err := ts.srv.cancel(ctx, &Actor{User: patient.User}, c, p, ""); err != nil {
		t.Fatal(err)
	}
	f.ids["cancelled"] = c.ID
}
