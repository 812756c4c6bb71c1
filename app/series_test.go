package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// seriesEnv is a verified practice in Paris receiving Monday to Friday
// 09:00–12:00 and 14:00–17:00 at 15 minutes, with a 30-minute type, its
// planning generated over horizon days, its secretary (signed in, with an
// API token) and three patients.
type seriesEnv struct {
	ts                          *testServer
	p                           *store.Practice
	pro, sec                    *testUser
	patient, patient2, patient3 *testUser
	typ                         *store.AppointmentType
	secC                        *http.Client
	secTok                      string
	loc                         *time.Location
	today                       schedule.Day
}

func newSeriesEnv(t testing.TB, horizon int) *seriesEnv {
	t.Helper()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, pro.PracticeID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.HorizonDays, st.MinNoticeMinutes = horizon, 0
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
	typ := &store.AppointmentType{PracticeID: p.ID, Name: "Physiotherapy", Minutes: 30, Currency: "EUR", NewPatients: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, typ) }); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	e := &seriesEnv{ts: ts, p: mustPractice(t, ts, p.ID), pro: pro, typ: typ, loc: ts.srv.location(p.TimeZone)}
	e.sec = ts.addUser(t, "sec@example.org", "Sam Secretary", store.RoleSecretary, p.ID)
	e.patient = ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	e.patient2 = ts.addUser(t, "pat2@example.org", "Quinn Second", store.RolePatient, "")
	e.patient3 = ts.addUser(t, "pat3@example.org", "Rae Third", store.RolePatient, "")
	e.secC = ts.clientLang(t, "en")
	ts.login(t, e.secC, e.sec)
	e.secTok = ts.token(t, e.sec)
	e.today = ts.srv.today(e.p, ts.srv.clock())
	return e
}

// at is the instant of a local day and clock time of the practice.
func (e *seriesEnv) at(t testing.TB, d schedule.Day, clock string) time.Time {
	t.Helper()
	m, err := schedule.ParseClock(clock, false)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := schedule.Local(d, m, e.loc)
	if !ok {
		t.Fatalf("no %s on %s", clock, d)
	}
	return v
}

// nextMonday is the first Monday at least two days ahead.
func (e *seriesEnv) nextMonday() schedule.Day {
	d := e.today.AddDays(2)
	for d.Weekday() != time.Monday {
		d = d.AddDays(1)
	}
	return d
}

// slotAt returns the slot of the practice starting at t.
func (e *seriesEnv) slotAt(t testing.TB, at time.Time) store.Slot {
	t.Helper()
	list, err := e.ts.db.FindSlots(context.Background(), e.p.ID, at, at.Add(time.Second))
	if err != nil || len(list) == 0 {
		t.Fatalf("no slot at %s: %v", at, err)
	}
	return list[0]
}

// book books the practice's type for u at t through the normal claim.
func (e *seriesEnv) book(t testing.TB, u *testUser, at time.Time) *store.Appointment {
	t.Helper()
	a, err := e.ts.srv.book(context.Background(), bookRequest{SlotID: e.slotAt(t, at).ID, TypeID: e.typ.ID, Patient: u.User, ActorID: u.ID})
	if err != nil {
		t.Fatalf("book %s: %v", at, err)
	}
	return a
}

type seriesAnswer struct {
	SeriesID     string           `json:"series_id"`
	Appointments []apiAppointment `json:"appointments"`
	Conflicts    []struct {
		Index       int               `json:"index"`
		Start       string            `json:"start"`
		Reason      string            `json:"reason"`
		Message     string            `json:"message"`
		Alternative map[string]string `json:"alternative"`
	} `json:"conflicts"`
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field"`
		Conflicts []struct {
			Index       int               `json:"index"`
			Reason      string            `json:"reason"`
			Alternative map[string]string `json:"alternative"`
		} `json:"conflicts"`
	} `json:"error"`
}

func (e *seriesEnv) postSeries(t testing.TB, token, practiceID string, body map[string]any) (response, seriesAnswer) {
	t.Helper()
	b, _ := json.Marshal(body)
	res := e.ts.api(t, "POST", "/api/v1/practices/"+practiceID+"/series", token, strings.NewReader(string(b)))
	var out seriesAnswer
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(res.Body), &out); err != nil {
			t.Fatalf("%s: %v", res.Body, err)
		}
	}
	return res, out
}

func (e *seriesEnv) seriesBody(first time.Time, interval, count int, mode string) map[string]any {
	return map[string]any{"patient_email": e.patient.Email, "type_id": e.typ.ID, "first_start": first.Format(time.RFC3339),
		"interval_weeks": interval, "count": count, "mode": mode}
}

func TestSeriesAllOrNothing(t *testing.T) {
	e := newSeriesEnv(t, 120)
	ctx := context.Background()
	mon := e.nextMonday()

	t.Run("OK", func(t *testing.T) {
		first := e.at(t, mon, "09:00")
		res, out := e.postSeries(t, e.secTok, e.p.ID, e.seriesBody(first, 1, 10, "all"))
		if res.StatusCode != http.StatusCreated || len(out.Appointments) != 10 || len(out.Conflicts) != 0 || out.SeriesID == "" {
			t.Fatalf("series: %d %s", res.StatusCode, res.Body)
		}
		for k, a := range out.Appointments {
			want := e.at(t, mon.AddDays(7*k), "09:00")
			if a.Start != want.In(e.loc).Format(time.RFC3339) || a.PatientID != e.patient.ID || a.Source != "staff" {
				t.Fatalf("occurrence %d: %+v, want start %s", k, a, want.In(e.loc).Format(time.RFC3339))
			}
			if sid, err := e.ts.db.AppointmentSeries(ctx, a.ID); err != nil || sid != out.SeriesID {
				t.Fatalf("occurrence %d not tagged with its series: %q %v", k, sid, err)
			}
			// Both 15-minute slots of the 30-minute visit are claimed.
			if st := e.slotAt(t, want.Add(15*time.Minute)).State; st != store.SlotBooked {
				t.Fatalf("second slot of occurrence %d is %s", k, st)
			}
		}
		// One e-mail per occurrence (the patient was not asked to be left alone).
		if n := e.ts.rows(t, "outbox", "to_addr = ?", e.patient.Email); n != 10 {
			t.Fatalf("%d e-mails, want 10", n)
		}
	})

	// patient2 holds the 10:00 of the third week.
	blocker := e.book(t, e.patient2, e.at(t, mon.AddDays(14), "10:00"))
	apptsBefore := e.ts.rows(t, "appointments")

	t.Run("ConflictBooksNothing", func(t *testing.T) {
		res, out := e.postSeries(t, e.secTok, e.p.ID, e.seriesBody(e.at(t, mon, "10:00"), 1, 6, "all"))
		if res.StatusCode != http.StatusConflict || out.Error.Code != ECodeConflict || len(out.Error.Conflicts) != 1 {
			t.Fatalf("conflict: %d %s", res.StatusCode, res.Body)
		}
		c := out.Error.Conflicts[0]
		if c.Index != 3 || c.Reason != "taken" || c.Alternative["id"] == "" {
			t.Fatalf("conflict: %+v", c)
		}
		if n := e.ts.rows(t, "appointments"); n != apptsBefore {
			t.Fatalf("%d appointments after an all-or-nothing conflict, want %d", n, apptsBefore)
		}
		if st := e.slotAt(t, e.at(t, mon, "10:00")).State; st != store.SlotFree {
			t.Fatalf("first occurrence's slot is %s after the rollback", st)
		}
	})

	t.Run("FreeOnes", func(t *testing.T) {
		res, out := e.postSeries(t, e.secTok, e.p.ID, e.seriesBody(e.at(t, mon, "10:00"), 1, 6, "free"))
		if res.StatusCode != http.StatusCreated || len(out.Appointments) != 5 || len(out.Conflicts) != 1 {
			t.Fatalf("free ones: %d %s", res.StatusCode, res.Body)
		}
		c := out.Conflicts[0]
		if c.Index != 3 || c.Reason != "taken" || c.Message == "" || c.Alternative == nil {
			t.Fatalf("conflict: %+v", c)
		}
		// The alternative is really free and near the wanted time.
		alt, err := time.Parse(time.RFC3339, c.Alternative["start"])
		if err != nil {
			t.Fatal(err)
		}
		wanted := e.at(t, mon.AddDays(14), "10:00")
		if d := alt.Sub(wanted); d < -3*24*time.Hour || d > 3*24*time.Hour || alt.Equal(wanted) {
			t.Fatalf("alternative %s for %s", alt, wanted)
		}
		if st := e.slotAt(t, alt).State; st != store.SlotFree {
			t.Fatalf("alternative slot is %s", st)
		}
		// The blocker kept its time.
		if a, _ := e.ts.db.FindAppointmentByID(ctx, blocker.ID); a.State != store.AppointmentBooked {
			t.Fatalf("blocker is %s", a.State)
		}
	})

	t.Run("EveryTwoWeeksQuiet", func(t *testing.T) {
		mails := e.ts.rows(t, "outbox", "to_addr = ?", e.patient3.Email)
		body := e.seriesBody(e.at(t, mon, "14:00"), 2, 4, "all")
		body["patient_email"], body["notify"] = e.patient3.Email, false
		res, out := e.postSeries(t, e.secTok, e.p.ID, body)
		if res.StatusCode != http.StatusCreated || len(out.Appointments) != 4 {
			t.Fatalf("every two weeks: %d %s", res.StatusCode, res.Body)
		}
		for k, a := range out.Appointments {
			if want := e.at(t, mon.AddDays(14*k), "14:00").In(e.loc).Format(time.RFC3339); a.Start != want {
				t.Fatalf("occurrence %d at %s, want %s", k, a.Start, want)
			}
		}
		if n := e.ts.rows(t, "outbox", "to_addr = ?", e.patient3.Email); n != mails {
			t.Fatalf("quiet series sent %d e-mails", n-mails)
		}
	})

	t.Run("BeyondHorizon", func(t *testing.T) {
		// 20 weekly occurrences run past the 120-day horizon from week 17 or so.
		res, out := e.postSeries(t, e.secTok, e.p.ID, e.seriesBody(e.at(t, mon, "15:00"), 1, 20, "free"))
		if res.StatusCode != http.StatusCreated || len(out.Conflicts) == 0 {
			t.Fatalf("beyond: %d %s", res.StatusCode, res.Body)
		}
		for _, c := range out.Conflicts {
			if c.Reason != "beyond" {
				t.Fatalf("conflict %+v, want beyond", c)
			}
		}
	})
}

func TestSeriesBadInput(t *testing.T) {
	e := newSeriesEnv(t, 60)
	mon := e.nextMonday()
	first := e.at(t, mon, "11:00")
	other := e.ts.addUser(t, "pro-b@example.org", "Boris Other", store.RolePractitioner, "")
	otherType := &store.AppointmentType{PracticeID: other.PracticeID, Name: "Other visit", Minutes: 15, Currency: "EUR", NewPatients: true}
	ctx := context.Background()
	if err := e.ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, otherType) }); err != nil {
		t.Fatal(err)
	}
	disabled := e.ts.addUser(t, "gone@example.org", "Gone Patient", store.RolePatient, "")
	off := time.Now()
	if err := e.ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(ctx, disabled.ID, store.UserUpdate{DisabledAt: &off}) }); err != nil {
		t.Fatal(err)
	}
	tele := &store.AppointmentType{PracticeID: e.p.ID, Name: "Video", Minutes: 15, Currency: "EUR", NewPatients: true, Teleconsultation: true}
	if err := e.ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, tele) }); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) map[string]any {
		b := e.seriesBody(first, 1, 4, "all")
		b[k] = v
		return b
	}
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		field  string
		msg    string
	}{
		{"IntervalZero", with("interval_weeks", 0), 422, "interval_weeks", "error.series_interval"},
		{"IntervalHuge", with("interval_weeks", 100), 422, "interval_weeks", "error.series_interval"},
		{"CountZero", with("count", 0), 422, "count", "error.series_count"},
		{"CountThousand", with("count", 1000), 422, "count", "error.series_count"},
		{"FirstInPast", with("first_start", e.ts.srv.clock().Add(-time.Hour).Format(time.RFC3339)), 422, "first_start", "error.series_first_past"},
		{"FirstNotATime", with("first_start", "next monday"), 422, "first_start", "error.series_first"},
		{"FirstBeyondHorizon", with("first_start", e.at(t, e.today.AddDays(80), "09:00").Format(time.RFC3339)), 422, "first_start", "error.slot_beyond"},
		{"UnknownEmail", with("patient_email", "nobody@example.org"), 422, "patient_email", "error.series_patient_unknown"},
		{"DisabledAccount", with("patient_email", disabled.Email), 422, "patient_email", "error.series_patient_unknown"},
		{"TypeOfAnotherPractice", with("type_id", otherType.ID), 422, "type_id", "error.type_unknown"},
		{"BadMode", with("mode", "some"), 422, "mode", "error.series_mode"},
		{"TeleWithoutPhone", with("type_id", tele.ID), 422, "phone", "error.phone"},
		{"LongReason", with("reason", strings.Repeat("x", 501)), 422, "reason", "error.reason_long"},
		{"UnknownField", with("colour", "red"), 400, "", "error.bad_json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, out := e.postSeries(t, e.secTok, e.p.ID, c.body)
			if res.StatusCode != c.status || out.Error.Field != c.field || out.Error.Message != e.ts.text(t, "en", c.msg) {
				t.Fatalf("%d %s, want %d %s %s", res.StatusCode, res.Body, c.status, c.field, c.msg)
			}
		})
	}
	// Practice A's secretary cannot book in practice B (404, nothing said
	// about it), nor can a patient book a series anywhere.
	if res, _ := e.postSeries(t, e.secTok, other.PracticeID, e.seriesBody(first, 1, 2, "all")); res.StatusCode != http.StatusNotFound {
		t.Fatalf("other practice: %d %s", res.StatusCode, res.Body)
	}
	if res, _ := e.postSeries(t, e.ts.token(t, e.patient), e.p.ID, e.seriesBody(first, 1, 2, "all")); res.StatusCode != http.StatusNotFound {
		t.Fatalf("patient: %d %s", res.StatusCode, res.Body)
	}
	if n := e.ts.rows(t, "series"); n != 0 {
		t.Fatalf("%d series written by bad input", n)
	}
	if n := e.ts.rows(t, "appointments"); n != 0 {
		t.Fatalf("%d appointments written by bad input", n)
	}
}

// TestSeriesKeepsWallTimeAcrossDST books a year of weekly visits: every
// one is at 09:00 Paris time, summer and winter.
func TestSeriesKeepsWallTimeAcrossDST(t *testing.T) {
	e := newSeriesEnv(t, 366)
	mon := e.nextMonday()
	res, out := e.postSeries(t, e.secTok, e.p.ID, e.seriesBody(e.at(t, mon, "09:00"), 1, 52, "free"))
	if res.StatusCode != http.StatusCreated || len(out.Appointments)+len(out.Conflicts) != 52 {
		t.Fatalf("52 weeks: %d %s", res.StatusCode, res.Body)
	}
	offsets := map[int]bool{}
	for _, a := range out.Appointments {
		st, err := time.Parse(time.RFC3339, a.Start)
		if err != nil {
			t.Fatal(err)
		}
		l := st.In(e.loc)
		if l.Hour() != 9 || l.Minute() != 0 || l.Weekday() != time.Monday {
			t.Fatalf("occurrence at %s", l)
		}
		_, off := l.Zone()
		offsets[off] = true
	}
	// Only public holidays the planning blocked may be conflicts.
	for _, c := range out.Conflicts {
		if c.Reason != "taken" && c.Reason != "closed" {
			t.Fatalf("conflict %+v", c)
		}
	}
	if len(offsets) != 2 {
		t.Fatalf("a year of Mondays saw UTC offsets %v: the DST change was not crossed", offsets)
	}
}

func TestSeriesPage(t *testing.T) {
	e := newSeriesEnv(t, 60)
	mon := e.nextMonday()
	path := "/pro/p/" + e.p.ID + "/series"
	page := e.ts.get(t, e.secC, path)
	if page.StatusCode != http.StatusOK || !pageHas(page.Body, e.ts.text(t, "en", "series.heading")) || !strings.Contains(page.Body, e.typ.ID) {
		t.Fatalf("page: %d", page.StatusCode)
	}
	form := url.Values{"patient_email": {e.patient.Email}, "type": {e.typ.ID}, "date": {mon.String()}, "time": {"09:30"},
		"interval": {"1"}, "count": {"3"}, "mode": {"all"}, "reason": {"<b>knee</b>"}}
	res := e.ts.post(t, e.secC, path, form)
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, e.ts.text(t, "en", "series.booked", "Count", 3)) {
		t.Fatalf("book: %d %s", res.StatusCode, mainOf(res.Body))
	}
	if strings.Contains(res.Body, "<b>knee</b>") {
		t.Fatal("reason not escaped")
	}
	// The series is listed for the staff.
	if !pageHas(res.Body, e.ts.text(t, "en", "series.counts", "Booked", 3, "Count", 3, "Cancelled", 0)) {
		t.Fatalf("series not listed: %s", mainOf(res.Body))
	}
	// The same again: all three are taken, nothing booked, the conflicts listed.
	res = e.ts.post(t, e.secC, path, form)
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, e.ts.text(t, "en", "series.failed")) ||
		strings.Count(res.Body, e.ts.text(t, "en", "series.why.taken")) != 3 {
		t.Fatalf("conflict page: %d %s", res.StatusCode, mainOf(res.Body))
	}
	// Bad input re-renders the form with the message and keeps what was typed.
	bad := url.Values{"patient_email": {"nobody@example.org"}, "type": {e.typ.ID}, "date": {mon.String()}, "time": {"09:30"},
		"interval": {"0"}, "count": {"3"}, "mode": {"all"}}
	res = e.ts.post(t, e.secC, path, bad)
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, e.ts.text(t, "en", "error.series_interval")) ||
		!strings.Contains(res.Body, "nobody@example.org") {
		t.Fatalf("bad input: %d %s", res.StatusCode, mainOf(res.Body))
	}
	bad.Set("interval", "1")
	res = e.ts.post(t, e.secC, path, bad)
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, e.ts.text(t, "en", "error.series_patient_unknown")) {
		t.Fatalf("unknown patient: %d %s", res.StatusCode, mainOf(res.Body))
	}
	bad.Set("patient_email", e.patient.Email)
	bad.Set("date", e.today.AddDays(-1).String())
	res = e.ts.post(t, e.secC, path, bad)
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, e.ts.text(t, "en", "error.series_first_past")) {
		t.Fatalf("past: %d %s", res.StatusCode, mainOf(res.Body))
	}
	if n := e.ts.rows(t, "series"); n != 1 {
		t.Fatalf("%d series, want 1", n)
	}
}

// BenchmarkSeries52 books a year of weekly visits through the API: one
// write transaction claiming 52 runs of slots, with an e-mail each.
func BenchmarkSeries52(b *testing.B) {
	e := newSeriesEnv(b, 366)
	mon := e.nextMonday()
	clocks := []string{}
	for h := 9; h < 12; h++ {
		for _, m := range []string{"00", "30"} {
			clocks = append(clocks, strconv.Itoa(h)+":"+m)
		}
	}
	for h := 14; h < 17; h++ {
		for _, m := range []string{"00", "30"} {
			clocks = append(clocks, strconv.Itoa(h)+":"+m)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A different weekday and time each round: every series finds its slots free.
		d := mon.AddDays(i / len(clocks) % 5)
		c := clocks[i%len(clocks)]
		if len(c) == 4 {
			c = "0" + c
		}
		if i >= 5*len(clocks) {
			b.Fatalf("only %d distinct weekly times: run with -benchtime=Nx, N ≤ %d", 5*len(clocks), 5*len(clocks))
		}
		res, out := e.postSeries(b, e.secTok, e.p.ID, e.seriesBody(e.at(b, d, c), 1, 52, "free"))
		if res.StatusCode != http.StatusCreated || len(out.Appointments) < 48 {
			b.Fatalf("%d %s", res.StatusCode, res.Body)
		}
	}
}
