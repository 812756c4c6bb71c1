package app

import (
	"context"
	"net/url"
	"testing"
	"time"

	"daraport/store"
)

// seriesMatrix are the route × role rows of recurring series, waitlist and API tokens (issue 4).
func seriesMatrix() []matrixRow {
	const desk = "login notfound notfound ok notfound ok notfound notfound ok"
	const deskInvalid = "login notfound notfound invalid notfound invalid notfound notfound invalid"
	const signedIn = "login ok ok ok ok ok ok ok ok"
	const allInvalid = "login invalid invalid invalid invalid invalid invalid invalid invalid"
	const patientOnly = "login ok notfound notfound notfound notfound notfound notfound notfound"
	const patientInvalid = "login invalid notfound notfound notfound notfound notfound notfound notfound"
	return []matrixRow{
		// Series: the desk of practice A (and the admin); nobody else learns the practice exists.
		{route: "GET /pro/p/{id}/series", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/series", want: desk},
		{route: "POST /pro/p/{id}/series", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/series", form: url.Values{"interval": {"0"}}, want: deskInvalid},
		// A form body is not JSON: the desk gets 400, the others 404 first.
		{route: "POST /api/v1/practices/{id}/series", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/series", form: url.Values{"count": {"2"}}, want: deskInvalid},

		// Waitlist: any signed-in person for themselves; another's entry or offer is 404.
		{route: "GET /p/{id}/waitlist", perm: PermSignedIn, path: "/p/{practiceA}/waitlist?type={waitType}", want: signedIn},
		{route: "POST /p/{id}/waitlist", perm: PermSignedIn, path: "/p/{practiceA}/waitlist", form: url.Values{"type": {"unknown"}},
			want: "login notfound notfound notfound notfound notfound notfound notfound notfound"},
		{route: "GET /waitlist", perm: PermSignedIn, path: "/waitlist", want: signedIn},
		{route: "POST /waitlist/{id}/leave", perm: PermSignedIn, path: "/waitlist/{waitA}/leave", want: patientOnly},
		{route: "GET /waitlist/offers/{id}", perm: PermSignedIn, path: "/waitlist/offers/{offerA}", want: patientOnly},
		// The offer has expired: its patient is told so (409), the others get 404.
		{route: "POST /waitlist/offers/{id}/accept", perm: PermSignedIn, path: "/waitlist/offers/{offerA}/accept", want: patientInvalid},
		{route: "POST /waitlist/offers/{id}/decline", perm: PermSignedIn, path: "/waitlist/offers/{offerA}/decline", want: patientInvalid},
		{route: "GET /api/v1/waitlist", perm: PermSignedIn, path: "/api/v1/waitlist", want: signedIn},
		{route: "POST /api/v1/waitlist", perm: PermSignedIn, path: "/api/v1/waitlist", form: url.Values{"type_id": {"x"}}, want: allInvalid},
		{route: "DELETE /api/v1/waitlist/{id}", perm: PermSignedIn, path: "/api/v1/waitlist/{waitB}", want: patientOnly},
		{route: "POST /api/v1/waitlist/offers/{id}/accept", perm: PermSignedIn, path: "/api/v1/waitlist/offers/{offerA}/accept", want: patientInvalid},
		{route: "POST /api/v1/waitlist/offers/{id}/decline", perm: PermSignedIn, path: "/api/v1/waitlist/offers/{offerA}/decline", want: patientInvalid},

		// API tokens: one's own only.
		{route: "GET /account/tokens", perm: PermOwnAccount, path: "/account/tokens", want: signedIn},
		{route: "POST /account/tokens", perm: PermOwnAccount, path: "/account/tokens", form: url.Values{"name": {""}}, want: allInvalid},
		{route: "POST /account/tokens/{id}/revoke", perm: PermOwnAccount, path: "/account/tokens/{tokenA}/revoke", want: patientOnly},
	}
}

// seriesFixture gives practice A two types patient waits for (waitA,
// waitB), an expired offer of patient (offerA) and a spare API token of
// patient (tokenA; not the one the matrix calls the API with).
func seriesFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	pid := f.ids["practiceA"]
	patient := f.users["patient"]
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		var types []*store.AppointmentType
		for _, name := range []string{"Matrix waitlist visit", "Matrix waitlist follow-up"} {
			typ := &store.AppointmentType{PracticeID: pid, Name: name, Minutes: 15, Currency: "EUR", NewPatients: true}
			if err := tx.CreateType(ctx, typ); err != nil {
				return err
			}
			types = append(types, typ)
		}
		f.ids["waitType"] = types[0].ID
		for i, key := range []string{"waitA", "waitB"} {
			e := &store.WaitlistEntry{PracticeID: pid, PatientID: patient.ID, TypeID: types[i].ID}
			if err := tx.AddToWaitlist(ctx, e); err != nil {
				return err
			}
			f.ids[key] = e.ID
		}
		start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
		o := &store.Offer{EntryID: f.ids["waitA"], PracticeID: pid, PatientID: patient.ID, TypeID: types[0].ID, SlotIDs: []string{"matrix-none"},
			Start: start, End: start.Add(15 * time.Minute), ExpiresAt: time.Now().Add(-time.Minute)}
		if err := tx.CreateOffer(ctx, o); err != nil {
			return err
		}
		if err := tx.SetOfferState(ctx, o.ID, store.OfferExpired, ""); err != nil {
			return err
		}
		f.ids["offerA"] = o.ID
		_, tok, err := tx.CreateAPIToken(ctx, patient.ID, "Matrix spare")
		if err != nil {
			return err
		}
		f.ids["tokenA"] = tok.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
