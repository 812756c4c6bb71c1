package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// addTypeRow stores an appointment type straight in the table (the types
// pages are another capability) and returns its id.
func addTypeRow(t testing.TB, ts *testServer, practiceID, name string, minutes, buffer int, archived bool) string {
	t.Helper()
	ctx := context.Background()
	id := store.NewID()
	var arch any
	if archived {
		arch = time.Now().Unix()
	}
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO appointment_types (id, practice_id, name, minutes, buffer_after_minutes, archived_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0)`, id, practiceID, name, minutes, buffer, arch)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// nextWorkday is the first Monday–Friday after day.
func nextWorkday(day schedule.Day) schedule.Day {
	for i := 1; ; i++ {
		if wd := day.AddDays(i).Weekday(); wd != time.Saturday && wd != time.Sunday {
			return day.AddDays(i)
		}
	}
}

// getSlots calls the free-slot query anonymously and decodes a 200 answer.
func getSlots(t *testing.T, ts *testServer, practiceID, query string) []apiSlot {
	t.Helper()
	res := ts.api(t, "GET", "/api/v1/practitioners/"+practiceID+"/slots?"+query, "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("slots?%s: status %d: %s", query, res.StatusCode, res.Body)
	}
	if !strings.HasPrefix(strings.TrimSpace(res.Body), "[") {
		t.Fatalf("slots?%s: not a JSON array: %s", query, res.Body)
	}
	var out []apiSlot
	if err := json.Unmarshal([]byte(res.Body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseRFC3339(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%q is not RFC 3339: %v", v, err)
	}
	return tm
}

// bookAt books the slots of practice p covering [start, end) for patient.
func bookAt(t *testing.T, ts *testServer, p *store.Practice, patient *testUser, typeID, reason string, start, end time.Time) *store.Appointment {
	t.Helper()
	ctx := context.Background()
	slots, err := ts.db.FindSlots(ctx, p.ID, start, end)
	if err != nil || len(slots) == 0 {
		t.Fatalf("no slots at %v: %v", start, err)
	}
	var ids []string
	for _, s := range slots {
		ids = append(ids, s.ID)
	}
	a := &store.Appointment{PracticeID: p.ID, PatientID: patient.ID, TypeID: typeID, Start: start, End: end, Reason: reason}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreateAppointment(ctx, a); err != nil {
			return err
		}
		return tx.BookSlots(ctx, p.ID, a.ID, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSlotsTypeWithBuffer(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	loc := ts.srv.location(p.TimeZone)
	day := nextWorkday(ts.srv.today(p, ts.srv.clock()))
	typeID := addTypeRow(t, ts, p.ID, "Consultation", 30, 15, false)
	q := fmt.Sprintf("from=%s&to=%s&type=%s", day, day, typeID)

	// 30 min + 15 min buffer on 15-minute slots: three consecutive free
	// slots, so 10 starts in each 3-hour range (09:00–11:15, 14:00–16:15).
	got := getSlots(t, ts, p.ID, q)
	if len(got) != 20 {
		t.Fatalf("%d starts, want 20: %+v", len(got), got)
	}
	slots, _ := ts.db.FindSlots(ctx, p.ID, day.Start(loc), day.AddDays(1).Start(loc))
	free := map[int64]bool{}
	for _, s := range slots {
		free[s.Start.Unix()] = s.State == store.SlotFree
	}
	for _, s := range got {
		start, end := parseRFC3339(t, s.Start), parseRFC3339(t, s.End)
		if end.Sub(start) != 30*time.Minute {
			t.Errorf("start %s ends at %s: want the type's 30 minutes (not the buffer)", s.Start, s.End)
		}
		for i := 0; i < 3; i++ {
			if !free[start.Add(time.Duration(i)*15*time.Minute).Unix()] {
				t.Errorf("start %s lacks free slot %d of 3", s.Start, i+1)
			}
		}
		if _, off := start.Zone(); off != 3600 && off != 7200 {
			t.Errorf("start %s is not in Paris time", s.Start)
		}
		if s.ID == "" || s.LocationID != "" {
			t.Errorf("start %+v: want an id and no location_id at the main office", s)
		}
	}
	if first := parseRFC3339(t, got[0].Start).In(loc); first.Hour() != 9 || first.Minute() != 0 {
		t.Errorf("first start %v, want 09:00", first)
	}
	if last := parseRFC3339(t, got[9].Start).In(loc); last.Hour() != 11 || last.Minute() != 15 {
		t.Errorf("last morning start %v, want 11:15", last)
	}

	// Without a type: every free slot, each one slot long.
	single := getSlots(t, ts, p.ID, fmt.Sprintf("from=%s&to=%s", day, day))
	if len(single) != 24 {
		t.Fatalf("%d single slots, want 24", len(single))
	}
	if d := parseRFC3339(t, single[0].End).Sub(parseRFC3339(t, single[0].Start)); d != 15*time.Minute {
		t.Errorf("a single slot lasts %v", d)
	}

	// A booked slot at 10:00 removes the starts whose 45 minutes would
	// cover it (09:30, 09:45, 10:00) and nothing else.
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ten, _ := schedule.Local(day, 10*60, loc)
	bookAt(t, ts, p, patient, typeID, "", ten, ten.Add(15*time.Minute))
	after := getSlots(t, ts, p.ID, q)
	if len(after) != 17 {
		t.Fatalf("%d starts after booking 10:00, want 17", len(after))
	}
	for _, s := range after {
		start := parseRFC3339(t, s.Start)
		if !start.After(ten) && start.Add(45*time.Minute).After(ten) {
			t.Errorf("start %s overlaps the booked 10:00 slot", s.Start)
		}
	}
}

func TestSlotsMinNoticeAndHorizon(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	st := p.Settings
	st.MinNoticeMinutes = 24 * 60
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateSettings(ctx, p.ID, st) }); err != nil {
		t.Fatal(err)
	}
	now := ts.srv.clock()
	today := ts.srv.today(p, now)
	// A window that starts in the past is clamped to today; one that goes
	// past the 14-day horizon stops at its end.
	got := getSlots(t, ts, p.ID, fmt.Sprintf("from=%s&to=%s", today.AddDays(-5), today.AddDays(40)))
	if len(got) == 0 {
		t.Fatal("no starts at all")
	}
	loc := ts.srv.location(p.TimeZone)
	end := today.AddDays(14).Start(loc)
	for _, s := range got {
		start := parseRFC3339(t, s.Start)
		if start.Before(now.Add(24 * time.Hour)) {
			t.Fatalf("start %s is inside the 24-hour minimum notice", s.Start)
		}
		if !start.Before(end) {
			t.Fatalf("start %s is past the horizon", s.Start)
		}
	}
	// A window entirely in the past is empty, not an error.
	if got := getSlots(t, ts, p.ID, fmt.Sprintf("from=%s&to=%s", today.AddDays(-9), today.AddDays(-2))); len(got) != 0 {
		t.Fatalf("%d starts in the past", len(got))
	}
}

func TestSlotsPracticeZone(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	pro := ts.addUser(t, "ny@example.org", "Nora York", store.RolePractitioner, "")
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdatePracticeName(ctx, pro.PracticeID, "Cabinet New York", "America/New_York"); err != nil {
			return err
		}
		p, err := tx.FindPracticeByID(ctx, pro.PracticeID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.HorizonDays, st.MinNoticeMinutes = 14, 0
		return tx.UpdateSettings(ctx, p.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, pro.PracticeID)
	// Every day, early morning and late evening: the local day's edges are
	// far from the UTC day's, so a UTC slip shows.
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"06:00", "09:00"}, {"19:00", "23:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, pro.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	loc := ts.srv.location("America/New_York")
	day := ts.srv.today(p, ts.srv.clock()).AddDays(3)
	got := getSlots(t, ts, p.ID, fmt.Sprintf("from=%s&to=%s", day, day))
	if len(got) != 28 {
		t.Fatalf("%d starts on %s, want 28 (7 hours of 15 minutes)", len(got), day)
	}
	for _, s := range got {
		start := parseRFC3339(t, s.Start)
		if schedule.DayOf(start.In(loc)) != day {
			t.Errorf("start %s is not on %s in New York", s.Start, day)
		}
		if !strings.HasSuffix(s.Start, "-04:00") && !strings.HasSuffix(s.Start, "-05:00") {
			t.Errorf("start %s is not written with New York's offset", s.Start)
		}
	}
}

func TestSlotsBadInput(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	other := ts.addUser(t, "other@example.org", "Otto Other", store.RolePractitioner, "")
	foreign := addTypeRow(t, ts, other.PracticeID, "Elsewhere", 30, 0, false)
	archived := addTypeRow(t, ts, p.ID, "Old", 30, 0, true)
	day := nextWorkday(ts.srv.today(p, ts.srv.clock()))
	d := day.String()
	for _, tc := range []struct {
		name, query string
		status      int
		field, msg  string
	}{
		{"GarbageFrom", "from=tomorrow&to=" + d, 400, "from", "error.slots_from"},
		{"LooseDate", "from=2025-3-4&to=" + d, 400, "from", "error.slots_from"},
		{"NoFrom", "to=" + d, 400, "from", "error.slots_from"},
		{"GarbageTo", "from=" + d + "&to=2025-02-30", 400, "to", "error.slots_to"},
		{"ToBeforeFrom", "from=" + d + "&to=" + day.AddDays(-1).String(), 400, "to", "error.slots_order"},
		{"HundredDays", "from=" + d + "&to=" + day.AddDays(99).String(), 400, "to", "error.slots_span"},
		{"OtherPracticeType", "from=" + d + "&to=" + d + "&type=" + foreign, 404, "type", "error.slots_type"},
		{"ArchivedType", "from=" + d + "&to=" + d + "&type=" + archived, 404, "type", "error.slots_type"},
		{"UnknownType", "from=" + d + "&to=" + d + "&type=nope", 404, "type", "error.slots_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/api/v1/practitioners/"+p.ID+"/slots?"+tc.query, nil)
			req.Header.Set("Accept-Language", "en")
			res := ts.do(t, http.DefaultClient, req)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			var body struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
				t.Fatal(err)
			}
			code := map[int]string{400: ECodeBadRequest, 404: ECodeNotFound}[tc.status]
			want := ts.text(t, "en", tc.msg, "Max", maxSlotsSpan)
			if body.Error.Code != code || body.Error.Field != tc.field || body.Error.Message != want {
				t.Fatalf("error %+v, want %s on %s: %q", body.Error, code, tc.field, want)
			}
		})
	}
	// The 62-day limit itself passes.
	getSlots(t, ts, p.ID, fmt.Sprintf("from=%s&to=%s", day, day.AddDays(maxSlotsSpan-1)))
}

func TestSlotsPracticeVisibility(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	// A pending (unverified) practice, even with a planning, is not public.
	var pending string
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		pr := &store.Practice{Name: "Cabinet Pending", TimeZone: "Europe/Paris", Status: store.PracticePending}
		err := tx.CreatePractice(ctx, pr)
		pending = pr.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().Format("2006-01-02")
	for _, id := range []string{pending, "nope"} {
		res := ts.api(t, "GET", "/api/v1/practitioners/"+id+"/slots?from="+day+"&to="+day, "", nil)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(res.Body, `"code":"not_found"`) {
			t.Fatalf("practice %s: status %d %s, want 404", id, res.StatusCode, res.Body)
		}
	}
	// A verified practice whose planning is not generated yet: no starts.
	pro := ts.addUser(t, "new@example.org", "Nina New", store.RolePractitioner, "")
	if got := getSlots(t, ts, pro.PracticeID, "from="+day+"&to="+day); len(got) != 0 {
		t.Fatalf("%d starts before the planning exists", len(got))
	}
}

// TestSlotsQueryPlan shows that the free-slot read is one range scan of the
// slots table's clustered primary key, with no sort.
func TestSlotsQueryPlan(t *testing.T) {
	ts, _, _ := planningFixture(t)
	db, err := sql.Open("sqlite", "file:"+ts.db.Path()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The statement the free-start search runs.
	rows, err := db.Query("EXPLAIN QUERY PLAN "+store.SlotCellsQuery, "p", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	all := strings.Join(plan, " | ")
	if len(plan) != 1 || !strings.Contains(all, "SEARCH slots USING PRIMARY KEY (practice_id=? AND starts_at>? AND starts_at<?)") {
		t.Fatalf("plan %q: want one search of the primary key", all)
	}
	if strings.Contains(all, "TEMP B-TREE") {
		t.Fatalf("plan %q sorts in a temporary b-tree", all)
	}
}
