package app

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// journeyWorld is a server with an admin, practice A (hours every day
// 08:00–20:00, a planning, a 15-minute type), its secretary, practice B, and
// two patients, each with a signed-in client.
type journeyWorld struct {
	ts                         *testServer
	proA, proB, secA           *testUser
	patient, patient2          *testUser
	pA, pB                     *store.Practice
	typeA                      *store.AppointmentType
	cProA, cProB, cSecA        *http.Client
	cPatient, cPatient2, cAnon *http.Client
}

func newJourneyWorld(t *testing.T) *journeyWorld {
	t.Helper()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	w := &journeyWorld{ts: ts}
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	w.proA = ts.addUser(t, "pro-a@example.org", "Alba Practice", store.RolePractitioner, "")
	w.proB = ts.addUser(t, "pro-b@example.org", "Bruno Practice", store.RolePractitioner, "")
	w.secA = ts.addUser(t, "sec-a@example.org", "Sam Secretary", store.RoleSecretary, w.proA.PracticeID)
	w.patient = ts.addUser(t, "patient@example.org", "Pat Patient", store.RolePatient, "")
	w.patient2 = ts.addUser(t, "patient2@example.org", "Paz Second", store.RolePatient, "")
	w.pA = mustPractice(t, ts, w.proA.PracticeID)
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, w.pA, ts.srv.today(w.pA, ts.srv.clock()), spec, ""); err != nil {
		t.Fatal(err)
	}
	w.typeA = &store.AppointmentType{PracticeID: w.pA.ID, Name: "Journey visit", Minutes: 15, Currency: "EUR", NewPatients: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, w.typeA) }); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, w.pA.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	w.pA = mustPractice(t, ts, w.pA.ID)
	w.pB = mustPractice(t, ts, w.proB.PracticeID)
	for _, c := range []struct {
		c **http.Client
		u *testUser
	}{{&w.cProA, w.proA}, {&w.cProB, w.proB}, {&w.cSecA, w.secA}, {&w.cPatient, w.patient}, {&w.cPatient2, w.patient2}} {
		*c.c = ts.clientLang(t, "en")
		ts.login(t, *c.c, c.u)
	}
	w.cAnon = ts.clientLang(t, "en")
	return w
}

// freeStarts returns practice A's free starts of the type over days from..to
// from today.
func (w *journeyWorld) freeStarts(t *testing.T, typ *store.AppointmentType, from, to int) []schedule.Cell {
	t.Helper()
	ts := w.ts
	today := ts.srv.today(w.pA, ts.srv.clock())
	starts, err := ts.srv.freeStarts(context.Background(), w.pA, typ.Minutes, typ.BufferAfter, today.AddDays(from), today.AddDays(to), ts.srv.clock())
	if err != nil || len(starts) == 0 {
		t.Fatalf("no free starts: %v", err)
	}
	return starts
}

// rawColumn reads a column straight from the database file.
func (ts *testServer) rawColumn(t testing.TB, query string, args ...any) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+ts.db.Path()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow(query, args...).Scan(&b); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return b
}

var requestPathRe = regexp.MustCompile(`^/requests/([a-z0-9]+)$`)

// sendRequest posts a request to practice A as c and returns its id.
func (w *journeyWorld) sendRequest(t *testing.T, c *http.Client, form url.Values) string {
	t.Helper()
	res := w.ts.post(t, c, "/p/"+w.pA.ID+"/request", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send request: %d %s", res.StatusCode, mainOf(res.Body))
	}
	m := requestPathRe.FindStringSubmatch(res.Header.Get("Location"))
	if m == nil {
		t.Fatalf("send request: Location %q", res.Header.Get("Location"))
	}
	return m[1]
}

func (w *journeyWorld) request(t *testing.T, id string) *store.BookingRequest {
	t.Helper()
	r, err := w.ts.db.FindBookingRequestByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// --- Matching ----------------------------------------------------------------

func TestPostalArea(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"75011": "75", "06 000": "06", "97200": "972", "98800": "988", "2A004": "2A", "1": "", "": "", "sw1a 1aa": "SW"} {
		if got := postalArea(in); got != want {
			t.Errorf("postalArea(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRankMatches(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC) // a Monday
	day := func(n int) time.Time { return now.Add(time.Duration(n) * 24 * time.Hour) }
	c := func(id string, spec []string, langs []string, tele bool, next time.Time, pc string) matchCandidate {
		return matchCandidate{ID: id, Name: "Dr " + id, Specialties: spec, Languages: langs, Tele: tele, Next: next, PostalCode: pc}
	}
	derm, cardio, gp := []string{"Dermatologie"}, []string{"Cardiologie"}, []string{"Médecine générale", "Dermatologie"}
	for _, tc := range []struct {
		name  string
		cands []matchCandidate
		q     matchQuery
		limit int
		want  string // ids in order
	}{
		{"specialty first, accents and case ignored",
			[]matchCandidate{c("a", cardio, nil, true, day(1), ""), c("b", derm, nil, false, day(9), ""), c("c", gp, nil, false, time.Time{}, "")},
			matchQuery{Specialty: "dermatologie", Soon: soonAny}, 0, "b c a"},
		{"language before teleconsultation",
			[]matchCandidate{c("a", derm, []string{"fr"}, true, day(1), ""), c("b", derm, []string{"en", "fr"}, false, day(1), "")},
			matchQuery{Specialty: "Dermatologie", Language: "en", Tele: true, Soon: soonAny}, 0, "b a"},
		{"teleconsultation counts only when it suits",
			[]matchCandidate{c("a", derm, nil, false, day(1), ""), c("b", derm, nil, true, day(2), "")},
			matchQuery{Tele: true, Soon: soonAny}, 0, "b a"},
		{"teleconsultation not wanted: earliest first",
			[]matchCandidate{c("a", derm, nil, false, day(1), ""), c("b", derm, nil, true, day(2), "")},
			matchQuery{Tele: false, Soon: soonAny}, 0, "a b"},
		{"this week: a free time within 7 days before proximity",
			[]matchCandidate{c("near", derm, nil, false, day(10), "75011"), c("far", derm, nil, false, day(3), "13001")},
			matchQuery{Soon: soonWeek, PostalCode: "75011"}, 0, "far near"},
		{"no hurry: proximity before the earliest time",
			[]matchCandidate{c("near", derm, nil, false, day(10), "75011"), c("far", derm, nil, false, day(3), "13001")},
			matchQuery{Soon: soonAny, PostalCode: "75011"}, 0, "near far"},
		{"same postal code before same département",
			[]matchCandidate{c("dept", derm, nil, false, day(2), "75020"), c("code", derm, nil, false, day(5), "75011"), c("none", derm, nil, false, day(1), "")},
			matchQuery{Soon: soonAny, PostalCode: "75 011"}, 0, "code dept none"},
		{"this month: none within 14 days comes last",
			[]matchCandidate{c("none", derm, nil, false, time.Time{}, "75011"), c("late", derm, nil, false, day(13), "")},
			matchQuery{Soon: soonMonth, PostalCode: "75011"}, 0, "late none"},
		{"ties by earliest, then name",
			[]matchCandidate{c("z", derm, nil, false, day(2), ""), c("y", derm, nil, false, day(2), ""), c("x", derm, nil, false, day(1), "")},
			matchQuery{Soon: soonAny}, 0, "x y z"},
		{"limit keeps the best",
			[]matchCandidate{c("a", cardio, nil, false, day(1), ""), c("b", derm, nil, false, day(1), ""), c("c", derm, nil, false, day(2), "")},
			matchQuery{Specialty: "Dermatologie", Soon: soonAny}, 2, "b c"},
		{"nothing asked: earliest first", []matchCandidate{c("a", nil, nil, false, time.Time{}, ""), c("b", nil, nil, false, day(4), "")},
			matchQuery{Soon: soonAny}, 0, "b a"},
		{"no candidates", nil, matchQuery{Soon: soonAny}, 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, r := range rankMatches(tc.cands, tc.q, now, tc.limit) {
				got = append(got, r.ID)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("order %q, want %q", strings.Join(got, " "), tc.want)
			}
		})
	}
	t.Run("Reasons", func(t *testing.T) {
		t.Parallel()
		r := matchOf(c("a", derm, []string{"de"}, true, day(2), "75011"), matchQuery{Specialty: "Dermatologie", Language: "de", Tele: true, Soon: soonWeek, PostalCode: "75012"}, now)
		if !r.Specialty || !r.Language || !r.Tele || !r.Soon || r.Near != 1 {
			t.Errorf("reasons %+v", r)
		}
		r = matchOf(c("a", derm, nil, true, day(8), ""), matchQuery{Tele: false, Soon: soonWeek}, now)
		if r.Specialty || r.Language || r.Tele || r.Soon || r.Near != 0 {
			t.Errorf("reasons %+v", r)
		}
	})
}

func TestMatchPage(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		a, b := w.pA.Settings, w.pB.Settings
		a.Specialties, a.Languages, a.PostalCode, a.City = []string{"Dermatologie"}, []string{"fr", "de"}, "06000", "Nice"
		b.Specialties, b.Languages, b.PostalCode, b.City = []string{"Cardiologie"}, []string{"fr"}, "75011", "Paris"
		if err := tx.UpdateSettings(ctx, w.pA.ID, a); err != nil {
			return err
		}
		return tx.UpdateSettings(ctx, w.pB.ID, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	res := ts.get(t, w.cAnon, "/match")
	if res.StatusCode != 200 || !pageHas(res.Body, `<option value="Cardiologie">`) || !pageHas(res.Body, `<option value="Dermatologie">`) {
		t.Fatalf("GET /match: %d, specialties of the directory not offered", res.StatusCode)
	}
	// A dermatologist, in German, this week: A first, with its reasons.
	res = ts.post(t, w.cAnon, "/match", url.Values{"specialty": {"Dermatologie"}, "language": {"de"}, "tele": {"no"}, "soon": {"week"}, "postal_code": {"75011"}})
	if res.StatusCode != 200 {
		t.Fatalf("POST /match: %d", res.StatusCode)
	}
	body := html2text(mainOf(res.Body))
	ia, ib := strings.Index(body, "Alba Practice"), strings.Index(body, "Bruno Practice")
	if ia < 0 || ib < 0 || ia > ib {
		t.Fatalf("order: A at %d, B at %d", ia, ib)
	}
	for _, want := range []string{ts.text(t, "en", "match.why_language", "Language", "German"), "Next free time:", ts.text(t, "en", "match.why_same_code"),
		`href="/p/` + w.pA.ID + `/book"`, `href="/p/` + w.pA.ID + `/request"`, ts.text(t, "en", "match.why_no_time", "Days", matchDays)} {
		if !strings.Contains(body, want) {
			t.Errorf("results lack %q", want)
		}
	}
	// The answers never go into a URL.
	if strings.Contains(res.Body, "?specialty=") {
		t.Error("the need appears in a URL")
	}
	// Bad answers: 422 with a message per field.
	res = ts.post(t, w.cAnon, "/match", url.Values{"specialty": {"Astrology"}, "language": {"xx"}, "tele": {"maybe"}, "soon": {"never"}, "postal_code": {"<75>"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad answers: %d", res.StatusCode)
	}
	for _, id := range []string{"error.match_specialty", "error.match_language", "error.match_tele", "error.match_soon", "error.match_postal_code"} {
		if !pageHas(res.Body, ts.text(t, "en", id)) {
			t.Errorf("bad answers: no %s", id)
		}
	}
}

// --- Assisted scheduling -----------------------------------------------------

func TestAssistedScheduling(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	ctx := context.Background()
	// The type asks one required question.
	q := &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Any allergy?", Kind: store.IntakeShort, Required: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateIntakeQuestion(ctx, q) }); err != nil {
		t.Fatal(err)
	}

	// Anonymous visitors sign in first.
	if res := ts.get(t, w.cAnon, "/p/"+w.pA.ID+"/request"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous request form: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// Bad input: nothing written.
	for name, form := range map[string]url.Values{
		"empty":        {"preferences": {"  "}},
		"too long":     {"preferences": {strings.Repeat("x", requestMaxText+1)}},
		"control":      {"preferences": {"Monday\x00"}},
		"foreign type": {"preferences": {"Monday"}, "type": {"nope"}},
	} {
		res := ts.post(t, w.cPatient, "/p/"+w.pA.ID+"/request", form)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", name, res.StatusCode)
		}
	}
	if n := ts.rows(t, "booking_requests"); n != 0 {
		t.Fatalf("refused requests wrote %d rows", n)
	}
	if res := ts.get(t, w.cPatient, "/p/"+w.proA.ID+"x/request"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown practice: %d", res.StatusCode)
	}

	// The patient asks; the text is encrypted at rest; the practice is told.
	const pref = "Tuesday after 5 pm <b>please</b>"
	id := w.sendRequest(t, w.cPatient, url.Values{"preferences": {pref}, "type": {w.typeA.ID}})
	if raw := ts.rawColumn(t, "SELECT preferences FROM booking_requests WHERE id = ?", id); strings.Contains(string(raw), "Tuesday") {
		t.Error("the preferences are stored in clear")
	}
	if m := ts.lastMail(t, w.proA.Email); m.Template != "request_received" || strings.Contains(m.TextBody, "Tuesday") {
		t.Errorf("mail to the practitioner: %q", m.Template)
	}
	res := ts.get(t, w.cPatient, "/requests/"+id)
	if res.StatusCode != 200 || !strings.Contains(res.Body, "&lt;b&gt;please&lt;/b&gt;") || !pageHas(res.Body, ts.text(t, "en", "request.waiting")) {
		t.Fatalf("patient's request page: %d", res.StatusCode)
	}

	// The secretary sees it, with the free starts of its type, and proposes one.
	res = ts.get(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests")
	if res.StatusCode != 200 || !strings.Contains(res.Body, "&lt;b&gt;please&lt;/b&gt;") || !pageHas(res.Body, "Pat Patient") {
		t.Fatalf("staff list: %d", res.StatusCode)
	}
	starts := w.freeStarts(t, w.typeA, 3, 5)
	res = ts.get(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+id)
	if res.StatusCode != 200 || !strings.Contains(res.Body, `value="`+starts[0].ID+`"`) {
		t.Fatalf("staff request page: %d, no free start offered", res.StatusCode)
	}
	// Bad proposals: none chosen, another practice's slot, a blocked or taken one.
	for name, slot := range map[string]string{"none": "", "unknown": "nope"} {
		res = ts.post(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {slot}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("propose %s: %d", name, res.StatusCode)
		}
	}
	if r := w.request(t, id); r.State != store.RequestOpen {
		t.Fatalf("a refused proposal changed the state to %s", r.State)
	}
	// Another practice cannot touch it, by its own path or A's.
	if res = ts.post(t, w.cProB, "/pro/p/"+w.pB.ID+"/requests/"+id+"/propose", url.Values{"slot": {starts[0].ID}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("practice B proposing on A's request: %d", res.StatusCode)
	}
	if res = ts.get(t, w.cProB, "/pro/p/"+w.pA.ID+"/requests"); res.StatusCode != http.StatusNotFound {
		t.Errorf("practice B listing A's requests: %d", res.StatusCode)
	}
	proposed := starts[len(starts)/2]
	res = ts.post(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {proposed.ID}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("propose: %d %s", res.StatusCode, mainOf(res.Body))
	}
	if r := w.request(t, id); r.State != store.RequestProposed || r.ProposedSlot != proposed.ID {
		t.Fatalf("after proposing: %+v", r)
	}
	m := ts.lastMail(t, w.patient.Email)
	if m.Template != "request_proposed" || !strings.HasSuffix(mailLink(t, m), "/requests/"+id) || strings.Contains(m.Subject, "Journey") {
		t.Fatalf("proposal mail: %q %q", m.Template, m.Subject)
	}
	when := formatDateTime("en", proposed.Start, ts.srv.location(w.pA.TimeZone))
	if !strings.Contains(m.TextBody, when) {
		t.Errorf("proposal mail lacks the time %q", when)
	}

	// The patient sees the proposal; another patient gets 404.
	res = ts.get(t, w.cPatient, "/requests/"+id)
	if res.StatusCode != 200 || !pageHas(res.Body, when) || !strings.Contains(res.Body, `action="/requests/`+id+`/confirm"`) ||
		!pageHas(res.Body, "Any allergy?") {
		t.Fatalf("proposal page: %d", res.StatusCode)
	}
	// Confirming without the required answer: 422, nothing booked.
	res = ts.post(t, w.cPatient, "/requests/"+id+"/confirm", url.Values{})
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", "error.intake_required")) {
		t.Fatalf("confirm without answers: %d", res.StatusCode)
	}
	if n := ts.rows(t, "appointments"); n != 0 {
		t.Fatalf("a refused confirmation booked %d appointments", n)
	}
	// One click (and a double click) books once.
	form := url.Values{"intake_" + q.ID: {"Penicillin"}, "reason": {"Check-up"}}
	for i := 0; i < 2; i++ {
		res = ts.post(t, w.cPatient, "/requests/"+id+"/confirm", form)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("confirm %d: %d %s", i, res.StatusCode, mainOf(res.Body))
		}
	}
	r := w.request(t, id)
	if r.State != store.RequestBooked || r.AppointmentID == "" {
		t.Fatalf("after confirming: %+v", r)
	}
	appt, err := ts.db.FindAppointmentByID(ctx, r.AppointmentID)
	if err != nil || appt.PatientID != w.patient.ID || !appt.Start.Equal(proposed.Start) || appt.State != store.AppointmentBooked || appt.TypeID != w.typeA.ID {
		t.Fatalf("appointment: %v %+v", err, appt)
	}
	if n := ts.rows(t, "appointments"); n != 1 {
		t.Errorf("%d appointments, want 1", n)
	}
	answers, err := ts.srv.intakeAnswersFor(ctx, appt.ID)
	if err != nil || len(answers) != 1 || answers[0].Show("en") != "Penicillin" {
		t.Errorf("answers: %v %+v", err, answers)
	}
	if m := ts.lastMail(t, w.patient.Email); m.Template != "appointment_confirmed" {
		t.Errorf("last mail to the patient: %q", m.Template)
	}
	res = ts.get(t, w.cPatient, "/requests/"+id)
	if !strings.Contains(res.Body, `href="/appointments/`+appt.ID+`"`) {
		t.Error("the booked request does not link its appointment")
	}
	// Closed: staff can no longer propose or decline.
	if res = ts.post(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/decline", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("decline a booked request: %d", res.StatusCode)
	}
}

func TestAssistedSlotTakenMeanwhile(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	ctx := context.Background()
	id := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"Any morning"}})
	starts := w.freeStarts(t, w.typeA, 4, 6)
	slot := starts[0]
	// No type in the request: the page offers the first; staff propose it.
	res := ts.post(t, w.cProA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {slot.ID}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("propose: %d %s", res.StatusCode, mainOf(res.Body))
	}
	// Someone else books that time first.
	if _, err := ts.srv.book(ctx, bookRequest{SlotID: slot.ID, TypeID: w.typeA.ID, Patient: w.patient2.User, ActorID: w.patient2.ID}); err != nil {
		t.Fatal(err)
	}
	before := ts.rows(t, "outbox", "to_addr = ?", w.proA.Email)
	res = ts.post(t, w.cPatient, "/requests/"+id+"/confirm", url.Values{})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm a taken time: %d %s", res.StatusCode, mainOf(res.Body))
	}
	r := w.request(t, id)
	if r.State != store.RequestOpen || r.ProposedSlot != "" || r.AppointmentID != "" {
		t.Fatalf("after a taken time: %+v", r)
	}
	if n := ts.rows(t, "appointments", "patient_id = ?", w.patient.ID); n != 0 {
		t.Fatalf("the patient got %d appointments", n)
	}
	if ts.rows(t, "outbox", "to_addr = ?", w.proA.Email) != before+1 {
		t.Error("the practice was not told the request is open again")
	}
	res = ts.get(t, w.cPatient, "/requests/"+id)
	if !pageHas(res.Body, ts.text(t, "en", "flash.request_slot_taken")) || !pageHas(res.Body, ts.text(t, "en", "request.waiting")) {
		t.Error("the patient is not told the time was taken")
	}
	// The practice proposes another; this one works.
	res = ts.post(t, w.cProA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {slot.ID}})
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", "error.request_slot_gone")) {
		t.Errorf("proposing the taken time again: %d", res.StatusCode)
	}
	res = ts.post(t, w.cProA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {starts[2].ID}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second proposal: %d", res.StatusCode)
	}
	if res = ts.post(t, w.cPatient, "/requests/"+id+"/confirm", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second confirm: %d", res.StatusCode)
	}
	if r := w.request(t, id); r.State != store.RequestBooked {
		t.Errorf("state %s, want booked", r.State)
	}
}

func TestAssistedOtherPatient(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	id := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"Friday (private)"}})
	starts := w.freeStarts(t, w.typeA, 3, 4)
	if res := ts.post(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {starts[0].ID}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("propose: %d", res.StatusCode)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/requests/" + id}, {"POST", "/requests/" + id + "/confirm"}, {"POST", "/requests/" + id + "/decline"}} {
		var res response
		if c.method == "GET" {
			res = ts.get(t, w.cPatient2, c.path)
		} else {
			res = ts.post(t, w.cPatient2, c.path, url.Values{})
		}
		if res.StatusCode != http.StatusNotFound || strings.Contains(res.Body, "Friday") {
			t.Errorf("%s %s as another patient: %d", c.method, c.path, res.StatusCode)
		}
	}
	if r := w.request(t, id); r.State != store.RequestProposed {
		t.Fatalf("another patient changed the request: %s", r.State)
	}
	if n := ts.rows(t, "audit", "action = 'request.denied' AND actor_id = ? AND object_id = ?", w.patient2.ID, id); n != 3 {
		t.Errorf("%d denied attempts audited, want 3", n)
	}
	if n := ts.rows(t, "appointments"); n != 0 {
		t.Errorf("%d appointments", n)
	}
	// Unknown request: 404 too.
	if res := ts.get(t, w.cPatient, "/requests/nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown request: %d", res.StatusCode)
	}
}

func TestAssistedDeclines(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	starts := w.freeStarts(t, w.typeA, 3, 4)
	// The patient withdraws an open request.
	a := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"A"}})
	if res := ts.post(t, w.cPatient, "/requests/"+a+"/decline", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", res.StatusCode)
	}
	if r := w.request(t, a); r.State != store.RequestCancelled {
		t.Errorf("withdrawn: %s", r.State)
	}
	// The patient declines a proposed time.
	b := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"B"}})
	ts.post(t, w.cSecA, "/pro/p/"+w.pA.ID+"/requests/"+b+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {starts[0].ID}})
	if res := ts.post(t, w.cPatient, "/requests/"+b+"/decline", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d", res.StatusCode)
	}
	if r := w.request(t, b); r.State != store.RequestDeclined {
		t.Errorf("declined: %s", r.State)
	}
	if res := ts.post(t, w.cPatient, "/requests/"+b+"/confirm", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("confirming a declined request: %d", res.StatusCode)
	}
	// The practice declines one; the patient is e-mailed.
	c := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"C"}})
	if res := ts.post(t, w.cProA, "/pro/p/"+w.pA.ID+"/requests/"+c+"/decline", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("staff decline: %d", res.StatusCode)
	}
	if r := w.request(t, c); r.State != store.RequestDeclined {
		t.Errorf("declined by the practice: %s", r.State)
	}
	if m := ts.lastMail(t, w.patient.Email); m.Template != "request_declined" {
		t.Errorf("mail: %s", m.Template)
	}
	// At most requestMaxOpen waiting requests per practice.
	for i := 0; i < requestMaxOpen; i++ {
		w.sendRequest(t, w.cPatient2, url.Values{"preferences": {"again"}})
	}
	res := ts.post(t, w.cPatient2, "/p/"+w.pA.ID+"/request", url.Values{"preferences": {"one more"}})
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, ts.text(t, "en", "error.request_too_many", "Count", requestMaxOpen)) {
		t.Errorf("too many: %d", res.StatusCode)
	}
	// A banned patient cannot ask.
	ctx := context.Background()
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.Ban(ctx, w.pA.ID, w.patient.ID, "", "") }); err != nil {
		t.Fatal(err)
	}
	if res := ts.post(t, w.cPatient, "/p/"+w.pA.ID+"/request", url.Values{"preferences": {"banned"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("banned patient: %d", res.StatusCode)
	}
	// The list of one's requests, newest first.
	res = ts.get(t, w.cPatient, "/requests")
	if ic, ia := strings.Index(res.Body, c), strings.Index(res.Body, a); res.StatusCode != 200 || ic < 0 || ia < 0 || ic > ia {
		t.Errorf("my requests: %d", res.StatusCode)
	}
}
