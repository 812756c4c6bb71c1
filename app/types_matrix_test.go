package app

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"daraport/store"
)

// typesMatrix are the route × role rows of this capability. The page and
// API routes of a practice are for its practitioner and the admin (a
// secretary, another practitioner or anyone else gets 404: the practice's
// existence is not revealed); the public list is for everyone. Requests
// that change something run on throw-away types and are idempotent, since
// proA's and the admin's run at once; adding a type with an empty form (or
// a body that is not JSON) is refused for both.
func typesMatrix() []matrixRow {
	const page, api = "/pro/p/{practiceA}/types", "/api/v1/practices/{practiceA}/appointment-types"
	edit := url.Values{"name": {"Matrix consultation"}, "minutes": {"30"}, "price": {"25,50"}, "currency": {"EUR"}, "buffer_after": {"0"}, "new_patients": {"yes"}}
	return []matrixRow{
		//                                                                                                    anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /pro/p/{id}/types", perm: PermPracticeAdmin, path: page, want: "login notfound notfound ok notfound notfound notfound notfound ok", check: checkTypesPage},
		{route: "POST /pro/p/{id}/types", perm: PermPracticeAdmin, path: page, want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
		{route: "GET /pro/p/{id}/types/{type}", perm: PermPracticeAdmin, path: page + "/{typeA}", want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}", perm: PermPracticeAdmin, path: page + "/{typeA}", form: edit,
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}/move", perm: PermPracticeAdmin, path: page + "/{typeA}/move", form: url.Values{"dir": {"down"}},
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/types/{type}/delete", perm: PermPracticeAdmin, path: page + "/{typeDelPage}/delete",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},

		{route: "GET /api/v1/practitioners/{id}/appointment-types", perm: PermPublic, path: "/api/v1/practitioners/{practiceA}/appointment-types",
			want: "ok ok ok ok ok ok ok ok ok", check: checkTypesAPIList},
		{route: "GET /api/v1/practices/{id}/appointment-types", perm: PermPracticeDesk, path: api,
			want: "login notfound notfound ok notfound ok notfound notfound ok", check: checkTypesAPIList},
		{route: "POST /api/v1/practices/{id}/appointment-types", perm: PermPracticeAdmin, path: api,
			want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
		{route: "PUT /api/v1/practices/{id}/appointment-types/{type}", perm: PermPracticeAdmin, path: api + "/{typeA}",
			want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
		{route: "DELETE /api/v1/practices/{id}/appointment-types/{type}", perm: PermPracticeAdmin, path: api + "/{typeDelAPI}",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /api/v1/practices/{id}/appointment-types/{type}/move", perm: PermPracticeAdmin, path: api + "/{typeA}/move",
			want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
	}
}

// typesFixture adds the objects those rows need to f.ids: typeA (edited and
// moved), typeDelPage and typeDelAPI (removed) in practice A, typeB in B.
func typesFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		for _, o := range []struct{ key, practice, name string }{
			{"typeA", "practiceA", "Consultation A"}, {"typeDelPage", "practiceA", "Removed by page"},
			{"typeDelAPI", "practiceA", "Removed by API"}, {"typeB", "practiceB", "Consultation B"},
		} {
			ty := &store.AppointmentType{PracticeID: f.ids[o.practice], Name: o.name, Minutes: 15, Price: 2500, Currency: "EUR", NewPatients: true}
			if err := tx.CreateType(ctx, ty); err != nil {
				return err
			}
			f.ids[o.key] = ty.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkTypesPage: the list shows practice A's types, never B's.
func checkTypesPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona != "proA" && persona != "admin" {
		return
	}
	if !pageHas(res.Body, "Consultation A") || pageHas(res.Body, "Consultation B") {
		t.Errorf("types page as %s: A's type missing or B's shown", persona)
	}
}

// checkTypesAPIList: the lists name A's types, never B's.
func checkTypesAPIList(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !strings.Contains(res.Body, f.ids["typeA"]) || strings.Contains(res.Body, f.ids["typeB"]) {
		t.Errorf("types list as %s: A's type missing or B's shown: %s", persona, res.Body)
	}
}
