package app

import (
	"context"
	"net/url"
	"testing"

	"daraport/store"
)

// workspaceMatrix are the route × role rows of the practice workspace (issue 5).
// Every page is scoped to practice A: its practitioner (proA), its
// secretary (secA) and admins get in; everyone else signed in gets 404
// (the practice's existence is not revealed), anonymous callers the sign-in.
// State changes act on the cancelled appointment (409 for staff whatever
// the order), on empty forms (422), or are idempotent (unban, remove a
// secretary who is not one, unsubscribe).
func workspaceMatrix() []matrixRow {
	const (
		desk    = "login notfound notfound ok notfound ok notfound notfound ok"
		deskBad = "login notfound notfound invalid notfound invalid notfound notfound invalid"
		owner   = "login notfound notfound ok notfound notfound notfound notfound ok"
		ownBad  = "login notfound notfound invalid notfound notfound notfound notfound invalid"
		public  = "ok ok ok ok ok ok ok ok ok"
	)
	pa := "/pro/p/{practiceA}"
	return []matrixRow{
		//                                                                 anon   patient  patient2 proA     proB     secA     org       affiliate admin
		{route: "GET /desk", perm: PermPracticeStaff, path: "/desk", want: "login forbidden forbidden ok ok ok forbidden forbidden forbidden"},
		{route: "GET /pro/p/{id}/visits", perm: PermPracticeDesk, path: pa + "/visits", want: desk},
		{route: "GET /pro/p/{id}/visits/live", perm: PermPracticeDesk, path: pa + "/visits/live", want: desk},
		{route: "GET /pro/p/{id}/visits/events", perm: PermPracticeDesk, path: pa + "/visits/events?once=1", want: desk},
		{route: "GET /pro/p/{id}/day", perm: PermPracticeDesk, path: pa + "/day", want: desk},
		{route: "GET /pro/p/{id}/sheet", perm: PermPracticeDesk, path: pa + "/sheet", want: desk},
		{route: "GET /pro/p/{id}/home-visits", perm: PermPracticeDesk, path: pa + "/home-visits", want: desk},
		{route: "POST /pro/p/{id}/home-visits", perm: PermPracticeDesk, path: pa + "/home-visits", form: url.Values{"text": {"Mme Martin, 12 rue des Lilas"}}, want: desk},
		{route: "GET /pro/p/{id}/appointments/{appt}/confirm", perm: PermPracticeDesk, path: pa + "/appointments/{appointment}/confirm?action=cancel", want: desk},
		{route: "POST /pro/p/{id}/appointments/{appt}/cancel", perm: PermPracticeDesk, path: pa + "/appointments/{cancelled}/cancel", want: deskBad},
		{route: "GET /pro/p/{id}/appointments/{appt}/move", perm: PermPracticeDesk, path: pa + "/appointments/{appointment}/move", want: desk},
		{route: "POST /pro/p/{id}/appointments/{appt}/move", perm: PermPracticeDesk, path: pa + "/appointments/{cancelled}/move", form: url.Values{"slot_id": {"x"}}, want: deskBad},
		{route: "POST /pro/p/{id}/appointments/{appt}/paid", perm: PermPracticeDesk, path: pa + "/appointments/{cancelled}/paid", want: deskBad},
		{route: "POST /pro/p/{id}/appointments/{appt}/unpaid", perm: PermPracticeDesk, path: pa + "/appointments/{cancelled}/unpaid", want: deskBad},
		{route: "POST /pro/p/{id}/appointments/{appt}/no-show", perm: PermPracticeDesk, path: pa + "/appointments/{cancelled}/no-show", want: deskBad},
		{route: "GET /pro/p/{id}/book", perm: PermPracticeDesk, path: pa + "/book", want: desk},
		{route: "POST /pro/p/{id}/book", perm: PermPracticeDesk, path: pa + "/book", want: deskBad},
		{route: "GET /pro/p/{id}/patients", perm: PermPracticeDesk, path: pa + "/patients?q=pat", want: desk, check: checkWSPatients},
		{route: "GET /pro/p/{id}/patients/{patient}", perm: PermPracticeDesk, path: pa + "/patients/{patient}", want: desk},
		{route: "POST /pro/p/{id}/patients/{patient}/notes", perm: PermPracticeDesk, path: pa + "/patients/{patient}/notes", want: deskBad},
		{route: "POST /pro/p/{id}/patients/{patient}/ban", perm: PermPracticeDesk, path: pa + "/patients/{patient}/ban", want: deskBad},
		{route: "POST /pro/p/{id}/patients/{patient}/unban", perm: PermPracticeDesk, path: pa + "/patients/{patient}/unban", want: desk},
		{route: "GET /pro/p/{id}/allowlist", perm: PermPracticeDesk, path: pa + "/allowlist", want: desk},
		{route: "POST /pro/p/{id}/allowlist", perm: PermPracticeDesk, path: pa + "/allowlist", want: deskBad},
		{route: "POST /pro/p/{id}/allowlist/import", perm: PermPracticeDesk, path: pa + "/allowlist/import", want: deskBad},
		{route: "POST /pro/p/{id}/allowlist/remove", perm: PermPracticeDesk, path: pa + "/allowlist/remove", want: deskBad},
		{route: "GET /pro/p/{id}/secretaries", perm: PermPracticeAdmin, path: pa + "/secretaries", want: owner},
		{route: "POST /pro/p/{id}/secretaries", perm: PermPracticeAdmin, path: pa + "/secretaries", want: ownBad},
		{route: "POST /pro/p/{id}/secretaries/{user}/remove", perm: PermPracticeAdmin, path: pa + "/secretaries/{throwaway}/remove", want: owner},
		{route: "GET /pro/p/{id}/mailing", perm: PermPracticeDesk, path: pa + "/mailing", want: desk},
		{route: "POST /pro/p/{id}/mailing", perm: PermPracticeDesk, path: pa + "/mailing", want: deskBad},
		{route: "GET /unsubscribe/{token}", perm: PermPublic, path: "/unsubscribe/{unsubscribe}", want: public},
		{route: "POST /unsubscribe/{token}", perm: PermPublic, path: "/unsubscribe/{unsubscribe}", want: public},

		{route: "POST /api/v1/appointments/{id}/no-show", perm: PermSignedIn, path: "/api/v1/appointments/{cancelled}/no-show",
			want: "login forbidden notfound invalid notfound invalid notfound notfound invalid"},
		{route: "POST /api/v1/appointments/{id}/paid", perm: PermSignedIn, path: "/api/v1/appointments/{cancelled}/paid",
			want: "login forbidden notfound invalid notfound invalid notfound notfound invalid"},
		{route: "POST /api/v1/appointments/{id}/unpaid", perm: PermSignedIn, path: "/api/v1/appointments/{cancelled}/unpaid",
			want: "login forbidden notfound invalid notfound invalid notfound notfound invalid"},
		{route: "GET /api/v1/practices/{id}/allowlist", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/allowlist", want: desk},
		{route: "POST /api/v1/practices/{id}/allowlist", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/allowlist", want: deskBad},
		{route: "POST /api/v1/practices/{id}/allowlist/remove", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/allowlist/remove", want: deskBad},
		{route: "GET /api/v1/practices/{id}/bans", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/bans", want: desk},
		{route: "POST /api/v1/practices/{id}/bans", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/bans", want: deskBad},
		{route: "DELETE /api/v1/practices/{id}/bans/{patient}", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/bans/{throwaway}", want: desk},
	}
}

// workspaceFixture gives practice A an unsubscribe token (for the patient's
// address); the appointments come from appointmentsFixture.
func workspaceFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		tok, err := tx.UnsubscribeToken(ctx, f.ids["practiceA"], f.users["patient"].Email)
		f.ids["unsubscribe"] = tok
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkWSPatients: practice A's staff find its patient by part of the name.
func checkWSPatients(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona != "proA" && persona != "secA" && persona != "admin" {
		return
	}
	if !pageHas(res.Body, f.users["patient"].Name) {
		t.Errorf("%s: the patient search does not list %q", persona, f.users["patient"].Name)
	}
	if pageHas(res.Body, f.users["patient2"].Name) {
		t.Errorf("%s: the patient search lists a patient of no appointment with the practice", persona)
	}
}
