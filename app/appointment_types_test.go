package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"daraport/store"
)

func TestTeleconsultationName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Visite par téléconsultation", true},
		{"TÉLÉCONSULTATION Facetime", true},
		{"visite télé-consultation par Google Duo", true},
		{"Teleconsultation", true},
		{"Video teleconsultation follow-up", true},
		{"Telekonsultation", true},
		{"Videosprechstunde Nachsorge", true},
		{"Teleconsulta de seguimiento", true},
		{"Videoconsulta", true},
		{"Vidéoconsultation", true},
		{"Consultation", false},
		{"Télévision", false},
		{"---- sans motif ----", false},
		{"Sprechstunde", false},
		{"Consulta", false},
	} {
		if got := isTeleconsultationName(tc.name); got != tc.want {
			t.Errorf("isTeleconsultationName(%q) = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestParseTypePrice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		msg  string
	}{
		{"25", 2500, ""},
		{"25,50", 2550, ""},
		{"25.5", 2550, ""},
		{" 7 ", 700, ""},
		{"0", 0, ""},
		{"0,05", 5, ""},
		{"100000", 10_000_000, ""},
		{"100000.00", 10_000_000, ""},
		{"100000.01", 0, "error.type_price_high"},
		{"99999999999", 0, "error.type_price_high"},
		{"-5", 0, "error.type_price_negative"},
		{"- 5,50", 0, "error.type_price_negative"},
		{"25.505", 0, "error.type_price_decimals"},
		{"", 0, "error.type_price_invalid"},
		{"abc", 0, "error.type_price_invalid"},
		{"1e3", 0, "error.type_price_invalid"},
		{"25,", 0, "error.type_price_invalid"},
		{"1 000", 0, "error.type_price_invalid"},
		{"25 €", 0, "error.type_price_invalid"},
	} {
		got, msg := parseTypePrice(tc.in)
		if got != tc.want || msg != tc.msg {
			t.Errorf("parseTypePrice(%q) = %d, %q; want %d, %q", tc.in, got, msg, tc.want, tc.msg)
		}
	}
	for _, tc := range []struct {
		lang, cur, want string
		amount          int64
	}{
		{"en", "EUR", "€25.50", 2550},
		{"fr", "EUR", "25,50\u00a0€", 2550},
		{"de", "USD", "0,05\u00a0$", 5},
		{"en", "CHF", "CHF\u00a0100.00", 10000},
	} {
		if got := typesMoney(tc.lang, tc.amount, tc.cur); got != tc.want {
			t.Errorf("typesMoney(%s, %d, %s) = %q, want %q", tc.lang, tc.amount, tc.cur, got, tc.want)
		}
	}
}

// typesEnv is a server with an admin, a practitioner (15-minute slots)
// signed in with a token, and a second practitioner with one type.
type typesEnv struct {
	ts        *testServer
	pro       *testUser
	c         *http.Client
	token     string
	other     *testUser
	otherType string
}

func newTypesEnv(t *testing.T) *typesEnv {
	t.Helper()
	ts := newTestServer(t, nil)
	e := &typesEnv{ts: ts}
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	e.pro = ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	e.other = ts.addUser(t, "other@example.org", "Otto Other", store.RolePractitioner, "")
	e.c = ts.clientLang(t, "en")
	ts.login(t, e.c, e.pro)
	e.token = ts.token(t, e.pro)
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		ty := &store.AppointmentType{PracticeID: e.other.PracticeID, Name: "Other's consultation", Minutes: 15, Currency: "EUR", NewPatients: true}
		if err := tx.CreateType(ctx, ty); err != nil {
			return err
		}
		e.otherType = ty.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *typesEnv) base() string { return "/pro/p/" + e.pro.PracticeID + "/types" }

func (e *typesEnv) apiBase() string {
	return "/api/v1/practices/" + e.pro.PracticeID + "/appointment-types"
}

// types returns the practice's active types in order.
func (e *typesEnv) types(t *testing.T) []*store.AppointmentType {
	t.Helper()
	list, err := e.ts.db.FindTypes(context.Background(), e.pro.PracticeID, false)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (e *typesEnv) names(t *testing.T) string {
	var out []string
	for _, ty := range e.types(t) {
		out = append(out, ty.Name)
	}
	return strings.Join(out, " | ")
}

// form is a valid add/edit form with changes applied.
func typeFormValues(name string, kv ...string) url.Values {
	v := url.Values{"name": {name}, "minutes": {"30"}, "price": {"25"}, "currency": {"EUR"}, "first_price": {""},
		"buffer_after": {"0"}, "new_patients": {"yes"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var typeCardRe = regexp.MustCompile(`<h3>\d+\. ([^<]*)</h3>`)

// pageTypeNames lists the names on the types page, in order.
func pageTypeNames(body string) string {
	var out []string
	for _, m := range typeCardRe.FindAllStringSubmatch(body, -1) {
		out = append(out, htmlUnescape(m[1]))
	}
	return strings.Join(out, " | ")
}

func TestTypesPageJourney(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ts, c := e.ts, e.c

	res := ts.get(t, c, e.base())
	ts.wantPage(t, res, http.StatusOK, "types.mode_free")
	ts.wantPage(t, res, http.StatusOK, "types.none")
	ts.wantPage(t, res, http.StatusOK, "types.f_minutes_help", "Slot", 15)
	if pageHas(res.Body, "Other's consultation") {
		t.Error("another practice's type is listed")
	}

	// Add three types; the teleconsultation flag follows the name.
	res = ts.post(t, c, e.base(), typeFormValues("Consultation", "price", "25,50", "first_price", "40", "buffer_after", "5"))
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), e.base()) {
		t.Fatalf("add: %d %s", res.StatusCode, res.Body)
	}
	ts.post(t, c, e.base(), typeFormValues("Visite par téléconsultation", "minutes", "15", "price", "25.5"))
	ts.post(t, c, e.base(), typeFormValues("Suivi", "minutes", "45", "currency", "CHF", "new_patients", "no", "teleconsultation", "1"))
	list := e.types(t)
	if len(list) != 3 {
		t.Fatalf("%d types, want 3", len(list))
	}
	a, b, s := list[0], list[1], list[2]
	if a.Name != "Consultation" || a.Minutes != 30 || a.Price != 2550 || a.FirstPrice == nil || *a.FirstPrice != 4000 || a.Currency != "EUR" ||
		a.BufferAfter != 5 || !a.NewPatients || a.Teleconsultation || a.Position != 1 {
		t.Errorf("first type %+v", a)
	}
	if !b.Teleconsultation || b.Price != 2550 || b.FirstPrice != nil {
		t.Errorf("a name with téléconsultation: %+v", b)
	}
	if !s.Teleconsultation || s.NewPatients || s.Currency != "CHF" {
		t.Errorf("third type %+v", s)
	}
	res = ts.get(t, c, e.base())
	ts.wantPage(t, res, http.StatusOK, "flash.type_added")
	if got := pageTypeNames(res.Body); got != "Consultation | Visite par téléconsultation | Suivi" {
		t.Errorf("page lists %q", got)
	}
	for _, want := range []string{"€25.50", "€40.00", "CHF\u00a0", ts.text(t, "en", "types.existing_only"), ts.text(t, "en", "types.tele")} {
		if !pageHas(res.Body, want) {
			t.Errorf("the list lacks %q", want)
		}
	}

	// Reorder: Suivi up twice, Consultation down once.
	for _, step := range []struct{ id, dir, want string }{
		{s.ID, "up", "Consultation | Suivi | Visite par téléconsultation"},
		{s.ID, "up", "Suivi | Consultation | Visite par téléconsultation"},
		{s.ID, "up", "Suivi | Consultation | Visite par téléconsultation"},
		{a.ID, "down", "Suivi | Visite par téléconsultation | Consultation"},
	} {
		res := ts.post(t, c, e.base()+"/"+step.id+"/move", url.Values{"dir": {step.dir}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("move: %d", res.StatusCode)
		}
		if got := e.names(t); got != step.want {
			t.Fatalf("after moving %s: %q, want %q", step.dir, got, step.want)
		}
	}
	if got := pageTypeNames(ts.get(t, c, e.base()).Body); got != "Suivi | Visite par téléconsultation | Consultation" {
		t.Errorf("page order %q", got)
	}
	if res := ts.post(t, c, e.base()+"/"+s.ID+"/move", url.Values{"dir": {"sideways"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("move sideways: %d", res.StatusCode)
	}

	// Edit: the form shows the stored values; saving changes them.
	res = ts.get(t, c, e.base()+"/"+a.ID)
	ts.wantPage(t, res, http.StatusOK, "types.edit_heading")
	for _, want := range []string{`value="Consultation"`, `value="25.50"`, `value="40.00"`, `value="5"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("edit form lacks %s", want)
		}
	}
	res = ts.post(t, c, e.base()+"/"+a.ID, typeFormValues("Consultation longue", "minutes", "60", "price", "50", "first_price", ""))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.StatusCode, mainOf(res.Body))
	}
	got, _ := ts.db.FindTypeByID(context.Background(), a.ID)
	if got.Name != "Consultation longue" || got.Minutes != 60 || got.Price != 5000 || got.FirstPrice != nil || got.BufferAfter != 0 || got.Position != 3 {
		t.Errorf("saved %+v", got)
	}
	// Keeping its own name is no duplicate.
	if res := ts.post(t, c, e.base()+"/"+a.ID, typeFormValues("consultation LONGUE")); res.StatusCode != http.StatusSeeOther {
		t.Errorf("save under its own name: %d", res.StatusCode)
	}

	// Remove: archived, gone from the page and the public list, still readable.
	res = ts.post(t, c, e.base()+"/"+b.ID+"/delete", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	res = ts.get(t, c, e.base())
	ts.wantPage(t, res, http.StatusOK, "flash.type_removed")
	if got := pageTypeNames(res.Body); got != "Suivi | consultation LONGUE" {
		t.Errorf("after removal the page lists %q", got)
	}
	if got, err := ts.db.FindTypeByID(context.Background(), b.ID); err != nil || !got.Archived() {
		t.Errorf("removed type: %v", err)
	}
	if res := ts.get(t, c, e.base()+"/"+b.ID); res.StatusCode != http.StatusNotFound {
		t.Errorf("edit a removed type: %d", res.StatusCode)
	}
	// A removed name can be used again.
	if res := ts.post(t, c, e.base(), typeFormValues("Visite par téléconsultation", "minutes", "15")); res.StatusCode != http.StatusSeeOther {
		t.Errorf("reuse a removed name: %d", res.StatusCode)
	}

	// Every change was audited.
	for action, n := range map[string]int{"type.create": 4, "type.update": 2, "type.move": 3, "type.archive": 1} {
		if got := ts.rows(t, "audit", "action = ? AND actor_id = ?", action, e.pro.ID); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}
}

func TestTypesPageReasonMode(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ctx := context.Background()
	err := e.ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, e.pro.PracticeID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.ReasonMode = "table"
		return tx.UpdateSettings(ctx, p.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	res := e.ts.get(t, e.c, e.base())
	e.ts.wantPage(t, res, http.StatusOK, "types.mode_table")
	e.ts.wantPage(t, res, http.StatusOK, "types.table_empty")
	e.ts.wantPage(t, res, http.StatusOK, "types.empty_reason_help")
	// The seed's empty reason is a valid name.
	if res := e.ts.post(t, e.c, e.base(), typeFormValues("---- sans motif ----", "minutes", "15", "price", "0")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("empty reason: %d", res.StatusCode)
	}
	res = e.ts.get(t, e.c, e.base())
	if pageHas(res.Body, e.ts.text(t, "en", "types.table_empty")) || pageTypeNames(res.Body) != "---- sans motif ----" {
		t.Errorf("after adding the empty reason: %q", pageTypeNames(res.Body))
	}
}

func TestTypesPageLanguages(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	for _, lang := range []string{"fr", "de", "es"} {
		c := e.ts.clientLang(t, lang)
		e.ts.login(t, c, e.pro)
		// The signed-in person's locale wins over the cookie: set it.
		res := e.ts.post(t, c, "/lang", url.Values{"lang": {lang}, "next": {"/"}})
		if res.StatusCode >= 400 {
			t.Fatalf("lang %s: %d", lang, res.StatusCode)
		}
		res = e.ts.post(t, c, e.base(), typeFormValues("X", "minutes", "20"))
		if want := e.ts.text(t, lang, "error.type_minutes_slot", "Slot", 15); res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, want) {
			t.Errorf("%s: %d, want the message %q", lang, res.StatusCode, want)
		}
		if !pageHas(res.Body, e.ts.text(t, lang, "types.heading")) {
			t.Errorf("%s: the page is not in %s", lang, lang)
		}
	}
}

func TestTypesPageBadInput(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ts := e.ts
	if res := ts.post(t, e.c, e.base(), typeFormValues("Consultation")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", res.StatusCode)
	}
	if res := ts.post(t, e.c, e.base(), typeFormValues("Bilan")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", res.StatusCode)
	}
	existing := e.types(t)[0]
	long := strings.Repeat("a", 10000)
	for _, tc := range []struct {
		name  string
		form  url.Values
		id    string
		args  []any
		field string
	}{
		{"not a multiple of the slot", typeFormValues("Court", "minutes", "20"), "error.type_minutes_slot", []any{"Slot", 15}, "minutes"},
		{"zero minutes", typeFormValues("Court", "minutes", "0"), "error.type_minutes_range", nil, "minutes"},
		{"500 minutes", typeFormValues("Long", "minutes", "500"), "error.type_minutes_range", nil, "minutes"},
		{"minutes not a number", typeFormValues("Court", "minutes", "half an hour"), "error.type_minutes_invalid", nil, "minutes"},
		{"negative price", typeFormValues("Gratuit", "price", "-10"), "error.type_price_negative", nil, "price"},
		{"three decimals", typeFormValues("Cher", "price", "25.505"), "error.type_price_decimals", nil, "price"},
		{"huge price", typeFormValues("Cher", "price", "1000000"), "error.type_price_high", nil, "price"},
		{"price not a number", typeFormValues("Cher", "price", "twenty"), "error.type_price_invalid", nil, "price"},
		{"bad first price", typeFormValues("Cher", "first_price", "-1"), "error.type_price_negative", nil, "first_price"},
		{"currency euro", typeFormValues("Cher", "currency", "euro"), "error.type_currency", nil, "currency"},
		{"buffer 7", typeFormValues("Pause", "buffer_after", "7"), "error.type_buffer", nil, "buffer_after"},
		{"buffer 125", typeFormValues("Pause", "buffer_after", "125"), "error.type_buffer", nil, "buffer_after"},
		{"empty name", typeFormValues("   "), "error.type_name_required", nil, "name"},
		{"10,000-char name", typeFormValues(long), "error.type_name_long", nil, "name"},
		{"control character", typeFormValues("Bad\x07name"), "error.type_name_invalid", nil, "name"},
		{"duplicate name", typeFormValues("  BILAN "), "error.type_name_taken", nil, "name"},
		{"new patients maybe", typeFormValues("Peut-être", "new_patients", "maybe"), "error.type_new_patients", nil, "new_patients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.rows(t, "appointment_types")
			audits := ts.rows(t, "audit")
			for _, path := range []string{e.base(), e.base() + "/" + existing.ID} {
				res := ts.post(t, e.c, path, tc.form)
				ts.wantPage(t, res, http.StatusUnprocessableEntity, tc.id, tc.args...)
				if !strings.Contains(res.Body, `action="`+path+`"`) || !strings.Contains(res.Body, `name="`+tc.field+`"`) {
					t.Errorf("%s: the form is not shown again", path)
				}
				if tc.name == "10,000-char name" && strings.Count(res.Body, "aaaaaaaaaa") == 0 {
					t.Errorf("the typed name is not given back")
				}
			}
			if got := ts.rows(t, "appointment_types"); got != before {
				t.Errorf("%d types, want %d: something was written", got, before)
			}
			if got := ts.rows(t, "audit"); got != audits {
				t.Errorf("audit grew from %d to %d", audits, got)
			}
			if got, _ := ts.db.FindTypeByID(context.Background(), existing.ID); got.Name != "Consultation" || got.UpdatedAt != existing.UpdatedAt {
				t.Errorf("the edited type changed: %+v", got)
			}
		})
	}
	// Several mistakes at once: each field says what is wrong.
	res := ts.post(t, e.c, e.base(), typeFormValues("", "minutes", "20", "price", "-1", "buffer_after", "7"))
	for _, id := range []string{"error.type_name_required", "error.type_price_negative", "error.type_buffer"} {
		ts.wantPage(t, res, http.StatusUnprocessableEntity, id)
	}
	ts.wantPage(t, res, http.StatusUnprocessableEntity, "error.type_minutes_slot", "Slot", 15)
}

func TestTypesOtherPractice(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ts := e.ts
	before := ts.rows(t, "audit")
	// Another practice's type through one's own practice: 404, nothing changes.
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", e.base() + "/" + e.otherType, nil},
		{"POST", e.base() + "/" + e.otherType, typeFormValues("Stolen")},
		{"POST", e.base() + "/" + e.otherType + "/move", url.Values{"dir": {"up"}}},
		{"POST", e.base() + "/" + e.otherType + "/delete", nil},
		{"GET", e.base() + "/nope", nil},
	} {
		var res response
		if tc.method == "GET" {
			res = ts.get(t, e.c, tc.path)
		} else {
			res = ts.post(t, e.c, tc.path, tc.form)
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tc.method, tc.path, res.StatusCode)
		}
	}
	api := e.apiBase() + "/" + e.otherType
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", api, `{"name":"Stolen"}`},
		{"DELETE", api, ""},
		{"POST", api + "/move", `{"delta":1}`},
	} {
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		var res response
		if body != nil {
			res = ts.api(t, tc.method, tc.path, e.token, body)
		} else {
			res = ts.api(t, tc.method, tc.path, e.token, nil)
		}
		if res.StatusCode != http.StatusNotFound || !strings.Contains(res.Body, `"code":"not_found"`) {
			t.Errorf("%s %s: %d %s, want 404", tc.method, tc.path, res.StatusCode, res.Body)
		}
	}
	// The other practitioner's own pages are closed to this one.
	otherBase := "/pro/p/" + e.other.PracticeID + "/types"
	if res := ts.get(t, e.c, otherBase); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET another practice's page: %d", res.StatusCode)
	}
	got, _ := ts.db.FindTypeByID(context.Background(), e.otherType)
	if got.Name != "Other's consultation" || got.Archived() || got.Position != 1 {
		t.Errorf("the other practice's type changed: %+v", got)
	}
	if after := ts.rows(t, "audit"); after != before {
		t.Errorf("audit grew from %d to %d", before, after)
	}
}

// typesAPIError is the API's error body.
type typesAPIError struct {
	Error struct{ Code, Message, Field string }
}

func decodeTypesJSON[T any](t *testing.T, res response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(res.Body), &v); err != nil {
		t.Fatalf("decode %q: %v", res.Body, err)
	}
	return v
}

func TestTypesAPI(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ts := e.ts
	post := func(body string) response {
		return ts.api(t, "POST", e.apiBase(), e.token, strings.NewReader(body))
	}

	res := post(`{"name":"Consultation","minutes":30,"price":{"amount":2500,"currency":"EUR"},"first_visit_price":{"amount":4000,"currency":"EUR"},"buffer_after_minutes":5}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	created := decodeTypesJSON[apiType](t, res)
	if created.ID == "" || created.Name != "Consultation" || created.Minutes != 30 || created.Price != (apiTypeMoney{2500, "EUR"}) ||
		created.FirstVisitPrice == nil || *created.FirstVisitPrice != (apiTypeMoney{4000, "EUR"}) || created.Teleconsultation ||
		created.BufferAfterMinutes != 5 || !created.NewPatients {
		t.Errorf("created %+v", created)
	}
	// The exact keys of DESIGN §5 are there.
	var raw map[string]any
	json.Unmarshal([]byte(res.Body), &raw)
	for _, k := range []string{"id", "name", "minutes", "price", "teleconsultation", "buffer_after_minutes", "new_patients", "first_visit_price"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, res.Body)
		}
	}
	tele := decodeTypesJSON[apiType](t, post(`{"name":"Videosprechstunde","minutes":15,"price":{"amount":3000}}`))
	if !tele.Teleconsultation || tele.Price.Currency != "EUR" || tele.FirstVisitPrice != nil {
		t.Errorf("German teleconsultation name: %+v", tele)
	}
	third := decodeTypesJSON[apiType](t, post(`{"name":"Teleconsulta","minutes":15,"teleconsultation":false,"new_patients":false}`))
	if !third.Teleconsultation || third.NewPatients || third.Price.Amount != 0 {
		t.Errorf("Spanish teleconsultation name: %+v", third)
	}
	gone := decodeTypesJSON[apiType](t, post(`{"name":"Old","minutes":15}`))

	// PUT changes only the fields given.
	res = ts.api(t, "PUT", e.apiBase()+"/"+created.ID, e.token, strings.NewReader(`{"minutes":45,"first_visit_price":null}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", res.StatusCode, res.Body)
	}
	upd := decodeTypesJSON[apiType](t, res)
	if upd.Minutes != 45 || upd.FirstVisitPrice != nil || upd.Name != "Consultation" || upd.Price.Amount != 2500 || upd.BufferAfterMinutes != 5 {
		t.Errorf("updated %+v", upd)
	}
	// A round trip of the object as read is accepted.
	rt, _ := json.Marshal(upd)
	if res := ts.api(t, "PUT", e.apiBase()+"/"+created.ID, e.token, strings.NewReader(string(rt))); res.StatusCode != http.StatusOK {
		t.Errorf("round trip: %d %s", res.StatusCode, res.Body)
	}

	// DELETE archives; the public list hides it; a second DELETE is harmless.
	if res := ts.api(t, "DELETE", e.apiBase()+"/"+gone.ID, e.token, nil); res.StatusCode != http.StatusNoContent || res.Body != "" {
		t.Fatalf("delete: %d %q", res.StatusCode, res.Body)
	}
	if res := ts.api(t, "DELETE", e.apiBase()+"/"+gone.ID, e.token, nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("delete again: %d", res.StatusCode)
	}
	if res := ts.api(t, "PUT", e.apiBase()+"/"+gone.ID, e.token, strings.NewReader(`{"minutes":30}`)); res.StatusCode != http.StatusNotFound {
		t.Errorf("update a removed type: %d", res.StatusCode)
	}

	// Move the third type up: the answer is the new order.
	res = ts.api(t, "POST", e.apiBase()+"/"+third.ID+"/move", e.token, strings.NewReader(`{"delta":-1}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("move: %d %s", res.StatusCode, res.Body)
	}
	order := func(list []apiType) string {
		var out []string
		for _, ty := range list {
			out = append(out, ty.Name)
		}
		return strings.Join(out, ",")
	}
	if got := order(decodeTypesJSON[[]apiType](t, res)); got != "Consultation,Teleconsulta,Videosprechstunde" {
		t.Errorf("after the move: %s", got)
	}

	// The public list: anyone, in order, removed types hidden.
	res = ts.api(t, "GET", "/api/v1/practitioners/"+e.pro.PracticeID+"/appointment-types", "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("public list: %d", res.StatusCode)
	}
	pub := decodeTypesJSON[[]apiType](t, res)
	if got := order(pub); got != "Consultation,Teleconsulta,Videosprechstunde" {
		t.Errorf("public list %s", got)
	}
	if strings.Contains(res.Body, "archived_at") || strings.Contains(res.Body, gone.ID) {
		t.Errorf("the public list shows the removed type: %s", res.Body)
	}
	// The staff list can show removed types too.
	res = ts.api(t, "GET", e.apiBase()+"?archived=1", e.token, nil)
	if all := decodeTypesJSON[[]apiType](t, res); len(all) != 4 || all[3].ID != gone.ID || all[3].ArchivedAt == "" {
		t.Errorf("staff list with removed types: %s", res.Body)
	}
	if res := ts.api(t, "GET", e.apiBase()+"?archived=maybe", e.token, nil); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("archived=maybe: %d", res.StatusCode)
	}
	// An empty practice answers an empty array; an unknown or unverified one 404.
	res = ts.api(t, "GET", "/api/v1/practitioners/"+e.other.PracticeID+"/appointment-types", "", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "Other's consultation") {
		t.Errorf("other practice: %d %s", res.StatusCode, res.Body)
	}
	ctx := context.Background()
	var pending string
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p := &store.Practice{Name: "Pending", TimeZone: "Europe/Paris", Status: store.PracticePending}
		if err := tx.CreatePractice(ctx, p); err != nil {
			return err
		}
		pending = p.ID
		return tx.CreateType(ctx, &store.AppointmentType{PracticeID: p.ID, Name: "Hidden", Minutes: 15, Currency: "EUR"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{pending, "nope"} {
		if res := ts.api(t, "GET", "/api/v1/practitioners/"+id+"/appointment-types", "", nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("practice %s: %d", id, res.StatusCode)
		}
	}
	fresh := ts.addUser(t, "fresh@example.org", "Fresh Pro", store.RolePractitioner, "")
	if res := ts.api(t, "GET", "/api/v1/practitioners/"+fresh.PracticeID+"/appointment-types", "", nil); res.StatusCode != http.StatusOK || strings.TrimSpace(res.Body) != "[]" {
		t.Errorf("no types: %d %q", res.StatusCode, res.Body)
	}
}

func TestTypesAPIBadInput(t *testing.T) {
	t.Parallel()
	e := newTypesEnv(t)
	ts := e.ts
	res := ts.api(t, "POST", e.apiBase(), e.token, strings.NewReader(`{"name":"Consultation","minutes":15,"price":{"amount":2500,"currency":"EUR"}}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatal(res.Body)
	}
	existing := decodeTypesJSON[apiType](t, res)
	long := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name, body    string
		status        int
		field, id     string
		args          []any
		createOnly    bool
		updateMessage bool
	}{
		{"not a multiple of the slot", `{"name":"A","minutes":20}`, 422, "minutes", "error.type_minutes_slot", []any{"Slot", 15}, false, false},
		{"zero minutes", `{"name":"A","minutes":0}`, 422, "minutes", "error.type_minutes_range", nil, false, false},
		{"500 minutes", `{"name":"A","minutes":500}`, 422, "minutes", "error.type_minutes_range", nil, false, false},
		{"huge minutes", `{"name":"A","minutes":99999999999999999999999}`, 422, "minutes", "error.type_minutes_range", nil, false, false},
		{"fractional minutes", `{"name":"A","minutes":15.5}`, 422, "minutes", "error.type_minutes_invalid", nil, false, false},
		{"minutes as text", `{"name":"A","minutes":"15"}`, 422, "minutes", "error.type_json_type", []any{"Field", "minutes"}, false, false},
		{"negative price", `{"name":"A","minutes":15,"price":{"amount":-1,"currency":"EUR"}}`, 422, "price.amount", "error.type_price_negative", nil, false, false},
		{"fractional amount", `{"name":"A","minutes":15,"price":{"amount":25.505,"currency":"EUR"}}`, 422, "price.amount", "error.type_amount_cents", nil, false, false},
		{"huge price", `{"name":"A","minutes":15,"price":{"amount":10000001,"currency":"EUR"}}`, 422, "price.amount", "error.type_price_high", nil, false, false},
		{"price without amount", `{"name":"A","minutes":15,"price":{"currency":"EUR"}}`, 422, "price.amount", "error.type_required", []any{"Field", "price.amount"}, false, false},
		{"currency euro", `{"name":"A","minutes":15,"price":{"amount":100,"currency":"euro"}}`, 422, "price.currency", "error.type_currency", nil, false, false},
		{"first price in another currency", `{"name":"A","minutes":15,"price":{"amount":100,"currency":"EUR"},"first_visit_price":{"amount":100,"currency":"USD"}}`,
			422, "first_visit_price.currency", "error.type_currency_mismatch", nil, false, false},
		{"negative first price", `{"name":"A","minutes":15,"first_visit_price":{"amount":-5}}`, 422, "first_visit_price.amount", "error.type_price_negative", nil, false, false},
		{"buffer 7", `{"name":"A","minutes":15,"buffer_after_minutes":7}`, 422, "buffer_after_minutes", "error.type_buffer", nil, false, false},
		{"empty name", `{"name":" ","minutes":15}`, 422, "name", "error.type_name_required", nil, false, false},
		{"10,000-char name", `{"name":"` + long + `","minutes":15}`, 422, "name", "error.type_name_long", nil, false, false},
		{"null name", `{"name":null,"minutes":15}`, 422, "name", "error.type_json_type", []any{"Field", "name"}, false, false},
		{"duplicate name", `{"name":"CONSULTATION","minutes":15}`, 422, "name", "error.type_name_taken", nil, true, false},
		{"missing name", `{"minutes":15}`, 422, "name", "error.type_required", []any{"Field", "name"}, true, false},
		{"missing minutes", `{"name":"A"}`, 422, "minutes", "error.type_required", []any{"Field", "minutes"}, true, false},
		{"unknown field", `{"name":"A","minutes":15,"colour":"red"}`, 400, "colour", "error.type_json_field", []any{"Field", "colour"}, false, false},
		{"unknown price field", `{"name":"A","minutes":15,"price":{"amount":1,"cents":true}}`, 400, "price.cents", "error.type_json_field", []any{"Field", "price.cents"}, false, false},
		{"price not an object", `{"name":"A","minutes":15,"price":25}`, 422, "price", "error.type_json_type", []any{"Field", "price"}, false, false},
		{"not JSON", `name=A`, 400, "", "error.type_json", nil, false, false},
		{"an array", `[{"name":"A"}]`, 400, "", "error.type_json", nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, audits := ts.rows(t, "appointment_types"), ts.rows(t, "audit")
			paths := map[string]string{"POST": e.apiBase()}
			if !tc.createOnly {
				paths["PUT"] = e.apiBase() + "/" + existing.ID
			}
			for method, path := range paths {
				res := ts.api(t, method, path, e.token, strings.NewReader(tc.body))
				if res.StatusCode != tc.status {
					t.Errorf("%s: status %d, want %d: %s", method, res.StatusCode, tc.status, res.Body)
					continue
				}
				got := decodeTypesJSON[typesAPIError](t, res)
				wantCode := ECodeInvalid
				if tc.status == 400 {
					wantCode = ECodeBadRequest
				}
				if got.Error.Code != wantCode || got.Error.Field != tc.field || got.Error.Message != ts.text(t, "en", tc.id, tc.args...) {
					t.Errorf("%s: error %+v, want %s %q %q", method, got.Error, wantCode, tc.field, ts.text(t, "en", tc.id, tc.args...))
				}
			}
			if got := ts.rows(t, "appointment_types"); got != before {
				t.Errorf("%d types, want %d", got, before)
			}
			if got := ts.rows(t, "audit"); got != audits {
				t.Errorf("audit grew from %d to %d", audits, got)
			}
			if got, _ := ts.db.FindTypeByID(context.Background(), existing.ID); got.Name != "Consultation" || got.Minutes != 15 || got.Price != 2500 {
				t.Errorf("the type changed: %+v", got)
			}
		})
	}
	// A renamed type may not take another's name either.
	ts.api(t, "POST", e.apiBase(), e.token, strings.NewReader(`{"name":"Suivi","minutes":15}`))
	res = ts.api(t, "PUT", e.apiBase()+"/"+existing.ID, e.token, strings.NewReader(`{"name":"suivi"}`))
	if got := decodeTypesJSON[typesAPIError](t, res); res.StatusCode != 422 || got.Error.Field != "name" {
		t.Errorf("rename onto a taken name: %d %s", res.StatusCode, res.Body)
	}
	// The id in a PUT body must be the type's.
	res = ts.api(t, "PUT", e.apiBase()+"/"+existing.ID, e.token, strings.NewReader(`{"id":"other"}`))
	if got := decodeTypesJSON[typesAPIError](t, res); res.StatusCode != 422 || got.Error.Field != "id" {
		t.Errorf("id mismatch: %d %s", res.StatusCode, res.Body)
	}
	// Moves take -1 or 1.
	for _, body := range []string{`{"delta":2}`, `{"delta":0}`, `{}`, `{"delta":"up"}`} {
		res := ts.api(t, "POST", e.apiBase()+"/"+existing.ID+"/move", e.token, strings.NewReader(body))
		if got := decodeTypesJSON[typesAPIError](t, res); res.StatusCode != 422 || got.Error.Field != "delta" {
			t.Errorf("move %s: %d %s", body, res.StatusCode, res.Body)
		}
	}
	if res := ts.api(t, "POST", e.apiBase()+"/"+existing.ID+"/move", e.token, strings.NewReader(`{"delta":1,"x":1}`)); res.StatusCode != 400 {
		t.Errorf("move with an unknown field: %d", res.StatusCode)
	}
	// Error messages follow the caller's language.
	ctx := context.Background()
	fr := "fr"
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		return tx.UpdateUser(ctx, e.pro.ID, store.UserUpdate{Locale: &fr})
	}); err != nil {
		t.Fatal(err)
	}
	res = ts.api(t, "POST", e.apiBase(), e.token, strings.NewReader(`{"name":"A","minutes":20}`))
	if got := decodeTypesJSON[typesAPIError](t, res); got.Error.Message != ts.text(t, "fr", "error.type_minutes_slot", "Slot", 15) {
		t.Errorf("French message: %q", got.Error.Message)
	}
	// A secretary may read the staff list but not change it.
	sec := ts.addUser(t, "sec@example.org", "Sam Sec", store.RoleSecretary, e.pro.PracticeID)
	stok := ts.token(t, sec)
	if res := ts.api(t, "GET", e.apiBase(), stok, nil); res.StatusCode != http.StatusOK {
		t.Errorf("secretary reads: %d", res.StatusCode)
	}
	if res := ts.api(t, "POST", e.apiBase(), stok, strings.NewReader(`{"name":"B","minutes":15}`)); res.StatusCode != http.StatusNotFound {
		t.Errorf("secretary creates: %d", res.StatusCode)
	}
}
