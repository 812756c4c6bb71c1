package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// bookingFixture is a verified practice open every day 08:00–20:00 at
// 15-minute slots with a generated 30-day planning, a 15-minute visit, a
// 30-minute visit with a 15-minute buffer and a teleconsultation.
type bookingFixture struct {
	ts                *testServer
	p                 *store.Practice
	pro               *testUser
	visit, long, tele *store.AppointmentType
}

func newBookingFixture(t testing.TB, change func(*Config)) *bookingFixture {
	t.Helper()
	ts := newTestServer(t, change)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	ctx := context.Background()
	p := mustPractice(t, ts, pro.PracticeID)
	st := p.Settings
	st.HorizonDays, st.MinNoticeMinutes, st.MaxFuturePerPatient, st.SecretaryPhone = 30, 60, 0, "+33 4 93 00 00 00"
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	f := &bookingFixture{ts: ts, pro: pro,
		visit: &store.AppointmentType{PracticeID: p.ID, Name: "Consultation", Minutes: 15, Price: 2500, Currency: "EUR", NewPatients: true},
		long:  &store.AppointmentType{PracticeID: p.ID, Name: "Long visit", Minutes: 30, BufferAfter: 15, Price: 5000, Currency: "EUR", NewPatients: true},
		tele:  &store.AppointmentType{PracticeID: p.ID, Name: "Téléconsultation", Minutes: 15, Price: 2500, Currency: "EUR", Teleconsultation: true, NewPatients: true},
	}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateSettings(ctx, p.ID, st); err != nil {
			return err
		}
		for _, typ := range []*store.AppointmentType{f.visit, f.long, f.tele} {
			if err := tx.CreateType(ctx, typ); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, pro.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	f.p = mustPractice(t, ts, p.ID)
	return f
}

// starts returns free starts of typ from the day after tomorrow on.
func (f *bookingFixture) starts(t testing.TB, typ *store.AppointmentType) []schedule.Cell {
	t.Helper()
	today := f.ts.srv.today(f.p, f.ts.srv.clock())
	c, err := f.ts.srv.freeStarts(context.Background(), f.p, typ.Minutes, typ.BufferAfter, today.AddDays(2), today.AddDays(9), f.ts.srv.clock())
	if err != nil || len(c) == 0 {
		t.Fatalf("no free starts: %v", err)
	}
	return c
}

func (f *bookingFixture) bookAPI(t testing.TB, token string, body map[string]string, key string) response {
	t.Helper()
	js, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/appointments", strings.NewReader(string(js)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return f.ts.do(t, http.DefaultClient, req)
}

func countRows(t testing.TB, ts *testServer, table string) int {
	t.Helper()
	var n int
	if err := ts.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBookAPI(t *testing.T) {
	f := newBookingFixture(t, nil)
	ts := f.ts
	pat := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	tok := ts.token(t, pat)
	s := f.starts(t, f.long)[0]
	res := f.bookAPI(t, tok, map[string]string{"slot_id": s.ID, "type_id": f.long.ID, "reason": "<b>knee</b> pain"}, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("book: %d %s", res.StatusCode, res.Body)
	}
	var a apiAppointment
	json.Unmarshal([]byte(res.Body), &a)
	if a.ID == "" || a.PractitionerID != f.p.ID || a.PatientID != pat.ID || a.TypeID != f.long.ID || a.State != "booked" || a.Reason != "<b>knee</b> pain" {
		t.Fatalf("appointment %+v", a)
	}
	if strings.Contains(res.Body, "<b>") {
		t.Fatal("HTML in the reason is not escaped in the JSON answer")
	}
	start, _ := time.Parse(time.RFC3339, a.Start)
	end, _ := time.Parse(time.RFC3339, a.End)
	if !start.Equal(s.Start) || end.Sub(start) != 30*time.Minute {
		t.Fatalf("times %s–%s", a.Start, a.End)
	}
	// Duration + buffer hold three slots.
	slots, _ := ts.db.FindSlots(context.Background(), f.p.ID, s.Start, s.Start.Add(45*time.Minute))
	for _, sl := range slots {
		if sl.State != store.SlotBooked || sl.AppointmentID != a.ID {
			t.Fatalf("slot %v %s", sl.Start, sl.State)
		}
	}
	if len(slots) != 3 {
		t.Fatalf("%d slots held, want 3", len(slots))
	}
	m := ts.lastMail(t, pat.Email)
	if m.Template != "appointment_confirmed" || strings.Contains(m.Subject, "knee") || strings.Contains(m.TextBody, "knee") {
		t.Fatalf("confirmation e-mail %q / %q", m.Subject, m.TextBody)
	}
	// The patient reads it; another patient gets 404, and the attempt is audited.
	if r := ts.api(t, "GET", "/api/v1/appointments/"+a.ID, tok, nil); r.StatusCode != 200 {
		t.Fatalf("owner read: %d", r.StatusCode)
	}
	other := ts.addUser(t, "other@example.org", "Otto Other", store.RolePatient, "")
	otok := ts.token(t, other)
	for _, c := range []struct{ method, path string }{{"GET", ""}, {"POST", "/cancel"}, {"POST", "/move"}} {
		var body *strings.Reader
		if c.method == "POST" {
			body = strings.NewReader(`{"slot_id":"` + f.starts(t, f.long)[3].ID + `"}`)
		}
		var r response
		if body != nil {
			r = ts.api(t, c.method, "/api/v1/appointments/"+a.ID+c.path, otok, body)
		} else {
			r = ts.api(t, c.method, "/api/v1/appointments/"+a.ID+c.path, otok, nil)
		}
		if r.StatusCode != 404 {
			t.Fatalf("%s %s by another patient: %d", c.method, c.path, r.StatusCode)
		}
	}
	denied, _ := ts.db.FindAudit(context.Background(), store.AuditFilter{Action: "appointment.denied", ObjectID: a.ID})
	if len(denied) != 3 {
		t.Fatalf("%d denied attempts audited, want 3", len(denied))
	}
	if got, _ := ts.db.FindAppointmentByID(context.Background(), a.ID); got.State != "booked" || !got.Start.Equal(s.Start) {
		t.Fatal("another patient changed the appointment")
	}
	// Move keeps the id and frees the old slots.
	ns := f.starts(t, f.long)[5]
	r := ts.api(t, "POST", "/api/v1/appointments/"+a.ID+"/move", tok, strings.NewReader(`{"slot_id":"`+ns.ID+`"}`))
	var moved apiAppointment
	json.Unmarshal([]byte(r.Body), &moved)
	if r.StatusCode != 200 || moved.ID != a.ID {
		t.Fatalf("move: %d %s", r.StatusCode, r.Body)
	}
	old, _ := ts.db.FindSlots(context.Background(), f.p.ID, s.Start, s.Start.Add(45*time.Minute))
	for _, sl := range old {
		if sl.State != store.SlotFree {
			t.Fatalf("old slot %v still %s after the move", sl.Start, sl.State)
		}
	}
	// Cancel frees the slots; cancelling again is a clear conflict.
	if r := ts.api(t, "POST", "/api/v1/appointments/"+a.ID+"/cancel", tok, nil); r.StatusCode != 200 || !strings.Contains(r.Body, `"state":"cancelled"`) {
		t.Fatalf("cancel: %d %s", r.StatusCode, r.Body)
	}
	if r := ts.api(t, "POST", "/api/v1/appointments/"+a.ID+"/cancel", tok, nil); r.StatusCode != 409 {
		t.Fatalf("second cancel: %d", r.StatusCode)
	}
	if c, _ := ts.db.CountSlots(context.Background(), f.p.ID); c[store.SlotBooked] != 0 {
		t.Fatalf("%d slots still booked after cancel", c[store.SlotBooked])
	}
}

// TestBookRace: 200 patients race for the same 10 slots through the API.
func TestBookRace(t *testing.T) {
	f := newBookingFixture(t, func(c *Config) { c.Security.APIRate = 1000 })
	ts := f.ts
	starts := f.starts(t, f.visit)[:10]
	const n = 200
	toks := make([]string, n)
	for i := range toks {
		u := ts.addUser(t, fmt.Sprintf("p%d@example.org", i), fmt.Sprintf("Patient %d", i), store.RolePatient, "")
		toks[i] = ts.token(t, u)
	}
	statuses := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := f.bookAPI(t, toks[i], map[string]string{"slot_id": starts[i%10].ID, "type_id": f.visit.ID}, "")
			statuses[i], bodies[i] = r.StatusCode, r.Body
		}(i)
	}
	wg.Wait()
	created, taken := 0, 0
	for i, st := range statuses {
		switch {
		case st == 201:
			created++
		case st == 409 && strings.Contains(bodies[i], `"code":"slot_taken"`) && strings.Contains(bodies[i], `"alternatives"`):
			taken++
		default:
			t.Fatalf("request %d: %d %s", i, st, bodies[i])
		}
	}
	if created != 10 || taken != n-10 {
		t.Fatalf("%d created, %d slot_taken", created, taken)
	}
	if c := countRows(t, ts, "appointments"); c != 10 {
		t.Fatalf("%d appointments in the database", c)
	}
	for _, s := range starts {
		sl, _ := ts.db.FindSlotByID(context.Background(), s.ID)
		if sl.State != store.SlotBooked || sl.AppointmentID == "" {
			t.Fatalf("slot %s: %s", s.ID, sl.State)
		}
	}
	if err := ts.db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBookBadInput(t *testing.T) {
	f := newBookingFixture(t, nil)
	ts := f.ts
	ctx := context.Background()
	pat := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	tok := ts.token(t, pat)
	other := ts.addUser(t, "dr2@example.org", "Doc Two", store.RolePractitioner, "")
	otherType := &store.AppointmentType{PracticeID: other.PracticeID, Name: "Elsewhere", Minutes: 15, Currency: "EUR", NewPatients: true}
	ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, otherType) })
	starts := f.starts(t, f.visit)
	loc := ts.srv.location(f.p.TimeZone)
	today := ts.srv.today(f.p, ts.srv.clock())
	// A slot in the past (earlier today) and one within the minimum notice.
	past, _ := ts.db.FindSlots(ctx, f.p.ID, today.Start(loc), ts.srv.clock())
	soon, _ := ts.db.FindSlots(ctx, f.p.ID, ts.srv.clock(), ts.srv.clock().Add(50*time.Minute))
	// A blocked slot and a taken one.
	blockSlot := starts[20]
	ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateBlock(ctx, &store.Block{PracticeID: f.p.ID, Start: blockSlot.Start, End: blockSlot.End})
		return err
	})
	winner := ts.addUser(t, "win@example.org", "Win Ner", store.RolePatient, "")
	if r := f.bookAPI(t, ts.token(t, winner), map[string]string{"slot_id": starts[30].ID, "type_id": f.visit.ID}, ""); r.StatusCode != 201 {
		t.Fatal(r.Body)
	}
	teleStart := f.starts(t, f.tele)[40]
	cases := []struct {
		name   string
		body   map[string]string
		status int
		msg    string
	}{
		{"ErrSlotTampered", map[string]string{"slot_id": starts[0].ID + "x", "type_id": f.visit.ID}, 422, "error.slot_unknown"},
		{"ErrSlotBlocked", map[string]string{"slot_id": blockSlot.ID, "type_id": f.visit.ID}, 409, "error.slot_taken"},
		{"ErrSlotTaken", map[string]string{"slot_id": starts[30].ID, "type_id": f.visit.ID}, 409, "error.slot_taken"},
		{"ErrTypeOtherPractice", map[string]string{"slot_id": starts[1].ID, "type_id": otherType.ID}, 422, "error.type_unknown"},
		{"ErrReasonLong", map[string]string{"slot_id": starts[1].ID, "type_id": f.visit.ID, "reason": strings.Repeat("é", 10000)}, 422, "error.reason_long"},
		{"ErrPhoneMissing", map[string]string{"slot_id": teleStart.ID, "type_id": f.tele.ID}, 422, "error.phone"},
		{"ErrPhoneInvalid", map[string]string{"slot_id": teleStart.ID, "type_id": f.tele.ID, "phone": "06 12"}, 422, "error.phone"},
		{"ErrPhoneNoCountry", map[string]string{"slot_id": teleStart.ID, "type_id": f.tele.ID, "phone": "0612345678"}, 422, "error.phone"},
	}
	if len(past) > 0 {
		cases = append(cases, struct {
			name   string
			body   map[string]string
			status int
			msg    string
		}{"ErrSlotPast", map[string]string{"slot_id": past[0].ID, "type_id": f.visit.ID}, 422, "error.slot_past"})
	}
	if len(soon) > 0 {
		cases = append(cases, struct {
			name   string
			body   map[string]string
			status int
			msg    string
		}{"ErrSlotTooSoon", map[string]string{"slot_id": soon[0].ID, "type_id": f.visit.ID}, 422, "error.slot_too_soon"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := countRows(t, ts, "appointments")
			r := f.bookAPI(t, tok, c.body, "")
			want := ts.srv.i18n.T("en", c.msg)
			if r.StatusCode != c.status || !strings.Contains(r.Body, jsonText(want)) {
				t.Fatalf("%d %s, want %d %q", r.StatusCode, r.Body, c.status, want)
			}
			if after := countRows(t, ts, "appointments"); after != before {
				t.Fatal("an appointment was written")
			}
		})
	}
	t.Run("ErrAllowlist", func(t *testing.T) {
		setMode(t, ts, f.p.ID, func(st *store.Settings) { st.BookingMode = "allowlist" })
		defer setMode(t, ts, f.p.ID, func(st *store.Settings) { st.BookingMode = "free" })
		r := f.bookAPI(t, tok, map[string]string{"slot_id": starts[2].ID, "type_id": f.visit.ID}, "")
		if r.StatusCode != 403 || !strings.Contains(r.Body, "+33 4 93 00 00 00") {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
		ts.db.Update(ctx, func(tx *store.Tx) error { _, err := tx.AddToAllowlist(ctx, f.p.ID, "", "PAT@example.org"); return err })
		if r := f.bookAPI(t, tok, map[string]string{"slot_id": starts[2].ID, "type_id": f.visit.ID}, ""); r.StatusCode != 201 {
			t.Fatalf("allowlisted patient refused: %d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("ErrBanned", func(t *testing.T) {
		bad := ts.addUser(t, "bad@example.org", "Bad Patient", store.RolePatient, "")
		ts.db.Update(ctx, func(tx *store.Tx) error { return tx.Ban(ctx, f.p.ID, bad.ID, "rude", f.pro.ID) })
		r := f.bookAPI(t, ts.token(t, bad), map[string]string{"slot_id": starts[3].ID, "type_id": f.visit.ID}, "")
		if r.StatusCode != 403 || !strings.Contains(r.Body, `"code":"forbidden"`) {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("DoubleSubmitOneAppointment", func(t *testing.T) {
		before := countRows(t, ts, "appointments")
		body := map[string]string{"slot_id": starts[4].ID, "type_id": f.visit.ID}
		r1 := f.bookAPI(t, tok, body, "form-123")
		r2 := f.bookAPI(t, tok, body, "form-123")
		if r1.StatusCode != 201 || r2.StatusCode != 201 || countRows(t, ts, "appointments") != before+1 {
			t.Fatalf("%d %d, %d new appointments", r1.StatusCode, r2.StatusCode, countRows(t, ts, "appointments")-before)
		}
		var a1, a2 apiAppointment
		json.Unmarshal([]byte(r1.Body), &a1)
		json.Unmarshal([]byte(r2.Body), &a2)
		if a1.ID != a2.ID {
			t.Fatal("the retry made another appointment")
		}
	})
	t.Run("TeleconsultationPhoneAppended", func(t *testing.T) {
		r := f.bookAPI(t, tok, map[string]string{"slot_id": teleStart.ID, "type_id": f.tele.ID, "reason": "fever", "phone": "+33 6 12 34 56 78"}, "")
		var a apiAppointment
		json.Unmarshal([]byte(r.Body), &a)
		if r.StatusCode != 201 || a.Phone != "+33612345678" || !strings.Contains(a.Reason, "fever") || !strings.Contains(a.Reason, "+33612345678") || a.PaymentState != "unpaid" {
			t.Fatalf("%d %+v", r.StatusCode, a)
		}
	})
	t.Run("ErrExistingOnly", func(t *testing.T) {
		known := &store.AppointmentType{PracticeID: f.p.ID, Name: "Follow-up", Minutes: 15, Currency: "EUR", NewPatients: false}
		ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, known) })
		newcomer := ts.addUser(t, "new@example.org", "New Comer", store.RolePatient, "")
		r := f.bookAPI(t, ts.token(t, newcomer), map[string]string{"slot_id": starts[5].ID, "type_id": known.ID}, "")
		if r.StatusCode != 403 || !strings.Contains(r.Body, jsonText(ts.srv.i18n.T("en", "error.type_existing_only"))) {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("ErrTooManyFuture", func(t *testing.T) {
		setMode(t, ts, f.p.ID, func(st *store.Settings) { st.MaxFuturePerPatient = 1 })
		hoarder := ts.addUser(t, "hoard@example.org", "Hoard Er", store.RolePatient, "")
		htok := ts.token(t, hoarder)
		if r := f.bookAPI(t, htok, map[string]string{"slot_id": starts[6].ID, "type_id": f.visit.ID}, ""); r.StatusCode != 201 {
			t.Fatal(r.Body)
		}
		r := f.bookAPI(t, htok, map[string]string{"slot_id": starts[7].ID, "type_id": f.visit.ID}, "")
		if r.StatusCode != 409 || !strings.Contains(r.Body, "1 upcoming") {
			t.Fatalf("%d %s", r.StatusCode, r.Body)
		}
	})
	_ = schedule.Day{}
}

func setMode(t testing.TB, ts *testServer, practiceID string, change func(*store.Settings)) {
	t.Helper()
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, practiceID)
		if err != nil {
			return err
		}
		st := p.Settings
		change(&st)
		return tx.UpdateSettings(ctx, practiceID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBookAPIIntake: answers travel with the booking, in its transaction;
// a missing required answer refuses the booking and writes nothing.
func TestBookAPIIntake(t *testing.T) {
	f := newBookingFixture(t, nil)
	ts := f.ts
	ctx := context.Background()
	q := &store.IntakeQuestion{TypeID: f.visit.ID, Label: "Allergies?", Kind: store.IntakeShort, Required: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateIntakeQuestion(ctx, q) }); err != nil {
		t.Fatal(err)
	}
	pat := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	tok := ts.token(t, pat)
	s := f.starts(t, f.visit)[0]
	before := countRows(t, ts, "appointments")
	r := f.bookAPI(t, tok, map[string]string{"slot_id": s.ID, "type_id": f.visit.ID}, "")
	if r.StatusCode != 422 || countRows(t, ts, "appointments") != before {
		t.Fatalf("missing required answer: %d %s", r.StatusCode, r.Body)
	}
	body := `{"slot_id":"` + s.ID + `","type_id":"` + f.visit.ID + `","answers":{"` + q.ID + `":"penicillin"}}`
	r = ts.api(t, "POST", "/api/v1/appointments", tok, strings.NewReader(body))
	if r.StatusCode != 201 {
		t.Fatalf("book with answers: %d %s", r.StatusCode, r.Body)
	}
	var a apiAppointment
	json.Unmarshal([]byte(r.Body), &a)
	got, err := ts.srv.intakeAnswersFor(ctx, a.ID)
	if err != nil || len(got) != 1 || !strings.Contains(fmt.Sprint(got[0]), "penicillin") {
		t.Fatalf("answers %+v %v", got, err)
	}
	var raw []byte
	ts.db.Update(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT answers FROM intake_answers WHERE appointment_id = ?", a.ID).Scan(&raw)
	})
	if len(raw) == 0 || strings.Contains(string(raw), "penicillin") {
		t.Fatal("intake answers are not encrypted at rest")
	}
}

// TestSlotTakenAlternatives: the loser is offered the five free starts
// nearest the one it lost, nearest first, none of them taken.
func TestSlotTakenAlternatives(t *testing.T) {
	f := newBookingFixture(t, nil)
	ts := f.ts
	starts := f.starts(t, f.visit)
	// Lose a start in the middle of a day, with a neighbour already booked.
	k := -1
	for i, c := range starts {
		if c.Start.In(ts.srv.location(f.p.TimeZone)).Hour() == 14 {
			k = i
			break
		}
	}
	if k < 1 {
		t.Fatal("no 14:00 start")
	}
	mid := starts[k]
	a := ts.token(t, ts.addUser(t, "alt-a@example.org", "Alt A", store.RolePatient, ""))
	b := ts.token(t, ts.addUser(t, "alt-b@example.org", "Alt B", store.RolePatient, ""))
	next := starts[k+1]
	for _, id := range []string{mid.ID, next.ID} {
		if res := f.bookAPI(t, a, map[string]string{"slot_id": id, "type_id": f.visit.ID}, ""); res.StatusCode != 201 {
			t.Fatalf("book: %d %s", res.StatusCode, res.Body)
		}
	}
	res := f.bookAPI(t, b, map[string]string{"slot_id": mid.ID, "type_id": f.visit.ID}, "")
	if res.StatusCode != 409 {
		t.Fatalf("lost claim: %d", res.StatusCode)
	}
	var body struct {
		Error struct {
			Code         string                       `json:"code"`
			Alternatives []struct{ ID, Start string } `json:"alternatives"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatal(err)
	}
	alts := body.Error.Alternatives
	if body.Error.Code != "slot_taken" || len(alts) != 5 {
		t.Fatalf("answer: %s", res.Body)
	}
	last := time.Duration(0)
	for _, alt := range alts {
		at, err := time.Parse(time.RFC3339, alt.Start)
		if err != nil {
			t.Fatal(err)
		}
		d := at.Sub(mid.Start)
		if d < 0 {
			d = -d
		}
		if d < last || alt.ID == mid.ID || alt.ID == next.ID {
			t.Fatalf("alternatives not nearest first or include a taken start: %s", res.Body)
		}
		last = d
	}
	// The nearest free start is the one just before (the one after is taken).
	if prev := starts[k-1]; alts[0].ID != prev.ID {
		t.Fatalf("nearest is %s, want %s", alts[0].ID, prev.ID)
	}
}

// TestClaimFlight: a booking that finds another claim on its way for the
// same slot waits for it. If that claim failed (its own patient's rules),
// the waiting booking claims and books; if it booked the slot, the waiting
// one is told "just taken" with alternatives, without a claim of its own.
// A retry with an idempotency key never waits. The first claim is held by
// the test, so the order is certain.
func TestClaimFlight(t *testing.T) {
	f := newBookingFixture(t, nil)
	ts := f.ts
	ctx := context.Background()
	starts := f.starts(t, f.visit)
	a := ts.addUser(t, "flight-a@example.org", "Flight A", store.RolePatient, "").User
	b := ts.addUser(t, "flight-b@example.org", "Flight B", store.RolePatient, "").User
	book := func(u *store.User, slot, key string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := ts.srv.book(ctx, bookRequest{SlotID: slot, TypeID: f.visit.ID, Patient: u, ActorID: u.ID, Key: key})
			done <- err
		}()
		return done
	}
	waiting := func(done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("the booking did not wait for the claim on its way: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	appts := func() int { return countRows(t, ts, "appointments") }

	// The first claim fails: the waiting booking goes on and books.
	slot := starts[0].ID
	flight, err := ts.srv.claimTurn(ctx, slot, false, func() {})
	if err != nil || flight == nil {
		t.Fatalf("claimTurn: %v %v", flight, err)
	}
	done := book(b, slot, "")
	waiting(done)
	ts.srv.claimDone(slot, flight, false)
	if err := <-done; err != nil {
		t.Fatalf("after a failed first claim: %v", err)
	}

	// The first claim booked: the waiting booking is refused at once.
	slot = starts[1].ID
	flight, _ = ts.srv.claimTurn(ctx, slot, false, func() {})
	before := appts()
	done = book(a, slot, "")
	waiting(done)
	ts.srv.claimDone(slot, flight, true)
	var e *Error
	if err := <-done; !errors.As(err, &e) || e.Code != ECodeSlotTaken || len(e.Details["alternatives"].([]map[string]string)) == 0 {
		t.Fatalf("after a winning first claim: %v", err)
	}
	if appts() != before {
		t.Fatal("the refused booking wrote an appointment")
	}

	// An idempotent retry does not wait: the writer decides.
	slot = starts[2].ID
	flight, _ = ts.srv.claimTurn(ctx, slot, false, func() {})
	select {
	case err := <-book(a, slot, "retry-1"):
		if err != nil {
			t.Fatalf("idempotent booking beside a claim on its way: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an idempotent booking waited for another claim")
	}
	ts.srv.claimDone(slot, flight, false)

	// A booking whose context ends while it waits gives up.
	slot = starts[3].ID
	flight, _ = ts.srv.claimTurn(ctx, slot, false, func() {})
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := ts.srv.book(cctx, bookRequest{SlotID: slot, TypeID: f.visit.ID, Patient: b, ActorID: b.ID})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}
	ts.srv.claimDone(slot, flight, false)
}
