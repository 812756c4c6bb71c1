package app

import (
	"context"
	"testing"

	"daraport/store"
)

// visitMatrix are the route × role rows of video visits (issue 7). The
// fixture's teleconsultation is days away, so its room is closed: whoever
// may enter it is told so (403, a page saying when it opens) and nobody
// else learns that it exists (404). Inside the window the same checks are
// walked by visit_test.go.
func visitMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /visit/{key}", perm: PermPublic, path: "/visit/{visitkey}",
			want: "forbidden forbidden forbidden forbidden forbidden forbidden forbidden forbidden forbidden"},
		{route: "GET /visit/{key}/ws", perm: PermPublic, path: "/visit/{visitkey}/ws",
			want: "forbidden forbidden forbidden forbidden forbidden forbidden forbidden forbidden forbidden"},
		{route: "GET /visits/{id}", perm: PermSignedIn, path: "/visits/{tele}",
			want: "login forbidden notfound forbidden notfound forbidden notfound notfound notfound"},
		{route: "GET /visits/{id}/ws", perm: PermSignedIn, path: "/visits/{tele}/ws",
			want: "login forbidden notfound forbidden notfound forbidden notfound notfound notfound"},
		{route: "GET /api/v1/appointments/{id}/visit", perm: PermSignedIn, path: "/api/v1/appointments/{tele}/visit",
			want: "login forbidden notfound forbidden notfound forbidden notfound notfound notfound"},
		{route: "GET /pro/p/{id}/visits/waiting", perm: PermPracticeStaff, path: "/pro/p/{practiceA}/visits/waiting",
			want: "login notfound notfound ok notfound ok notfound notfound notfound"},
		{route: "GET /visit-check", perm: PermPublic, path: "/visit-check", want: "ok ok ok ok ok ok ok ok ok"},
		// The pre-visit check is open from the booking on; a form is not
		// the JSON offer it takes.
		{route: "GET /visit/{key}/check", perm: PermPublic, path: "/visit/{visitkey}/check", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /visit/{key}/check", perm: PermPublic, path: "/visit/{visitkey}/check",
			want: "invalid invalid invalid invalid invalid invalid invalid invalid invalid"},
	}
}

// visitFixture books patient a teleconsultation with practice A, days
// ahead (appointmentsFixture has made the planning).
func visitFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	ctx := context.Background()
	pid := f.ids["practiceA"]
	p := mustPractice(t, ts, pid)
	typ := &store.AppointmentType{PracticeID: pid, Name: "Visit matrix teleconsultation", Minutes: 15, Currency: "EUR",
		NewPatients: true, Teleconsultation: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, typ) }); err != nil {
		t.Fatal(err)
	}
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(3), today.AddDays(8), ts.srv.clock())
	if err != nil || len(starts) == 0 {
		t.Fatalf("no free start for the visit fixture: %v", err)
	}
	patient := f.users["patient"]
	a, err := ts.srv.book(ctx, bookRequest{SlotID: starts[0].ID, TypeID: typ.ID, Patient: patient.User, ActorID: patient.ID, Phone: "+33612345678"})
	if err != nil {
		t.Fatal(err)
	}
	f.ids["tele"] = a.ID
	f.ids["visitkey"] = ts.srv.visitKey(a.ID)
}
