package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// hoursServer starts a server past its first-run setup (an admin exists).
func hoursServer(t *testing.T) (*testServer, *testUser) {
	t.Helper()
	ts := newTestServer(t, nil)
	return ts, ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
}

// hoursPro makes a practitioner whose practice has zone, slot length and
// horizon, and returns them with an API token.
func hoursPro(t *testing.T, ts *testServer, email, zone string, slot, horizon int) (*testUser, string) {
	t.Helper()
	pro := ts.addUser(t, email, "Paula Pro", store.RolePractitioner, "")
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, pro.PracticeID)
		if err != nil {
			return err
		}
		if err := tx.UpdatePracticeName(ctx, p.ID, p.Name, zone); err != nil {
			return err
		}
		st := p.Settings
		st.SlotMinutes, st.HorizonDays, st.MinNoticeMinutes = slot, horizon, 0
		return tx.UpdateSettings(ctx, p.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pro, ts.token(t, pro)
}

func jsonBody(v any) *strings.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

func decodeJSON(t *testing.T, res response, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(res.Body), v); err != nil {
		t.Fatalf("decode %q: %v", res.Body, err)
	}
}

// weekdayForm is the hours form with Monday–Friday 09:00–12:00 and 14:00–18:00.
func weekdayForm() url.Values {
	f := url.Values{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		f.Set("h.main."+d+".0.from", "09:00")
		f.Set("h.main."+d+".0.to", "12:00")
		f.Set("h.main."+d+".1.from", "14:00")
		f.Set("h.main."+d+".1.to", "18:00")
	}
	return f
}

func TestHoursPageRoundTrip(t *testing.T) {
	t.Parallel()
	ts, _ := hoursServer(t)
	pro, _ := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	c := ts.client(t)
	ts.login(t, c, pro)
	base := "/pro/p/" + pro.PracticeID
	p := mustPractice(t, ts, pro.PracticeID)
	today := ts.srv.today(p, ts.srv.clock())

	res := ts.get(t, c, base+"/hours")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `name="h.main.sun.1.to"`) ||
		!strings.Contains(res.Body, `name="from" type="date" min="`+today.String()+`" value="`+today.String()+`"`) {
		t.Fatalf("hours page: %d\n%s", res.StatusCode, mainOf(res.Body))
	}
	if !pageHas(res.Body, ts.text(t, "en", "hours.none_yet")) {
		t.Error("a practice without hours is not told so")
	}
	// Before generation, "from" defaults to today; the answer says the
	// hours are saved and points to the planning.
	res = ts.post(t, c, base+"/hours", weekdayForm())
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, ts.text(t, "en", "hours_result.generate_next")) ||
		!strings.Contains(res.Body, `href="`+base+`/planning"`) {
		t.Fatalf("save: %d\n%s", res.StatusCode, mainOf(res.Body))
	}
	rows, err := ts.db.HoursVersions(context.Background(), p.ID)
	if err != nil || len(rows) != 1 || rows[0].ValidFrom != today.String() {
		t.Fatalf("versions %+v %v", rows, err)
	}
	var stored hoursSpec
	if err := json.Unmarshal([]byte(rows[0].Spec), &stored); err != nil {
		t.Fatal(err)
	}
	if got := stored[""]["wed"]; len(got) != 2 || got[0] != [2]string{"09:00", "12:00"} || got[1] != [2]string{"14:00", "18:00"} {
		t.Fatalf("stored Wednesday %v", got)
	}
	if len(stored[""]["sat"]) != 0 {
		t.Fatalf("stored Saturday %v", stored[""]["sat"])
	}
	// The page shows them back, with the version in force.
	res = ts.get(t, c, base+"/hours")
	if !strings.Contains(res.Body, `name="h.main.fri.1.to" value="18:00"`) || !strings.Contains(res.Body, `name="h.main.sat.0.from" value=""`) {
		t.Fatalf("saved hours not shown:\n%s", mainOf(res.Body))
	}
	if !pageHas(res.Body, ts.text(t, "en", "hours.state_current")) || !pageHas(res.Body, "Monday") {
		t.Error("the version in force is not listed")
	}
	// An audit entry records the change.
	if n := ts.rows(t, "audit", "action = ? AND object_id = ?", "planning.hours_changed", p.ID); n != 1 {
		t.Errorf("%d audit entries for the change", n)
	}
}

func TestHoursPageBadInput(t *testing.T) {
	t.Parallel()
	ts, _ := hoursServer(t)
	pro, _ := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	ctx := context.Background()
	clinic := &store.Location{PracticeID: pro.PracticeID, Name: "Clinique du Port", Kind: "clinic"}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SaveLocation(ctx, clinic) }); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	ts.login(t, c, pro)
	p := mustPractice(t, ts, pro.PracticeID)
	yesterday := ts.srv.today(p, ts.srv.clock()).AddDays(-1).String()
	loc := "h." + clinic.ID
	for _, tc := range []struct {
		name string
		form map[string]string
		want string
	}{
		{"NoLeadingZero", map[string]string{"h.main.mon.0.from": "9:00", "h.main.mon.0.to": "12:00"},
			"Monday, morning: 9:00 is not in hh:mm form (write 09:00)."},
		{"HourOutOfRange", map[string]string{"h.main.tue.1.from": "14:00", "h.main.tue.1.to": "25:00"},
			"Tuesday, afternoon: 25:00 is not a time of day"},
		{"EndBeforeStart", map[string]string{"h.main.wed.0.from": "12:00", "h.main.wed.0.to": "09:00"},
			"Wednesday, morning: the end (09:00) must come after the start (12:00)."},
		{"Overlap", map[string]string{"h.main.thu.0.from": "09:00", "h.main.thu.0.to": "13:00", "h.main.thu.1.from": "12:00", "h.main.thu.1.to": "18:00"},
			"Thursday: morning 09:00–13:00 and afternoon 12:00–18:00 overlap."},
		{"Incomplete", map[string]string{"h.main.fri.0.from": "09:00"},
			"Friday, morning: give both the start and the end, or leave both blank."},
		{"NotATime", map[string]string{"h.main.sat.0.from": "nine", "h.main.sat.0.to": "12:00"},
			"Saturday, morning: “nine” is not a time in hh:mm form"},
		{"LocationsOverlap", map[string]string{"h.main.mon.0.from": "09:00", "h.main.mon.0.to": "12:00", loc + ".mon.0.from": "11:00", loc + ".mon.0.to": "13:00"},
			"Monday: the hours at Main office (09:00–12:00) and at Clinique du Port (11:00–13:00) overlap."},
		{"FromInThePast", map[string]string{"h.main.mon.0.from": "09:00", "h.main.mon.0.to": "12:00", "from": yesterday},
			"New hours cannot apply from a day in the past"},
		{"FromNotADate", map[string]string{"h.main.mon.0.from": "09:00", "h.main.mon.0.to": "12:00", "from": "next monday"},
			"must be a date (YYYY-MM-DD)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range tc.form {
				form.Set(k, v)
			}
			res := ts.post(t, c, "/pro/p/"+pro.PracticeID+"/hours", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", res.StatusCode)
			}
			if !pageHas(res.Body, tc.want) {
				t.Errorf("message %q missing:\n%s", tc.want, html2text(mainOf(res.Body)))
			}
			if !pageHas(res.Body, ts.text(t, "en", "error.hours_invalid")) {
				t.Error("no summary of the refusal")
			}
			// What was typed stays in the form.
			for k, v := range tc.form {
				if k != "from" && !strings.Contains(res.Body, `name="`+k+`" value="`+v+`"`) {
					t.Errorf("field %s lost its value %q", k, v)
				}
			}
			if n := ts.rows(t, "practice_hours", "practice_id = ?", pro.PracticeID); n != 0 {
				t.Errorf("%d versions written", n)
			}
		})
	}
	// Several mistakes are reported at once, each beside its day.
	form := url.Values{"h.main.mon.0.from": {"9:00"}, "h.main.mon.0.to": {"12:00"}, "h.main.tue.0.from": {"12:00"}, "h.main.tue.0.to": {"10:00"}}
	res := ts.post(t, c, "/pro/p/"+pro.PracticeID+"/hours", form)
	if !pageHas(res.Body, "Monday, morning: 9:00") || !pageHas(res.Body, "Tuesday, morning: the end (10:00)") {
		t.Errorf("not every mistake is reported:\n%s", html2text(mainOf(res.Body)))
	}
	if !strings.Contains(res.Body, `name="h.main.mon.0.from" value="9:00" inputmode="numeric" autocomplete="off" size="5" placeholder="hh:mm" aria-invalid="true"`) {
		t.Error("the faulty field is not marked")
	}
}

func TestHoursAPIRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	pro, tok := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	ctx := context.Background()
	clinic := &store.Location{PracticeID: pro.PracticeID, Name: "Hôpital Nord", Kind: "hospital"}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SaveLocation(ctx, clinic) }); err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, pro.PracticeID)
	today := ts.srv.today(p, ts.srv.clock())
	path := "/api/v1/practices/" + p.ID + "/hours"

	res := ts.api(t, "GET", path, tok, nil)
	var got struct {
		From      string                            `json:"from"`
		Weekly    map[string][][2]string            `json:"weekly"`
		Locations map[string]map[string][][2]string `json:"locations"`
		Generated bool                              `json:"generated"`
		Versions  []struct {
			From   string                 `json:"from"`
			Weekly map[string][][2]string `json:"weekly"`
		} `json:"versions"`
	}
	decodeJSON(t, res, &got)
	if res.StatusCode != http.StatusOK || got.From != "" || len(got.Versions) != 0 || len(got.Weekly) != 7 {
		t.Fatalf("empty hours: %d %s", res.StatusCode, res.Body)
	}

	body := map[string]any{
		"weekly":    map[string]any{"mon": [][]string{{"14:00", "18:00"}, {"09:00", "12:00"}}, "tue": [][]string{{"09:00", "12:00"}}, "sun": [][]string{}},
		"locations": map[string]any{clinic.ID: map[string]any{"thu": [][]string{{"08:00", "13:00"}}}},
	}
	res = ts.api(t, "PUT", path, tok, jsonBody(body))
	var change struct {
		From      string `json:"from"`
		Removed   int    `json:"removed"`
		Added     int    `json:"added"`
		Generated bool   `json:"generated"`
		Conflicts []any  `json:"conflicts"`
	}
	decodeJSON(t, res, &change)
	if res.StatusCode != http.StatusOK || change.From != today.String() || change.Generated || change.Conflicts == nil || len(change.Conflicts) != 0 {
		t.Fatalf("put: %d %s", res.StatusCode, res.Body)
	}
	// A second version from a later day; GET answers the one in force today
	// and both versions.
	later := today.AddDays(20).String()
	body["from"] = later
	body["weekly"] = map[string]any{"fri": [][]string{{"10:00", "24:00"}}}
	delete(body, "locations")
	if res = ts.api(t, "PUT", path, tok, jsonBody(body)); res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"from":"`+later+`"`) {
		t.Fatalf("put later: %d %s", res.StatusCode, res.Body)
	}
	res = ts.api(t, "GET", path, tok, nil)
	got.Versions = nil
	decodeJSON(t, res, &got)
	if got.From != today.String() || len(got.Weekly["mon"]) != 2 || got.Weekly["mon"][0] != [2]string{"09:00", "12:00"} || len(got.Weekly["sat"]) != 0 {
		t.Fatalf("hours in force: %s", res.Body)
	}
	if th := got.Locations[clinic.ID]["thu"]; len(th) != 1 || th[0] != [2]string{"08:00", "13:00"} {
		t.Fatalf("location hours: %s", res.Body)
	}
	if len(got.Versions) != 2 || got.Versions[1].From != later || got.Versions[1].Weekly["fri"][0] != [2]string{"10:00", "24:00"} {
		t.Fatalf("versions: %s", res.Body)
	}
}

func TestHoursAPIBadInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	pro, tok := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	ctx := context.Background()
	clinic := &store.Location{PracticeID: pro.PracticeID, Name: "Clinique du Port", Kind: "clinic"}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SaveLocation(ctx, clinic) }); err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, pro.PracticeID)
	yesterday := ts.srv.today(p, ts.srv.clock()).AddDays(-1).String()
	path := "/api/v1/practices/" + p.ID + "/hours"
	mon := func(rs ...[]string) string {
		b, _ := json.Marshal(map[string]any{"weekly": map[string]any{"mon": rs}})
		return string(b)
	}
	for _, tc := range []struct {
		name, body  string
		status      int
		field, want string
	}{
		{"NoLeadingZero", mon([]string{"9:00", "12:00"}), 422, "weekly.mon[0].start", "Monday, range 1: 9:00 is not in hh:mm form (write 09:00)."},
		{"HourOutOfRange", mon([]string{"09:00", "12:00"}, []string{"14:00", "25:00"}), 422, "weekly.mon[1].end", "Monday, range 2: 25:00 is not a time of day"},
		{"EndBeforeStart", mon([]string{"12:00", "09:00"}), 422, "weekly.mon[0]", "Monday, range 1: the end (09:00) must come after the start (12:00)."},
		{"Overlap", mon([]string{"09:00", "13:00"}, []string{"12:00", "18:00"}), 422, "weekly.mon", "Monday: range 1 09:00–13:00 and range 2 12:00–18:00 overlap."},
		{"RangeShape", mon([]string{"09:00"}), 422, "weekly.mon[0]", "Monday, range 1: a range is two times"},
		{"UnknownWeekday", `{"weekly":{"monday":[["09:00","12:00"]]}}`, 422, "weekly.monday", "“monday” is not a day of the week"},
		{"UnknownLocation", `{"weekly":{},"locations":{"nowhere":{"mon":[["09:00","12:00"]]}}}`, 422, "locations.nowhere", "“nowhere” is not one of this practice's places."},
		{"LocationsOverlap", `{"weekly":{"mon":[["09:00","12:00"]]},"locations":{"` + clinic.ID + `":{"mon":[["11:00","13:00"]]}}}`, 422,
			"locations." + clinic.ID + ".mon", "Monday: the hours at Main office (09:00–12:00) and at Clinique du Port (11:00–13:00) overlap."},
		{"FromInThePast", `{"weekly":{"mon":[["09:00","12:00"]]},"from":"` + yesterday + `"}`, 422, "from", "cannot apply from a day in the past"},
		{"FromNotADate", `{"weekly":{"mon":[["09:00","12:00"]]},"from":"2026-13-01"}`, 422, "from", "must be a date (YYYY-MM-DD)"},
		{"NoWeekly", `{"from":"2030-01-01"}`, 422, "weekly", "Give the weekly hours"},
		{"NotJSON", `weekly: mon 9-12`, 400, "", "send the hours as JSON"},
		{"WrongTypes", `{"weekly":{"mon":[[9,12]]}}`, 400, "", "send the hours as JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.api(t, "PUT", path, tok, strings.NewReader(tc.body))
			var e struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			decodeJSON(t, res, &e)
			if res.StatusCode != tc.status || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("got %d %s, want %d field %q message %q", res.StatusCode, res.Body, tc.status, tc.field, tc.want)
			}
			if n := ts.rows(t, "practice_hours", "practice_id = ?", p.ID); n != 0 {
				t.Errorf("%d versions written", n)
			}
		})
	}
	// Messages follow the caller's language.
	fr := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		l := "fr"
		return tx.UpdateUser(ctx, fr.ID, store.UserUpdate{Locale: &l})
	}); err != nil {
		t.Fatal(err)
	}
	res := ts.api(t, "PUT", path, ts.token(t, fr), strings.NewReader(mon([]string{"9:00", "12:00"})))
	if !strings.Contains(res.Body, "Lundi, plage 1") {
		t.Errorf("French message: %s", res.Body)
	}
}

// generateAPI asks for the initial generation and, when it answers 202,
// polls its status until it is done. It returns the first status and the
// final state.
func generateAPI(t *testing.T, ts *testServer, tok, practiceID string) (int, map[string]any) {
	t.Helper()
	res := ts.api(t, "POST", "/api/v1/practices/"+practiceID+"/planning/generate", tok, nil)
	var out map[string]any
	decodeJSON(t, res, &out)
	switch res.StatusCode {
	case http.StatusCreated:
	case http.StatusAccepted:
		if res.Header.Get("Location") != out["status_url"] {
			t.Fatalf("202 without a Location: %v", out)
		}
	default:
		t.Fatalf("generate: %d %s", res.StatusCode, res.Body)
	}
	statusURL, _ := out["status_url"].(string)
	if want := "/api/v1/practices/" + practiceID + "/planning/runs/"; !strings.HasPrefix(statusURL, want) {
		t.Fatalf("status_url %q", statusURL)
	}
	// The status URL answers for running and finished runs alike.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := ts.api(t, "GET", statusURL, tok, nil)
		var s map[string]any
		decodeJSON(t, st, &s)
		if st.StatusCode != http.StatusOK {
			t.Fatalf("status: %d %s", st.StatusCode, st.Body)
		}
		switch s["status"] {
		case "done":
			if res.StatusCode == http.StatusCreated && (s["slots"] != out["slots"] || s["planned_until"] != out["planned_until"]) {
				t.Fatalf("status %v differs from the 201 answer %v", s, out)
			}
			return res.StatusCode, s
		case "running":
			if p, _ := s["progress"].(float64); p < 0 || p > 100 {
				t.Fatalf("progress %v", s["progress"])
			}
		default:
			t.Fatalf("generation failed: %v", s)
		}
		if time.Now().After(deadline) {
			t.Fatal("generation still running after a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func putHours(t *testing.T, ts *testServer, tok, practiceID string, body any) {
	t.Helper()
	res := ts.api(t, "PUT", "/api/v1/practices/"+practiceID+"/hours", tok, jsonBody(body))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("put hours: %d %s", res.StatusCode, res.Body)
	}
}

func TestGenerateAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	pro, tok := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	// No hours yet: 422.
	res := ts.api(t, "POST", "/api/v1/practices/"+pro.PracticeID+"/planning/generate", tok, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, ts.text(t, "en", "error.no_hours")) {
		t.Fatalf("without hours: %d %s", res.StatusCode, res.Body)
	}
	week := map[string][][]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week[d] = [][]string{{"09:00", "12:00"}, {"14:00", "17:00"}}
	}
	putHours(t, ts, tok, pro.PracticeID, map[string]any{"weekly": week})
	status, st := generateAPI(t, ts, tok, pro.PracticeID)
	p := mustPractice(t, ts, pro.PracticeID)
	today := ts.srv.today(p, ts.srv.clock())
	if status != http.StatusCreated {
		t.Errorf("a 14-day generation answered %d, want 201", status)
	}
	if want := float64(workdays(today, 14) * 24); st["slots"] != want || st["planned_until"] != today.AddDays(13).String() || st["progress"] != float64(100) {
		t.Fatalf("status %v, want %v slots until %s", st, want, today.AddDays(13))
	}
	counts, _ := ts.db.CountSlots(context.Background(), p.ID)
	if counts[store.SlotFree] != workdays(today, 14)*24 {
		t.Fatalf("slots %v", counts)
	}
	// Once only: 409 with the catalogue's message, nothing changed.
	res = ts.api(t, "POST", "/api/v1/practices/"+p.ID+"/planning/generate", tok, nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(res.Body, `"code":"conflict"`) ||
		!strings.Contains(res.Body, jsonText(ts.text(t, "en", "error.already_generated"))) {
		t.Fatalf("second generation: %d %s", res.StatusCode, res.Body)
	}
	if again, _ := ts.db.CountSlots(context.Background(), p.ID); again[store.SlotFree] != counts[store.SlotFree] {
		t.Fatal("the second request changed the planning")
	}
	// The run is recorded.
	runs, _ := ts.db.FindRuns(context.Background(), p.ID, 0)
	if len(runs) != 1 || runs[0].Kind != "initial" || runs[0].State != "done" || runs[0].Added != counts[store.SlotFree] || runs[0].Days != 14 {
		t.Fatalf("runs %+v", runs)
	}
	// Another practice's run is not found through this practice.
	other, otok := hoursPro(t, ts, "other@example.org", "Europe/Paris", 15, 14)
	res = ts.api(t, "GET", "/api/v1/practices/"+other.PracticeID+"/planning/runs/"+runs[0].ID, otok, nil)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("foreign run: %d", res.StatusCode)
	}
}

// jsonText is s as encoding/json writes it inside a string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

func TestGeneratePage(t *testing.T) {
	t.Parallel()
	ts, _ := hoursServer(t)
	pro, _ := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	c := ts.client(t)
	ts.login(t, c, pro)
	base := "/pro/p/" + pro.PracticeID
	// Without hours the page says so and offers no button; a forced
	// request gets 422.
	res := ts.get(t, c, base+"/planning")
	if res.StatusCode != http.StatusOK || strings.Contains(res.Body, `action="`+base+`/planning/generate"`) ||
		!pageHas(res.Body, ts.text(t, "en", "planning_page.no_hours")) {
		t.Fatalf("planning page without hours: %d\n%s", res.StatusCode, mainOf(res.Body))
	}
	if res = ts.post(t, c, base+"/planning/generate", nil); res.StatusCode != http.StatusUnprocessableEntity ||
		!pageHas(res.Body, ts.text(t, "en", "error.no_hours")) {
		t.Fatalf("generate without hours: %d", res.StatusCode)
	}
	ts.post(t, c, base+"/hours", weekdayForm())
	res = ts.get(t, c, base+"/planning")
	if !strings.Contains(res.Body, `action="`+base+`/planning/generate"`) || !pageHas(res.Body, ts.text(t, "en", "planning_page.explain_once")) ||
		!pageHas(res.Body, ts.text(t, "en", "planning_page.explain_history", "Days", 30)) {
		t.Fatalf("planning page before generation:\n%s", mainOf(res.Body))
	}
	res = ts.post(t, c, base+"/planning/generate", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("generate: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if strings.HasPrefix(loc, base+"/planning/runs/") {
		// A slow machine: the run page refreshes until done.
		for i := 0; i < 600; i++ {
			if res = ts.get(t, c, loc); !strings.Contains(res.Body, `http-equiv="refresh"`) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		loc = base + "/planning"
	}
	if loc != base+"/planning" {
		t.Fatalf("generate redirected to %q", loc)
	}
	res = ts.get(t, c, loc)
	p := mustPractice(t, ts, pro.PracticeID)
	today := ts.srv.today(p, ts.srv.clock())
	if !pageHas(res.Body, ts.text(t, "en", "flash.hours_generated")) || strings.Contains(res.Body, `action="`+base+`/planning/generate"`) ||
		!pageHas(res.Body, ts.text(t, "en", "planning_page.kind_initial")) || !strings.Contains(res.Body, fmt.Sprintf("<dd>%d</dd>", workdays(today, 14)*28)) {
		t.Fatalf("planning page after generation:\n%s", html2text(mainOf(res.Body)))
	}
	// The second request is refused with the catalogue's message.
	res = ts.post(t, c, base+"/planning/generate", nil)
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, ts.text(t, "en", "error.already_generated")) {
		t.Fatalf("second generation: %d", res.StatusCode)
	}
	// After generation, new hours default to tomorrow.
	res = ts.get(t, c, base+"/hours")
	if !strings.Contains(res.Body, `value="`+today.AddDays(1).String()+`"`) {
		t.Error("after generation, the hours do not default to tomorrow")
	}
}

// TestGenerateLong generates a whole year of 5-minute slots, round the
// clock (105,120 slots). Whether it answers 201 or 202 depends on the
// machine; either way the status URL must report the finished run.
func TestGenerateLong(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	pro, tok := hoursPro(t, ts, "pro@example.org", "UTC", 5, 365)
	week := map[string][][]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][]string{{"00:00", "24:00"}}
	}
	putHours(t, ts, tok, pro.PracticeID, map[string]any{"weekly": week})
	start := time.Now()
	status, st := generateAPI(t, ts, tok, pro.PracticeID)
	t.Logf("105,120 slots: first answer %d, done after %v", status, time.Since(start))
	if st["slots"] != float64(365*288) || st["days"] != float64(365) {
		t.Fatalf("status %v", st)
	}
	if n := ts.rows(t, "slots", "practice_id = ?", pro.PracticeID); n != 365*288 {
		t.Fatalf("%d slots stored", n)
	}
}

// TestPlanningRunPage shows a run's progress page while it runs (it
// refreshes itself, without script) and once it is done (it does not).
func TestPlanningRunPage(t *testing.T) {
	t.Parallel()
	ts, _ := hoursServer(t)
	pro, tok := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	c := ts.client(t)
	ts.login(t, c, pro)
	ctx := context.Background()
	run := &store.PlanningRun{Kind: "initial", PracticeID: pro.PracticeID}
	if err := ts.db.StartRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	page := "/pro/p/" + pro.PracticeID + "/planning/runs/" + run.ID
	res := ts.get(t, c, page)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `<meta http-equiv="refresh" content="1">`) ||
		!strings.Contains(res.Body, "<progress") || strings.Contains(mainOf(res.Body), "<script") {
		t.Fatalf("running: %d\n%s", res.StatusCode, mainOf(res.Body))
	}
	api := ts.api(t, "GET", "/api/v1/practices/"+pro.PracticeID+"/planning/runs/"+run.ID, tok, nil)
	if !strings.Contains(api.Body, `"status":"running"`) || !strings.Contains(api.Body, `"progress":0`) {
		t.Fatalf("running status: %s", api.Body)
	}
	// A second request while it runs joins it instead of starting another.
	putHours(t, ts, tok, pro.PracticeID, map[string]any{"weekly": map[string]any{"mon": [][]string{{"09:00", "10:00"}}}})
	gen := ts.api(t, "POST", "/api/v1/practices/"+pro.PracticeID+"/planning/generate", tok, nil)
	if gen.StatusCode != http.StatusAccepted || !strings.Contains(gen.Body, run.ID) {
		t.Fatalf("generate while running: %d %s", gen.StatusCode, gen.Body)
	}
	run.State, run.Progress, run.Days, run.Added = "done", 100, 14, 8
	if err := ts.db.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	res = ts.get(t, c, page)
	if strings.Contains(res.Body, `http-equiv="refresh"`) || !pageHas(res.Body, ts.text(t, "en", "planning_run.done", "Days", 14, "Slots", 8)) ||
		!strings.Contains(res.Body, `href="/pro/p/`+pro.PracticeID+`/planning"`) {
		t.Fatalf("done:\n%s", mainOf(res.Body))
	}
	// Another practice's run is not found through this practice.
	other, _ := hoursPro(t, ts, "other@example.org", "Europe/Paris", 15, 14)
	c2 := ts.client(t)
	ts.login(t, c2, other)
	if res = ts.get(t, c2, "/pro/p/"+other.PracticeID+"/planning/runs/"+run.ID); res.StatusCode != http.StatusNotFound {
		t.Fatalf("foreign run page: %d", res.StatusCode)
	}
}

func TestHoursChangeConflicts(t *testing.T) {
	t.Parallel()
	ts, p, pro := planningFixture(t)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "") // past the first-run setup
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	appt := bookFirstFree(t, ts, p, patient, 2) // a morning
	loc := ts.srv.location(p.TimeZone)
	day := schedule.DayOf(appt.Start.In(loc))
	tok := ts.token(t, pro)
	before, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End)

	// From that day, afternoons only: the morning appointment is listed,
	// and its slots stay booked.
	week := map[string][][]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week[d] = [][]string{{"14:00", "18:00"}}
	}
	res := ts.api(t, "PUT", "/api/v1/practices/"+p.ID+"/hours", tok, jsonBody(map[string]any{"weekly": week, "from": day.String()}))
	var out struct {
		From      string `json:"from"`
		Removed   int    `json:"removed"`
		Added     int    `json:"added"`
		Generated bool   `json:"generated"`
		Conflicts []struct {
			ID, Start, End string
			PatientID      string `json:"patient_id"`
		} `json:"conflicts"`
	}
	decodeJSON(t, res, &out)
	if res.StatusCode != http.StatusOK || out.From != day.String() || !out.Generated || out.Removed == 0 || out.Added == 0 {
		t.Fatalf("put: %d %s", res.StatusCode, res.Body)
	}
	if len(out.Conflicts) != 1 || out.Conflicts[0].ID != appt.ID || out.Conflicts[0].PatientID != patient.ID ||
		out.Conflicts[0].Start != appt.Start.In(loc).Format(time.RFC3339) || out.Conflicts[0].End != appt.End.In(loc).Format(time.RFC3339) {
		t.Fatalf("conflicts %+v, want appointment %s", out.Conflicts, appt.ID)
	}
	after, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End)
	if len(after) != 2 || len(before) != 2 {
		t.Fatalf("booked slots %+v", after)
	}
	for i := range after {
		if after[i] != before[i] || after[i].State != store.SlotBooked || after[i].AppointmentID != appt.ID {
			t.Fatalf("a booked slot was touched: %+v → %+v", before[i], after[i])
		}
	}
	if _, err := ts.db.FindAppointmentByID(ctx, appt.ID); err != nil {
		t.Fatal(err)
	}

	// The page lists it for the secretary: when, who, what for.
	c := ts.client(t)
	ts.login(t, c, pro)
	form := url.Values{"from": {day.String()}}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		form.Set("h.main."+d+".1.from", "15:00")
		form.Set("h.main."+d+".1.to", "18:00")
	}
	page := ts.post(t, c, "/pro/p/"+p.ID+"/hours", form)
	text := html2text(mainOf(page.Body))
	when := formatDateTime("en", appt.Start, loc)
	if page.StatusCode != http.StatusOK || !strings.Contains(text, "Pat Patient") || !strings.Contains(text, "Consultation") ||
		!strings.Contains(text, when) || !pageHas(page.Body, ts.text(t, "en", "hours_result.conflicts_help")) {
		t.Fatalf("result page: %d\n%s", page.StatusCode, text)
	}
	if got, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End); got[0] != before[0] {
		t.Fatal("the page's change touched the booked slot")
	}
}

// TestHoursDST generates, through the API, Sunday hours 01:00–04:00 at 30
// minutes in Paris and New York over both 2027 transitions: no slot
// missing, none duplicated, none at a nonexistent time, no overlap.
func TestHoursDST(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.clock.Advance(time.Until(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	for _, tc := range []struct {
		zone    string
		sundays map[string][]string // local day → expected local starts
		utc     map[string]string   // one local start → its UTC instant
	}{
		{"Europe/Paris", map[string][]string{
			"2027-03-28": {"01:00", "01:30", "03:00", "03:30"},
			"2027-10-31": {"01:00", "01:30", "02:00", "02:30", "03:00", "03:30"},
			"2027-03-21": {"01:00", "01:30", "02:00", "02:30", "03:00", "03:30"},
		}, map[string]string{"2027-03-28 03:00": "2027-03-28T01:00:00Z", "2027-10-31 02:00": "2027-10-31T00:00:00Z", "2027-10-31 03:00": "2027-10-31T02:00:00Z"}},
		{"America/New_York", map[string][]string{
			"2027-03-14": {"01:00", "01:30", "03:00", "03:30"},
			"2027-11-07": {"01:00", "01:30", "02:00", "02:30", "03:00", "03:30"},
		}, map[string]string{"2027-03-14 03:00": "2027-03-14T07:00:00Z", "2027-11-07 01:00": "2027-11-07T05:00:00Z", "2027-11-07 02:00": "2027-11-07T07:00:00Z"}},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			pro, tok := hoursPro(t, ts, strings.ToLower(strings.ReplaceAll(tc.zone, "/", "-"))+"@example.org", tc.zone, 30, 365)
			putHours(t, ts, tok, pro.PracticeID, map[string]any{"weekly": map[string]any{"sun": [][]string{{"01:00", "04:00"}}}})
			if _, st := generateAPI(t, ts, tok, pro.PracticeID); st["planned_until"] != "2028-02-28" {
				t.Fatalf("status %v", st)
			}
			loc, _ := time.LoadLocation(tc.zone)
			for day, want := range tc.sundays {
				d, _ := schedule.ParseDay(day)
				slots, err := ts.db.FindSlots(ctx, pro.PracticeID, d.Start(loc), d.AddDays(1).Start(loc))
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for i, s := range slots {
					if s.Start.Location() != time.UTC || s.End.Location() != time.UTC {
						t.Errorf("%s: slot not in UTC", day)
					}
					local := s.Start.In(loc)
					got = append(got, local.Format("15:04"))
					if i > 0 && s.Start.Before(slots[i-1].End) {
						t.Errorf("%s: %s overlaps the slot before", day, local.Format("15:04"))
					}
					if utc, ok := tc.utc[day+" "+local.Format("15:04")]; ok && s.Start.Format(time.RFC3339) != utc {
						t.Errorf("%s %s is %s, want %s", day, local.Format("15:04"), s.Start.Format(time.RFC3339), utc)
					}
					if back, ok := schedule.Local(d, local.Hour()*60+local.Minute(), loc); !ok || !back.Equal(s.Start) {
						t.Errorf("%s %s: not the first occurrence of an existing local time", day, local.Format("15:04"))
					}
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s: starts %v, want %v", day, got, want)
				}
			}
		})
	}
}

func TestAdminPlanning(t *testing.T) {
	t.Parallel()
	ts, admin := hoursServer(t)
	pro, tok := hoursPro(t, ts, "pro@example.org", "Europe/Paris", 15, 14)
	putHours(t, ts, tok, pro.PracticeID, map[string]any{"weekly": map[string]any{"mon": [][]string{{"09:00", "12:00"}}}})
	generateAPI(t, ts, tok, pro.PracticeID)
	p := mustPractice(t, ts, pro.PracticeID)
	c := ts.client(t)
	ts.login(t, c, admin)
	res := ts.get(t, c, "/admin/planning")
	text := html2text(mainOf(res.Body))
	if res.StatusCode != http.StatusOK || !strings.Contains(text, p.Name) || !strings.Contains(text, ts.text(t, "en", "planning_page.kind_initial")) ||
		!strings.Contains(res.Body, `action="/admin/planning/roll"`) {
		t.Fatalf("admin planning: %d\n%s", res.StatusCode, text)
	}
	// A roll on demand three days later adds the three days, is recorded
	// and audited.
	ts.clock.Advance(3 * 24 * time.Hour)
	c = ts.client(t) // the idle staff session has ended
	ts.login(t, c, admin)
	res = ts.post(t, c, "/admin/planning/roll", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/planning" {
		t.Fatalf("roll: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = ts.get(t, c, "/admin/planning")
	text = html2text(mainOf(res.Body))
	if !strings.Contains(text, ts.text(t, "en", "flash.hours_rolled")) || !strings.Contains(text, ts.text(t, "en", "planning_page.kind_roll")) {
		t.Fatalf("after the roll:\n%s", text)
	}
	runs, _ := ts.db.FindRuns(context.Background(), "", 0)
	if len(runs) != 2 || runs[0].Kind != "roll" || runs[0].State != "done" || runs[0].Days != 3 {
		t.Fatalf("runs %+v", runs[0])
	}
	if n := ts.rows(t, "audit", "action = ? AND actor_id = ?", "planning.roll_requested", admin.ID); n != 1 {
		t.Errorf("%d audit entries for the roll", n)
	}
}
