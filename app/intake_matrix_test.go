package app

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"daraport/store"
)

// intakeMatrix are the route × role rows of intake forms. Managing the
// questions is for practice A's practitioner and the admin (anyone else gets
// 404); the answers are for A's desk (practitioner, secretary, admin); the
// API list of a type's questions is public. Changes run on throw-away
// questions and are idempotent (proA's and the admin's run at once).
func intakeMatrix() []matrixRow {
	const page = "/pro/p/{practiceA}/types/{intakeType}/intake"
	edit := url.Values{"label": {"Any allergy?"}, "kind": {"long"}, "required": {"1"}}
	return []matrixRow{
		//                                                                                                    anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /pro/p/{id}/types/{type}/intake", perm: PermPracticeAdmin, path: page,
			want: "login notfound notfound ok notfound notfound notfound notfound ok", check: checkIntakePage},
		{route: "POST /pro/p/{id}/types/{type}/intake", perm: PermPracticeAdmin, path: page,
			want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
		{route: "GET /pro/p/{id}/types/{type}/intake/{q}", perm: PermPracticeAdmin, path: page + "/{intakeQ}",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}/intake/{q}", perm: PermPracticeAdmin, path: page + "/{intakeQ}", form: edit,
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}/intake/{q}/move", perm: PermPracticeAdmin, path: page + "/{intakeQ}/move", form: url.Values{"dir": {"down"}},
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}/intake/{q}/delete", perm: PermPracticeAdmin, path: page + "/{intakeQDel}/delete",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "GET /pro/p/{id}/appointments/{appt}/intake", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/appointments/{intakeAppt}/intake",
			want: "login notfound notfound ok notfound ok notfound notfound ok", check: checkIntakeAnswersPage},
		{route: "GET /api/v1/practitioners/{id}/appointment-types/{type}/questions", perm: PermPublic,
			path: "/api/v1/practitioners/{practiceA}/appointment-types/{intakeType}/questions", want: "ok ok ok ok ok ok ok ok ok", check: checkIntakeAPI},
	}
}

// intakeFixture gives practice A a type with three questions (intakeQ is
// edited and moved, intakeQDel removed) and an appointment of patient with
// answers (intakeAppt); practice B a type with a question of its own.
func intakeFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	ctx := context.Background()
	types := map[string]*store.AppointmentType{}
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		for _, o := range []struct{ key, practice, name string }{{"intakeType", "practiceA", "Intake matrix visit"}, {"intakeTypeB", "practiceB", "Intake visit B"}} {
			ty := &store.AppointmentType{PracticeID: f.ids[o.practice], Name: o.name, Minutes: 15, Currency: "EUR", NewPatients: true}
			if err := tx.CreateType(ctx, ty); err != nil {
				return err
			}
			f.ids[o.key], types[o.key] = ty.ID, ty
		}
		for _, q := range []struct{ key, typ, label, kind string }{
			{"intakeQ", "intakeType", "Allergies (matrix)", store.IntakeShort}, {"intakeQ2", "intakeType", "Smoker (matrix)", store.IntakeYesNo},
			{"intakeQDel", "intakeType", "Removed (matrix)", store.IntakeShort}, {"intakeQB", "intakeTypeB", "Secret question B", store.IntakeShort},
		} {
			iq := &store.IntakeQuestion{TypeID: f.ids[q.typ], Label: q.label, Kind: q.kind}
			if err := tx.CreateIntakeQuestion(ctx, iq); err != nil {
				return err
			}
			f.ids[q.key] = iq.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, f.ids["practiceA"])
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(8), today.AddDays(12), ts.srv.clock())
	if err != nil || len(starts) == 0 {
		t.Fatalf("no free start for the intake fixture: %v", err)
	}
	patient := f.users["patient"]
	a, err := ts.srv.book(ctx, bookRequest{SlotID: starts[0].ID, TypeID: f.ids["intakeType"], Source: "staff", Patient: patient.User, ActorID: patient.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.ids["intakeAppt"] = a.ID
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		return ts.srv.saveIntake(ctx, tx, a.ID, map[string]any{f.ids["intakeQ"]: "Pollen <matrix>", f.ids["intakeQ2"]: false})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkIntakePage(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !pageHas(res.Body, "Allergies (matrix)") || pageHas(res.Body, "Secret question B") {
		t.Errorf("intake page as %s: A's question missing or B's shown", persona)
	}
}

func checkIntakeAnswersPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		if strings.Contains(res.Body, "Pollen") {
			t.Errorf("intake answers as %s: refused, yet the answer shows", persona)
		}
		return
	}
	if !strings.Contains(res.Body, "Pollen &lt;matrix&gt;") || !pageHas(res.Body, "Smoker (matrix)") {
		t.Errorf("intake answers as %s: answers missing or not escaped", persona)
	}
}

func checkIntakeAPI(t *testing.T, f *matrixFixture, persona string, res response) {
	if !strings.Contains(res.Body, f.ids["intakeQ2"]) || strings.Contains(res.Body, "Secret question B") || strings.Contains(res.Body, "Removed (matrix)") {
		t.Errorf("intake API as %s: %s", persona, res.Body)
	}
}

// journeysMatrix are the rows of the matching and assisted-scheduling
// journeys. A patient's request is theirs alone (404 for everyone else,
// admin included); practice A's requests are for its desk. The confirm and
// decline rows act on requests that cannot change (open: nothing to
// confirm; already declined), so the answers do not depend on the order.
func journeysMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /match", perm: PermPublic, path: "/match", want: "ok ok ok ok ok ok ok ok ok"},
		{route: "POST /match", perm: PermPublic, path: "/match", form: url.Values{"tele": {"yes"}, "soon": {"any"}},
			want: "ok ok ok ok ok ok ok ok ok", check: checkMatchResults},
		{route: "GET /p/{id}/request", perm: PermSignedIn, path: "/p/{practiceA}/request", want: "login ok ok ok ok ok ok ok ok"},
		{route: "POST /p/{id}/request", perm: PermSignedIn, path: "/p/{practiceA}/request",
			want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /requests", perm: PermSignedIn, path: "/requests", want: "login ok ok ok ok ok ok ok ok", check: checkMyRequests},
		{route: "GET /requests/{req}", perm: PermSignedIn, path: "/requests/{request}",
			want: "login ok notfound notfound notfound notfound notfound notfound notfound", check: checkRequestPage},
		{route: "POST /requests/{req}/confirm", perm: PermSignedIn, path: "/requests/{request}/confirm",
			want: "login invalid notfound notfound notfound notfound notfound notfound notfound"},
		{route: "POST /requests/{req}/decline", perm: PermSignedIn, path: "/requests/{requestClosed}/decline",
			want: "login ok notfound notfound notfound notfound notfound notfound notfound"},
		{route: "GET /pro/p/{id}/requests", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/requests",
			want: "login notfound notfound ok notfound ok notfound notfound ok", check: checkStaffRequests},
		{route: "GET /pro/p/{id}/requests/{req}", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/requests/{request}",
			want: "login notfound notfound ok notfound ok notfound notfound ok", check: checkRequestPage},
		{route: "POST /pro/p/{id}/requests/{req}/propose", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/requests/{request}/propose",
			want: "login notfound notfound invalid notfound invalid notfound notfound invalid"},
		{route: "POST /pro/p/{id}/requests/{req}/decline", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/requests/{requestClosed}/decline",
			want: "login notfound notfound invalid notfound invalid notfound notfound invalid"},
	}
}

// journeysFixture adds an open request of patient to practice A (request), a
// declined one (requestClosed), and an open request of patient2 to B.
func journeysFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		for _, o := range []struct{ key, practice, patient, text string }{
			{"request", "practiceA", "patient", "Tuesday evenings (matrix)"},
			{"requestClosed", "practiceA", "patient", "Closed request (matrix)"},
			{"requestB", "practiceB", "patient2", "Request to B (matrix)"},
		} {
			r := &store.BookingRequest{PracticeID: f.ids[o.practice], PatientID: f.users[o.patient].ID, Preferences: o.text}
			if err := tx.CreateBookingRequest(ctx, r); err != nil {
				return err
			}
			f.ids[o.key] = r.ID
		}
		return tx.ChangeBookingRequest(ctx, f.ids["requestClosed"], store.BookingRequestChange{From: store.RequestOpen, To: store.RequestDeclined})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkMatchResults(t *testing.T, f *matrixFixture, persona string, res response) {
	if !pageHas(res.Body, "Alba Practice") || !strings.Contains(res.Body, `href="/p/`+f.ids["practiceA"]+`/book"`) {
		t.Errorf("POST /match as %s: practice A not listed", persona)
	}
	if pageHas(res.Body, "Cabinet Patient") {
		t.Errorf("POST /match as %s: a pending practice is listed", persona)
	}
}

func checkMyRequests(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	mine := persona == "patient"
	if got := strings.Contains(res.Body, f.ids["request"]); got != mine {
		t.Errorf("/requests as %s: patient's request listed = %v", persona, got)
	}
	if persona == "patient" && strings.Contains(res.Body, f.ids["requestB"]) {
		t.Errorf("/requests as patient lists patient2's request")
	}
}

func checkRequestPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		if strings.Contains(res.Body, "Tuesday evenings") {
			t.Errorf("request as %s: refused, yet its text shows", persona)
		}
		return
	}
	if !pageHas(res.Body, "Tuesday evenings (matrix)") {
		t.Errorf("request as %s: its text is missing", persona)
	}
}

func checkStaffRequests(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !pageHas(res.Body, "Tuesday evenings (matrix)") || pageHas(res.Body, "Request to B") || pageHas(res.Body, "Closed request") {
		t.Errorf("requests of A as %s: wrong list", persona)
	}
}
