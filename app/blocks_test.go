package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// blocksEnv is planningFixture with its planning generated (Paris, weekdays
// 09:00–12:00 and 14:00–17:00 at 15 minutes, 14-day horizon), a patient,
// and a secretary of the practice signed in.
type blocksEnv struct {
	ts           *testServer
	p            *store.Practice
	pro          *testUser
	sec, patient *testUser
	secC         *http.Client
	loc          *time.Location
	today        schedule.Day
}

func newBlocksEnv(t *testing.T) *blocksEnv {
	t.Helper()
	ts, p, pro := planningFixture(t)
	if err := ts.srv.generateInitial(context.Background(), p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	e := &blocksEnv{ts: ts, p: mustPractice(t, ts, p.ID), pro: pro, loc: ts.srv.location(p.TimeZone)}
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "") // the first-run setup is done
	e.sec = ts.addUser(t, "sec@example.org", "Sam Secretary", store.RoleSecretary, p.ID)
	e.patient = ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	e.secC = ts.clientLang(t, "en")
	ts.login(t, e.secC, e.sec)
	e.today = ts.srv.today(e.p, ts.srv.clock())
	return e
}

// weekdayFrom returns the first Monday–Friday day at or after d.
func weekdayFrom(d schedule.Day) schedule.Day {
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDays(1)
	}
	return d
}

// states counts the practice's slots per state starting in [from, to).
func (e *blocksEnv) states(t *testing.T, from, to time.Time) map[string]int {
	t.Helper()
	slots, err := e.ts.db.FindSlots(context.Background(), e.p.ID, from, to)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range slots {
		out[s.State]++
	}
	return out
}

// dayStates counts the slots of a local day per state.
func (e *blocksEnv) dayStates(t *testing.T, d schedule.Day) map[string]int {
	return e.states(t, d.Start(e.loc), d.AddDays(1).Start(e.loc))
}

func (e *blocksEnv) blocks(t *testing.T) []*store.Block {
	t.Helper()
	list, err := e.ts.db.FindBlocks(context.Background(), e.p.ID, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (e *blocksEnv) absences() string { return "/pro/p/" + e.p.ID + "/absences" }

// at is the instant of a local wall time on d.
func (e *blocksEnv) at(d schedule.Day, hh, mm int) time.Time {
	return time.Date(d.Y, d.M, d.D, hh, mm, 0, 0, e.loc)
}

func TestBlocksOverBookedAppointment(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	ctx := context.Background()
	appt := bookFirstFree(t, ts, e.p, e.patient, 2)
	day := schedule.DayOf(appt.Start.In(e.loc))

	res := ts.post(t, e.secC, e.absences(), url.Values{"mode": {"day"}, "day_date": {day.String()}, "reason": {"Conference"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("block: status %d: %s", res.StatusCode, res.Body)
	}
	for _, want := range []string{ts.text(t, "en", "blocks.result_blocked", "Count", 22), "Pat Patient", "Consultation",
		ts.text(t, "en", "blocks.conflicts_help"), appt.Start.In(e.loc).Format("15:04")} {
		if !pageHas(res.Body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	if got := e.dayStates(t, day); got[store.SlotBlocked] != 22 || got[store.SlotBooked] != 2 || got[store.SlotFree] != 0 {
		t.Fatalf("after the block, the day has %v; want 22 blocked, 2 booked", got)
	}
	blocks := e.blocks(t)
	if len(blocks) != 1 || blocks[0].Kind != "absence" || blocks[0].Reason != "Conference" || blocks[0].CreatedBy != e.sec.ID ||
		!blocks[0].Start.Equal(day.Start(e.loc)) || !blocks[0].End.Equal(day.AddDays(1).Start(e.loc)) {
		t.Fatalf("blocks %+v", blocks)
	}
	b := blocks[0]
	booked, _ := ts.db.FindSlots(ctx, e.p.ID, appt.Start, appt.End)
	for _, s := range booked {
		if s.State != store.SlotBooked || s.AppointmentID != appt.ID || s.BlockID != b.ID {
			t.Fatalf("booked slot %+v: want booked by the appointment, remembering the block", s)
		}
	}
	if a, err := ts.db.FindAppointmentByID(ctx, appt.ID); err != nil || a.State != store.AppointmentBooked {
		t.Fatalf("appointment after the block: %v %+v", err, a)
	}
	if n := ts.rows(t, "audit", "action = ? AND object_id = ? AND actor_id = ?", "block.created", b.ID, e.sec.ID); n != 1 {
		t.Fatalf("%d audit entries for the block", n)
	}

	// The page lists it, with who entered it.
	page := ts.get(t, e.secC, e.absences())
	if page.StatusCode != http.StatusOK || !pageHas(page.Body, "Conference") || !pageHas(page.Body, "Sam Secretary") ||
		!strings.Contains(page.Body, "/absences/"+b.ID+"/delete") {
		t.Fatalf("absences page does not list the block: %d", page.StatusCode)
	}

	// Removing it frees the free slots again and leaves the booking.
	res = ts.post(t, e.secC, e.absences()+"/"+b.ID+"/delete", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != e.absences() {
		t.Fatalf("delete: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := e.dayStates(t, day); got[store.SlotFree] != 22 || got[store.SlotBooked] != 2 || got[store.SlotBlocked] != 0 {
		t.Fatalf("after removing the block, the day has %v; want 22 free, 2 booked", got)
	}
	if a, _ := ts.db.FindAppointmentByID(ctx, appt.ID); a.State != store.AppointmentBooked {
		t.Fatal("removing the block touched the appointment")
	}
	if len(e.blocks(t)) != 0 {
		t.Fatal("block still stored")
	}
	if n := ts.rows(t, "audit", "action = ? AND object_id = ?", "block.deleted", b.ID); n != 1 {
		t.Fatalf("%d audit entries for the deletion", n)
	}
	if page := ts.get(t, e.secC, e.absences()); !pageHas(page.Body, ts.text(t, "en", "flash.block_deleted")) {
		t.Error("no confirmation after the deletion")
	}
	// Sent again: back to the page, saying there was nothing to remove.
	if res := ts.post(t, e.secC, e.absences()+"/"+b.ID+"/delete", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != e.absences() {
		t.Fatalf("second delete: %d", res.StatusCode)
	}
	if page := ts.get(t, e.secC, e.absences()); !pageHas(page.Body, ts.text(t, "en", "flash.block_gone")) {
		t.Error("no notice after the second deletion")
	}
	if n := ts.rows(t, "audit", "action = ?", "block.deleted"); n != 1 {
		t.Fatalf("%d deletion audit entries, want 1", n)
	}
}

func TestBlocksModes(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	d := weekdayFrom(e.today.AddDays(2))
	next := weekdayFrom(d.AddDays(1))
	type slotCheck func(local time.Time) bool
	for _, tc := range []struct {
		name       string
		form       url.Values
		start, end time.Time
		blocked    int
		inside     slotCheck // which of the day's slots must be blocked
		days       []schedule.Day
	}{
		{name: "Range", form: url.Values{"mode": {"range"}, "start_date": {d.String()}, "start_time": {"10:00"}, "end_date": {d.String()}, "end_time": {"11:00"}},
			start: e.at(d, 10, 0), end: e.at(d, 11, 0), blocked: 4, days: []schedule.Day{d},
			inside: func(l time.Time) bool { return l.Hour() == 10 }},
		{name: "RangeOverNight", form: url.Values{"mode": {"range"}, "start_date": {d.String()}, "start_time": {"16:00"}, "end_date": {next.String()}, "end_time": {"10:00"}},
			start: e.at(d, 16, 0), end: e.at(next, 10, 0), blocked: 8, days: []schedule.Day{d, next},
			inside: func(l time.Time) bool {
				return (schedule.DayOf(l) == d && l.Hour() >= 16) || (schedule.DayOf(l) == next && l.Hour() < 10)
			}},
		{name: "Morning", form: url.Values{"mode": {"half"}, "half_date": {d.String()}, "half": {"morning"}},
			start: e.at(d, 0, 0), end: e.at(d, 13, 0), blocked: 12, days: []schedule.Day{d},
			inside: func(l time.Time) bool { return l.Hour() < 13 }},
		{name: "Afternoon", form: url.Values{"mode": {"half"}, "half_date": {d.String()}, "half": {"afternoon"}},
			start: e.at(d, 13, 0), end: d.AddDays(1).Start(e.loc), blocked: 12, days: []schedule.Day{d},
			inside: func(l time.Time) bool { return l.Hour() >= 13 }},
		{name: "Day", form: url.Values{"mode": {"day"}, "day_date": {d.String()}},
			start: d.Start(e.loc), end: d.AddDays(1).Start(e.loc), blocked: 24, days: []schedule.Day{d},
			inside: func(time.Time) bool { return true }},
		{name: "SeveralDays", form: url.Values{"mode": {"days"}, "first_day": {d.String()}, "last_day": {d.AddDays(6).String()}},
			start: d.Start(e.loc), end: d.AddDays(7).Start(e.loc), blocked: workdays(d, 7) * 24, days: []schedule.Day{d, d.AddDays(1), d.AddDays(6)},
			inside: func(time.Time) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.post(t, e.secC, e.absences(), tc.form)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if !pageHas(res.Body, ts.text(t, "en", "blocks.result_blocked", "Count", tc.blocked)) {
				t.Errorf("the result does not say %d slots were blocked", tc.blocked)
			}
			blocks := e.blocks(t)
			if len(blocks) != 1 || !blocks[0].Start.Equal(tc.start) || !blocks[0].End.Equal(tc.end) {
				t.Fatalf("blocks %+v, want one from %v to %v", blocks, tc.start, tc.end)
			}
			for _, day := range tc.days {
				slots, _ := ts.db.FindSlots(context.Background(), e.p.ID, day.Start(e.loc), day.AddDays(1).Start(e.loc))
				for _, s := range slots {
					if want := tc.inside(s.Start.In(e.loc)); (s.State == store.SlotBlocked) != want {
						t.Errorf("slot at %v is %s, want blocked = %v", s.Start.In(e.loc), s.State, want)
					}
				}
			}
			// Clean up for the next case, through the page.
			if res := ts.post(t, e.secC, e.absences()+"/"+blocks[0].ID+"/delete", nil); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("delete: %d", res.StatusCode)
			}
			if n := e.states(t, e.today.Start(e.loc), e.today.AddDays(30).Start(e.loc))[store.SlotBlocked]; n != 0 {
				t.Fatalf("%d slots still blocked after the deletion", n)
			}
		})
	}
}

func TestBlocksBadInput(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	d := weekdayFrom(e.today.AddDays(2))
	rng := func(sd, st, ed, et string) url.Values {
		return url.Values{"mode": {"range"}, "start_date": {sd}, "start_time": {st}, "end_date": {ed}, "end_time": {et}}
	}
	long := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"ToBeforeFrom", rng(d.String(), "11:00", d.String(), "10:00"), "error.block_order"},
		{"SameInstant", rng(d.String(), "10:00", d.String(), "10:00"), "error.block_order"},
		{"LastDayBeforeFirst", url.Values{"mode": {"days"}, "first_day": {d.String()}, "last_day": {d.AddDays(-1).String()}}, "error.block_order"},
		{"Span400Days", url.Values{"mode": {"days"}, "first_day": {d.String()}, "last_day": {d.AddDays(399).String()}}, "error.block_too_long"},
		{"Span400DaysRange", rng(d.String(), "00:00", d.AddDays(400).String(), "00:00"), "error.block_too_long"},
		{"GarbageDate", url.Values{"mode": {"day"}, "day_date": {"tomorrow"}}, "error.block_date"},
		{"ImpossibleDate", url.Values{"mode": {"day"}, "day_date": {"2027-02-30"}}, "error.block_date"},
		{"LooseDate", url.Values{"mode": {"day"}, "day_date": {"2027-7-14"}}, "error.block_date"},
		{"FrenchDate", url.Values{"mode": {"days"}, "first_day": {"14/07/2027"}, "last_day": {"2027-07-15"}}, "error.block_date"},
		{"EmptyDate", url.Values{"mode": {"half"}, "half_date": {""}, "half": {"morning"}}, "error.block_date"},
		{"ShortTime", rng(d.String(), "9:00", d.String(), "10:00"), "error.block_time"},
		{"HourTooBig", rng(d.String(), "09:00", d.String(), "25:00"), "error.block_time"},
		{"TimeWithH", rng(d.String(), "09h00", d.String(), "10:00"), "error.block_time"},
		{"ReasonTooLong", url.Values{"mode": {"day"}, "day_date": {d.String()}, "reason": {long}}, "error.block_reason_long"},
		{"ReasonControl", url.Values{"mode": {"day"}, "day_date": {d.String()}, "reason": {"Bell\x07"}}, "error.block_reason_invalid"},
		{"Past", url.Values{"mode": {"days"}, "first_day": {e.today.AddDays(-5).String()}, "last_day": {e.today.AddDays(-1).String()}}, "error.block_past"},
		{"PastRange", rng(e.today.AddDays(-1).String(), "09:00", e.today.AddDays(-1).String(), "12:00"), "error.block_past"},
		{"UnknownMode", url.Values{"mode": {"week"}, "day_date": {d.String()}}, "error.block_mode"},
		{"UnknownHalf", url.Values{"mode": {"half"}, "half_date": {d.String()}, "half": {"evening"}}, "error.block_half"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.post(t, e.secC, e.absences(), tc.form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.StatusCode)
			}
			if !pageHas(res.Body, ts.text(t, "en", tc.msg)) {
				t.Errorf("the page does not say %q", ts.text(t, "en", tc.msg))
			}
		})
	}

	tok := ts.token(t, e.sec)
	api := "/api/v1/practices/" + e.p.ID + "/blocks"
	from := e.at(d, 10, 0).Format(time.RFC3339)
	to := e.at(d, 11, 0).Format(time.RFC3339)
	body := func(v map[string]any) string { b, _ := json.Marshal(v); return string(b) }
	for _, tc := range []struct {
		name   string
		body   string
		status int
		field  string
		msg    string
	}{
		{"NotJSON", "{", 400, "", "error.block_bad_json"},
		{"Form", "from=a&to=b", 400, "", "error.block_bad_json"},
		{"Array", "[]", 400, "", "error.block_bad_json"},
		{"NumberFrom", `{"from":1,"to":"x"}`, 400, "", "error.block_bad_json"},
		{"TwoObjects", body(map[string]any{"from": from, "to": to}) + "{}", 400, "", "error.block_bad_json"},
		{"NoFrom", body(map[string]any{"to": to}), 422, "from", "error.block_instant"},
		{"NoOffset", body(map[string]any{"from": "2027-07-14T08:00:00", "to": to}), 422, "from", "error.block_instant"},
		{"DateOnly", body(map[string]any{"from": from, "to": d.String()}), 422, "to", "error.block_instant"},
		{"ToBeforeFrom", body(map[string]any{"from": to, "to": from}), 422, "to", "error.block_order"},
		{"Span400Days", body(map[string]any{"from": from, "to": e.at(d.AddDays(400), 10, 0).Format(time.RFC3339)}), 422, "to", "error.block_too_long"},
		{"Past", body(map[string]any{"from": e.at(e.today.AddDays(-3), 9, 0).Format(time.RFC3339), "to": e.at(e.today.AddDays(-2), 9, 0).Format(time.RFC3339)}), 422, "to", "error.block_past"},
		{"ReasonTooLong", body(map[string]any{"from": from, "to": to, "reason": long}), 422, "reason", "error.block_reason_long"},
		{"UnknownKind", body(map[string]any{"from": from, "to": to, "kind": "vacation"}), 422, "kind", "error.block_kind"},
	} {
		t.Run("API"+tc.name, func(t *testing.T) {
			res := ts.api(t, "POST", api, tok, strings.NewReader(tc.body))
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			var got struct {
				Error struct{ Code, Message, Field string }
			}
			if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Error.Field != tc.field || got.Error.Message != ts.text(t, "en", tc.msg) {
				t.Errorf("error %+v, want field %q and %q", got.Error, tc.field, ts.text(t, "en", tc.msg))
			}
		})
	}
	if n := ts.rows(t, "blocks"); n != 0 {
		t.Fatalf("%d blocks written by refused requests", n)
	}
	if n := ts.rows(t, "audit", "action LIKE 'block.%'"); n != 0 {
		t.Fatalf("%d audit entries written by refused requests", n)
	}
	if n := ts.rows(t, "slots", "practice_id = ? AND state = 'blocked'", e.p.ID); n != 0 {
		t.Fatalf("%d slots blocked by refused requests", n)
	}
}

func TestBlocksAPI(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	appt := bookFirstFree(t, ts, e.p, e.patient, 2)
	day := schedule.DayOf(appt.Start.In(e.loc))
	tok := ts.token(t, e.pro)
	api := "/api/v1/practices/" + e.p.ID + "/blocks"
	from, to := day.Start(e.loc).In(e.loc).Format(time.RFC3339), day.AddDays(1).Start(e.loc).In(e.loc).Format(time.RFC3339)

	res := ts.api(t, "POST", api, tok, strings.NewReader(`{"from":"`+from+`","to":"`+to+`","reason":"Training"}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	var created struct {
		Block struct {
			ID, From, To, Kind, Reason string
		}
		Blocked   int
		Conflicts []struct {
			ID, Start, End string
			PatientID      string `json:"patient_id"`
			TypeID         string `json:"type_id"`
		}
	}
	if err := json.Unmarshal([]byte(res.Body), &created); err != nil {
		t.Fatal(err)
	}
	b := created.Block
	if b.ID == "" || b.From != from || b.To != to || b.Kind != "absence" || b.Reason != "Training" || created.Blocked != 22 {
		t.Fatalf("created %+v (want from %s to %s)", created, from, to)
	}
	if len(created.Conflicts) != 1 {
		t.Fatalf("conflicts %+v, want the booked appointment", created.Conflicts)
	}
	c := created.Conflicts[0]
	if c.ID != appt.ID || c.PatientID != e.patient.ID || c.TypeID != appt.TypeID || c.Start != appt.Start.In(e.loc).Format(time.RFC3339) ||
		c.End != appt.End.In(e.loc).Format(time.RFC3339) {
		t.Fatalf("conflict %+v", c)
	}
	if !strings.Contains(res.Body, `"conflicts":[`) {
		t.Fatal("conflicts is not a list")
	}
	// A block with nothing inside answers an empty list, not null.
	later := weekdayFrom(day.AddDays(1))
	res = ts.api(t, "POST", api, tok, strings.NewReader(`{"from":"`+e.at(later, 10, 0).Format(time.RFC3339)+`","to":"`+e.at(later, 11, 0).Format(time.RFC3339)+`","kind":"other"}`))
	if res.StatusCode != http.StatusCreated || !strings.Contains(res.Body, `"conflicts":[]`) || !strings.Contains(res.Body, `"blocked":4`) || !strings.Contains(res.Body, `"kind":"other"`) {
		t.Fatalf("second block: %d %s", res.StatusCode, res.Body)
	}

	res = ts.api(t, "GET", api, tok, nil)
	var list []struct{ ID, From, To, Kind, Reason string }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(res.Body), &list) != nil || len(list) != 2 || list[0].ID != b.ID {
		t.Fatalf("list: %d %s", res.StatusCode, res.Body)
	}

	// Practice B and its block: A's staff never reach them.
	proB := ts.addUser(t, "pro-b@example.org", "Bruno Practice", store.RolePractitioner, "")
	tokB := ts.token(t, proB)
	apiB := "/api/v1/practices/" + proB.PracticeID + "/blocks"
	res = ts.api(t, "POST", apiB, tokB, strings.NewReader(`{"from":"`+from+`","to":"`+to+`"}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("B's block: %d %s", res.StatusCode, res.Body)
	}
	var bb struct{ Block struct{ ID string } }
	json.Unmarshal([]byte(res.Body), &bb)
	for _, path := range []string{api + "/" + bb.Block.ID, apiB + "/" + bb.Block.ID} {
		if res := ts.api(t, "DELETE", path, tok, nil); res.StatusCode != http.StatusNotFound || !strings.Contains(res.Body, `"code":"not_found"`) {
			t.Fatalf("DELETE %s as A: %d %s", path, res.StatusCode, res.Body)
		}
	}
	if res := ts.api(t, "GET", apiB, tok, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET B's blocks as A: %d", res.StatusCode)
	}
	if n := ts.rows(t, "blocks", "id = ?", bb.Block.ID); n != 1 {
		t.Fatal("B's block went")
	}

	// Deleting A's block: 204, its free slots free again, the booking kept.
	if res := ts.api(t, "DELETE", api+"/"+b.ID, tok, nil); res.StatusCode != http.StatusNoContent || res.Body != "" {
		t.Fatalf("delete: %d %q", res.StatusCode, res.Body)
	}
	if got := e.dayStates(t, day); got[store.SlotFree] != 22 || got[store.SlotBooked] != 2 {
		t.Fatalf("after delete %v", got)
	}
	if res := ts.api(t, "DELETE", api+"/"+b.ID, tok, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("second delete: %d", res.StatusCode)
	}
}

func TestBlocksSecretaryScope(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	proB := ts.addUser(t, "pro-b@example.org", "Bruno Practice", store.RolePractitioner, "")
	d := weekdayFrom(e.today.AddDays(2))
	form := url.Values{"mode": {"day"}, "day_date": {d.String()}}
	// Practice B: every route answers 404 to A's secretary and writes nothing.
	b := "/pro/p/" + proB.PracticeID
	if res := ts.get(t, e.secC, b+"/absences"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET B's absences: %d", res.StatusCode)
	}
	if res := ts.post(t, e.secC, b+"/absences", form); res.StatusCode != http.StatusNotFound {
		t.Fatalf("POST B's absences: %d", res.StatusCode)
	}
	if res := ts.post(t, e.secC, b+"/holidays", url.Values{"days": {"2027-07-14"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("POST B's holidays: %d", res.StatusCode)
	}
	if res := ts.post(t, e.secC, b+"/absences/nope/delete", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("POST B's delete: %d", res.StatusCode)
	}
	tok := ts.token(t, e.sec)
	if res := ts.api(t, "POST", "/api/v1/practices/"+proB.PracticeID+"/blocks", tok, strings.NewReader(`{"from":"`+
		d.Start(e.loc).Format(time.RFC3339)+`","to":"`+d.AddDays(1).Start(e.loc).Format(time.RFC3339)+`"}`)); res.StatusCode != http.StatusNotFound {
		t.Fatalf("API POST B's blocks: %d", res.StatusCode)
	}
	if res := ts.api(t, "GET", "/api/v1/practices/"+proB.PracticeID+"/holidays?year=2027", tok, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("API GET B's holidays: %d", res.StatusCode)
	}
	if n := ts.rows(t, "blocks"); n != 0 {
		t.Fatalf("%d blocks written", n)
	}
	// Practice A: she blocks.
	if res := ts.post(t, e.secC, e.absences(), form); res.StatusCode != http.StatusOK {
		t.Fatalf("POST A's absences: %d", res.StatusCode)
	}
	if n := ts.rows(t, "blocks", "practice_id = ?", e.p.ID); n != 1 {
		t.Fatalf("%d blocks in A", n)
	}
}

// Slots generated later inside an existing block come blocked.
func TestBlocksRollBlocksNewDays(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	ctx := context.Background()
	target := weekdayFrom(e.today.AddDays(20))
	res := ts.post(t, e.secC, e.absences(), url.Values{"mode": {"day"}, "day_date": {target.String()}, "reason": {"Holiday"}})
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, ts.text(t, "en", "blocks.result_blocked", "Count", 0)) {
		t.Fatalf("block beyond the horizon: %d", res.StatusCode)
	}
	if got := e.dayStates(t, target); len(got) != 0 {
		t.Fatalf("the day has slots before the roll: %v", got)
	}
	// Nights pass until the day enters the 14-day horizon.
	ts.clock.Advance(time.Duration(target.Sub(e.today)-13) * 24 * time.Hour)
	if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	if got := e.dayStates(t, target); got[store.SlotBlocked] != 24 || got[store.SlotFree] != 0 {
		t.Fatalf("the rolled day has %v, want 24 blocked", got)
	}
	// The days the roll added before it are free.
	for d := e.today.AddDays(14); d.Before(target); d = d.AddDays(1) {
		if got := e.dayStates(t, d); got[store.SlotBlocked] != 0 {
			t.Fatalf("%s has %v, want no blocked slot", d, got)
		}
	}
}

// Removing one of two overlapping blocks keeps the other's slots blocked.
func TestBlocksDeleteKeepsOverlappingBlock(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	d := weekdayFrom(e.today.AddDays(2))
	tok := ts.token(t, e.sec)
	api := "/api/v1/practices/" + e.p.ID + "/blocks"
	create := func(from, to time.Time) string {
		res := ts.api(t, "POST", api, tok, strings.NewReader(`{"from":"`+from.Format(time.RFC3339)+`","to":"`+to.Format(time.RFC3339)+`"}`))
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", res.StatusCode, res.Body)
		}
		var out struct{ Block struct{ ID string } }
		json.Unmarshal([]byte(res.Body), &out)
		return out.Block.ID
	}
	small := create(e.at(d, 10, 0), e.at(d, 11, 0))
	whole := create(d.Start(e.loc), d.AddDays(1).Start(e.loc))
	if got := e.dayStates(t, d); got[store.SlotBlocked] != 24 {
		t.Fatalf("%v", got)
	}
	if res := ts.api(t, "DELETE", api+"/"+small, tok, nil); res.StatusCode != http.StatusNoContent {
		t.Fatal(res.StatusCode)
	}
	if got := e.dayStates(t, d); got[store.SlotBlocked] != 24 {
		t.Fatalf("after removing the small block: %v, want the whole day still blocked", got)
	}
	small = create(e.at(d, 10, 0), e.at(d, 11, 0))
	if res := ts.api(t, "DELETE", api+"/"+whole, tok, nil); res.StatusCode != http.StatusNoContent {
		t.Fatal(res.StatusCode)
	}
	if got := e.dayStates(t, d); got[store.SlotBlocked] != 4 || got[store.SlotFree] != 20 {
		t.Fatalf("after removing the whole day: %v, want 10:00–11:00 still blocked", got)
	}
	if res := ts.api(t, "DELETE", api+"/"+small, tok, nil); res.StatusCode != http.StatusNoContent {
		t.Fatal(res.StatusCode)
	}
	if got := e.dayStates(t, d); got[store.SlotFree] != 24 {
		t.Fatalf("after removing both: %v", got)
	}
}

func TestBlockWallTimeDST(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	spring, _ := schedule.ParseDay("2027-03-28")
	autumn, _ := schedule.ParseDay("2027-10-31")
	for _, tc := range []struct {
		name    string
		day     schedule.Day
		minutes int
		want    string
	}{
		{"Ordinary", spring, 60, "2027-03-28T01:00:00+01:00"},
		{"GapMovesToFirstMinuteAfter", spring, 2*60 + 30, "2027-03-28T03:00:00+02:00"},
		{"GapStart", spring, 2 * 60, "2027-03-28T03:00:00+02:00"},
		{"AfterGap", spring, 3*60 + 15, "2027-03-28T03:15:00+02:00"},
		{"Midnight24", spring, 24 * 60, "2027-03-29T00:00:00+02:00"},
		{"RepeatedTakesFirst", autumn, 2*60 + 30, "2027-10-31T02:30:00+02:00"},
		{"Afternoon", autumn, blockMiddayMinutes, "2027-10-31T13:00:00+01:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := blockWallTime(tc.day, tc.minutes, paris).In(paris).Format(time.RFC3339); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// A range whose start falls in the DST gap starts at the first minute after
// it, through the page.
func TestBlocksPageDSTGap(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	gap := e.today
	for i := 0; i < 400; i++ {
		if _, ok := schedule.Local(gap, 2*60+30, e.loc); !ok {
			break
		}
		gap = gap.AddDays(1)
	}
	res := e.ts.post(t, e.secC, e.absences(), url.Values{"mode": {"range"}, "start_date": {gap.String()}, "start_time": {"02:30"},
		"end_date": {gap.String()}, "end_time": {"04:00"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	blocks := e.blocks(t)
	if len(blocks) != 1 || blocks[0].Start.In(e.loc).Format("15:04") != "03:00" || blocks[0].End.Sub(blocks[0].Start) != time.Hour {
		t.Fatalf("blocks %+v, want 03:00–04:00 local on %s", blocks, gap)
	}
}

func TestBlocksCovered(t *testing.T) {
	t.Parallel()
	at := func(h int) time.Time { return time.Date(2027, 1, 1, h, 0, 0, 0, time.UTC) }
	b := func(from, to int) *store.Block { return &store.Block{Start: at(from), End: at(to)} }
	for _, tc := range []struct {
		name   string
		blocks []*store.Block
		want   bool
	}{
		{"None", nil, false},
		{"Exact", []*store.Block{b(0, 24)}, true},
		{"Wider", []*store.Block{b(-5, 30)}, true},
		{"TwoTouching", []*store.Block{b(0, 12), b(12, 24)}, true},
		{"TwoOverlapping", []*store.Block{b(-1, 13), b(10, 25)}, true},
		{"Gap", []*store.Block{b(0, 11), b(12, 24)}, false},
		{"Partial", []*store.Block{b(0, 13)}, false},
		{"BeforeThenCovering", []*store.Block{b(-10, -5), b(0, 24)}, true},
	} {
		if got := blocksCover(tc.blocks, at(0), at(24)); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
