package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// wsWorld is a bookWorld with a secretary, the clock moved to 09:10 (Paris)
// two days after the real today, so "today", "yesterday" and "tomorrow" all
// have planning, whatever the hour the tests run.
type wsWorld struct {
	*bookWorld
	sec  *testUser
	cs   *http.Client // the secretary's browser
	cp   *http.Client // the practitioner's browser
	base string       // /pro/p/{id}
}

func newWSWorld(t *testing.T) *wsWorld {
	t.Helper()
	w := &wsWorld{bookWorld: newBookWorld(t)}
	w.sec = w.ts.addUser(t, "sam@example.org", "Sam Secretary", store.RoleSecretary, w.pid)
	w.cs, w.cp = w.ts.clientLang(t, "en"), w.ts.clientLang(t, "en")
	w.ts.login(t, w.cs, w.sec)
	w.ts.login(t, w.cp, w.pro)
	w.base = "/pro/p/" + w.pid
	return w
}

// moveClockTo advances the shared clock to hh:mm (practice time) of the
// real today + days.
func (w *wsWorld) moveClockTo(t *testing.T, days, hh, mm int) {
	t.Helper()
	now := w.ts.srv.clock()
	day := schedule.DayOf(time.Now().In(w.practiceTZ)).AddDays(days)
	target, ok := schedule.Local(day, hh*60+mm, w.practiceTZ)
	if !ok || !target.After(now) {
		t.Fatalf("cannot move the clock to %s %02d:%02d", day, hh, mm)
	}
	w.ts.clock.Advance(target.Sub(now))
	// Staff sessions end when idle: sign in again at the new time.
	w.cs, w.cp = w.ts.clientLang(t, "en"), w.ts.clientLang(t, "en")
	w.ts.login(t, w.cs, w.sec)
	w.ts.login(t, w.cp, w.pro)
}

// startAt returns the free start of typ at hh:mm on the practice's day
// real today + days.
func (w *wsWorld) startAt(t *testing.T, typ *store.AppointmentType, days int, hhmm string) schedule.Cell {
	t.Helper()
	p := w.practice(t)
	day := schedule.DayOf(time.Now().In(w.practiceTZ)).AddDays(days)
	cells, err := w.ts.srv.freeStarts(context.Background(), p, typ.Minutes, typ.BufferAfter, day, day, w.ts.srv.clock())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cells {
		if c.Start.In(w.practiceTZ).Format("15:04") == hhmm {
			return c
		}
	}
	t.Fatalf("no free start at %s on day +%d", hhmm, days)
	return schedule.Cell{}
}

func (w *wsWorld) auditCount(t *testing.T, action, objID string) int {
	t.Helper()
	return w.ts.rows(t, "audit", "action = ? AND object_id = ?", action, objID)
}

var rowClassRe = regexp.MustCompile(`<li class="ws-row ws-row-([a-z]+)" data-kind="([a-z]+)"(?: id="appt-([^"]+)")?>`)

// planningRows returns the rows of a planning page in order: class, kind, appointment id.
func planningRows(body string) [][3]string {
	var out [][3]string
	for _, m := range rowClassRe.FindAllStringSubmatch(body, -1) {
		out = append(out, [3]string{m[1], m[2], m[3]})
	}
	return out
}

func TestWorkspacePlanningViews(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	ctx := context.Background()
	// Yesterday (day +1): an unpaid teleconsultation and a visit the
	// patient will miss; today (day +2): one at 09:00 (current at 09:10)
	// and one at 11:00; tomorrow (day +3): one visit and a 14:00–16:00 block.
	tele := w.bookDirect(t, w.a, w.tele, w.startAt(t, w.tele, 1, "08:00").ID, "", "+33 6 12 34 56 78")
	missed := w.bookDirect(t, w.b, w.consult, w.startAt(t, w.consult, 1, "10:00").ID, "Dos", "")
	current := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 2, "09:00").ID, "", "")
	later := w.bookDirect(t, w.b, w.consult, w.startAt(t, w.consult, 2, "11:00").ID, "", "")
	tomorrow := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 3, "10:00").ID, "", "")
	w.moveClockTo(t, 2, 9, 10)
	p := w.practice(t)
	day3 := schedule.DayOf(time.Now().In(w.practiceTZ)).AddDays(3)
	from, _ := schedule.Local(day3, 14*60, w.practiceTZ)
	to, _ := schedule.Local(day3, 16*60, w.practiceTZ)
	if _, err := ts.srv.createBlocks(ctx, nil, p, w.pro.ID, []newBlock{{Start: from, End: to, Kind: "absence"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.markNoShow(ctx, &Actor{User: w.sec.User, Memberships: []store.Membership{{Role: store.RoleSecretary, PracticeID: w.pid}}}, missed, p, ""); err != nil {
		t.Fatal(err)
	}

	res := ts.get(t, w.cp, w.base+"/visits")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("planning: %d", res.StatusCode)
	}
	rows := planningRows(res.Body)
	index := map[string]int{}
	class := map[string]string{}
	blocks := 0
	for i, r := range rows {
		if r[2] != "" {
			if _, seen := index[r[2]]; !seen {
				index[r[2]] = i
				class[r[2]] = r[0]
			}
		}
		if r[1] == "block" {
			blocks++
		}
	}
	if class[current.ID] != "current" || index[current.ID] != 0 {
		t.Errorf("the current visit is not on top: class %q at %d", class[current.ID], index[current.ID])
	}
	if class[later.ID] != "today" {
		t.Errorf("today's later visit: class %q, want today (bronze)", class[later.ID])
	}
	if class[tomorrow.ID] != "later" {
		t.Errorf("tomorrow's visit: class %q, want later (green)", class[tomorrow.ID])
	}
	if blocks != 1 {
		t.Errorf("the 14:00–16:00 block shows as %d rows, want 1 (collapsed)", blocks)
	}
	if !strings.Contains(res.Body, "14:00–14:15 … 15:45–16:00") {
		t.Errorf("the collapsed block does not show its first and last slot")
	}
	if class[tele.ID] != "alert" || class[missed.ID] != "alert" {
		t.Errorf("past unpaid teleconsultation %q and no-show %q, want alert (red)", class[tele.ID], class[missed.ID])
	}
	if !(index[tele.ID] > index[tomorrow.ID] && index[missed.ID] > index[tomorrow.ID]) {
		t.Errorf("the past section is not after the upcoming one")
	}
	if !pageHas(res.Body, ts.text(t, "en", "ws.state.no_show")) || ts.text(t, "fr", "ws.state.no_show") != "ABSENCE INJUSTIFIÉE" {
		t.Errorf("the no-show label is missing, or not ABSENCE INJUSTIFIÉE in French")
	}
	if !strings.Contains(res.Body, `data-kind="free"`) {
		t.Errorf("no free slot shown to the staff")
	}
	// The home visits planner shows only when used.
	if pageHas(res.Body, ts.text(t, "en", "ws.home_heading")+"</h2>") {
		t.Errorf("an unused home visits planner shows")
	}
	if r := ts.post(t, w.cs, w.base+"/home-visits", url.Values{"text": {"Mme Martin 14h, 3 rue Neuve"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save home visits: %d", r.StatusCode)
	}
	res = ts.get(t, w.cp, w.base+"/visits")
	if !pageHas(res.Body, "Mme Martin 14h, 3 rue Neuve") {
		t.Errorf("the home visits text does not show in the planning")
	}
	if n := ts.rows(t, "home_visits", "CAST(body AS TEXT) LIKE '%Martin%'"); n != 0 {
		t.Errorf("the home visits text is stored in clear")
	}
	// The live fragment, the day sheet and the clinic day.
	res = ts.get(t, w.cs, w.base+"/visits/live")
	var frag struct{ HTML string }
	if err := json.Unmarshal([]byte(res.Body), &frag); err != nil || !strings.Contains(frag.HTML, "appt-"+later.ID) {
		t.Errorf("live fragment: %v %.200s", err, res.Body)
	}
	res = ts.get(t, w.cs, w.base+"/sheet")
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, w.b.Name) || !strings.Contains(res.Body, "ws-sheet") {
		t.Errorf("day sheet: %d", res.StatusCode)
	}
	res = ts.get(t, w.cs, w.base+"/day?date=nope")
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("clinic day with a bad date: %d", res.StatusCode)
	}
}

// TestWorkspaceClinicDay: a secretary serving two practitioners of one
// clinic sees their days side by side; a practice of the clinic she does
// not serve is not shown.
func TestWorkspaceClinicDay(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	ctx := context.Background()
	other := ts.addUser(t, "olive@example.org", "Dr Olive", store.RolePractitioner, "")
	third := ts.addUser(t, "tom@example.org", "Dr Tom", store.RolePractitioner, "")
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		o := &store.Organization{Name: "Centre Azur"}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		for _, id := range []string{w.pid, other.PracticeID, third.PracticeID} {
			if err := tx.SetPracticeOrganization(ctx, id, o.ID); err != nil {
				return err
			}
		}
		if err := tx.UpdatePracticeName(ctx, other.PracticeID, "Cabinet Olive", "Europe/Paris"); err != nil {
			return err
		}
		if err := tx.UpdatePracticeName(ctx, third.PracticeID, "Cabinet Tom", "Europe/Paris"); err != nil {
			return err
		}
		return tx.AddMembership(ctx, &store.Membership{UserID: w.sec.ID, Role: store.RoleSecretary, PracticeID: other.PracticeID})
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := ts.clientLang(t, "en")
	ts.login(t, cs, w.sec) // a fresh session: the new membership
	res := ts.get(t, cs, w.base+"/day")
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, "Cabinet Alba") || !pageHas(res.Body, "Cabinet Olive") {
		t.Fatalf("clinic day: %d", res.StatusCode)
	}
	if pageHas(res.Body, "Cabinet Tom") {
		t.Errorf("the clinic day shows a practice the secretary does not serve")
	}
	res = ts.get(t, cs, "/desk")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "/pro/p/"+other.PracticeID+"/visits") || !strings.Contains(res.Body, w.base+"/visits") {
		t.Errorf("/desk does not list both practices she serves: %d", res.StatusCode)
	}
}

func TestWorkspaceRaces(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	proTok, secTok := ts.token(t, w.pro), ts.token(t, w.sec)
	api := func(method, path, tok string, body any) response {
		var r *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		if r == nil {
			return ts.api(t, method, path, tok, nil)
		}
		return ts.api(t, method, path, tok, r)
	}

	t.Run("MoveSameAppointment", func(t *testing.T) {
		// Two secretaries looking at the same planning move the same
		// appointment at once, each to another slot: both requests read
		// the appointment before either change commits.
		p := w.practice(t)
		staff := []*Actor{
			{User: w.pro.User, Memberships: []store.Membership{{Role: store.RolePractitioner, PracticeID: w.pid}}},
			{User: w.sec.User, Memberships: []store.Membership{{Role: store.RoleSecretary, PracticeID: w.pid}}},
		}
		for round := 0; round < 4; round++ {
			appt := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 3, fmt.Sprintf("%02d:00", 8+round)).ID, "", "")
			seen := w.appointment(t, appt.ID)
			s1, s2 := w.startAt(t, w.consult, 4, fmt.Sprintf("%02d:00", 8+round)), w.startAt(t, w.consult, 4, fmt.Sprintf("%02d:00", 13+round))
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			for i, slot := range []string{s1.ID, s2.ID} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = ts.srv.move(context.Background(), staff[i], seen, p, slot, "")
				}()
			}
			close(start)
			wg.Wait()
			okN, winner := 0, ""
			for i, err := range errs {
				if err == nil {
					okN++
					winner = []string{s1.ID, s2.ID}[i]
					continue
				}
				e, _ := errorFrom(err)
				if e.Code != ECodeConflict || e.Message != "error.appointment_changed" {
					t.Errorf("the loser's answer: %v", err)
				}
			}
			if okN != 1 {
				t.Fatalf("round %d: %d moves succeeded, want exactly 1 (%v)", round, okN, errs)
			}
			got := w.appointment(t, appt.ID)
			slot, err := ts.db.FindSlotByID(context.Background(), winner)
			if err != nil || !got.Start.Equal(slot.Start) {
				t.Errorf("the appointment is at %v, the winner moved it to %v", got.Start, slot.Start)
			}
			if n := ts.rows(t, "slots", "appointment_id = ?", appt.ID); n != 2 { // 30 min of 15-min slots
				t.Errorf("the appointment holds %d slots, want 2", n)
			}
		}
		// Over HTTP, the one who comes second is told what happened.
		appt := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 5, "08:00").ID, "", "")
		if r := api("POST", "/api/v1/appointments/"+appt.ID+"/move", proTok, map[string]string{"slot_id": w.startAt(t, w.consult, 5, "12:00").ID}); r.StatusCode != 200 {
			t.Fatalf("move: %d %s", r.StatusCode, r.Body)
		}
		if r := api("POST", "/api/v1/appointments/"+appt.ID+"/cancel", secTok, nil); r.StatusCode != 200 {
			t.Fatalf("cancel: %d", r.StatusCode)
		}
		if r := api("POST", "/api/v1/appointments/"+appt.ID+"/move", proTok, map[string]string{"slot_id": w.startAt(t, w.consult, 5, "13:00").ID}); r.StatusCode != http.StatusConflict {
			t.Errorf("moving a cancelled appointment: %d %s", r.StatusCode, r.Body)
		}
	})
	t.Run("CancelTwice", func(t *testing.T) {
		appt := w.bookDirect(t, w.b, w.consult, w.startAt(t, w.consult, 5, "09:00").ID, "", "")
		r1 := ts.post(t, w.cs, w.base+"/appointments/"+appt.ID+"/cancel", nil)
		r2 := ts.post(t, w.cp, w.base+"/appointments/"+appt.ID+"/cancel", nil)
		if r1.StatusCode != http.StatusSeeOther || r2.StatusCode != http.StatusConflict {
			t.Errorf("cancel twice: %d then %d, want 303 then 409", r1.StatusCode, r2.StatusCode)
		}
		if !pageHas(r2.Body, ts.text(t, "en", "error.not_booked")) {
			t.Errorf("the second cancel does not say why")
		}
		if n := len(mailsTo(t, ts, w.b.Email, "appointment_cancelled_by_practice")); n != 1 {
			t.Errorf("%d cancellation e-mails, want 1", n)
		}
	})
	t.Run("PaidTwice", func(t *testing.T) {
		appt := w.bookDirect(t, w.a, w.tele, w.startAt(t, w.tele, 5, "10:00").ID, "", "+33 6 12 34 56 78")
		var wg sync.WaitGroup
		res := make([]response, 2)
		for i, tok := range []string{proTok, secTok} {
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = api("POST", "/api/v1/appointments/"+appt.ID+"/paid", tok, nil) }()
		}
		wg.Wait()
		codes := []int{res[0].StatusCode, res[1].StatusCode}
		if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
			t.Fatalf("paid twice at once: %v", codes)
		}
		if got := w.appointment(t, appt.ID); got.PaymentState != "paid" {
			t.Errorf("payment state %q", got.PaymentState)
		}
		if n := w.auditCount(t, "appointment.paid", appt.ID); n != 1 {
			t.Errorf("%d audit entries for paid, want 1", n)
		}
		r := api("POST", "/api/v1/appointments/"+appt.ID+"/unpaid", secTok, nil)
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"payment_state":"unpaid"`) {
			t.Errorf("back to unpaid: %d %s", r.StatusCode, r.Body)
		}
		if r := api("POST", "/api/v1/appointments/"+appt.ID+"/unpaid", secTok, nil); r.StatusCode != http.StatusConflict {
			t.Errorf("unpaid twice: %d", r.StatusCode)
		}
	})
	t.Run("NoShowFuture", func(t *testing.T) {
		appt := w.bookDirect(t, w.b, w.consult, w.startAt(t, w.consult, 5, "15:00").ID, "", "")
		r := api("POST", "/api/v1/appointments/"+appt.ID+"/no-show", secTok, nil)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "started") {
			t.Errorf("no-show on a future appointment: %d %s", r.StatusCode, r.Body)
		}
		if got := w.appointment(t, appt.ID); got.State != store.AppointmentBooked {
			t.Errorf("state %q", got.State)
		}
	})
}

// mailsTo returns the outbox messages to addr made from template.
func mailsTo(t *testing.T, ts *testServer, addr, template string) []*store.OutboxMessage {
	t.Helper()
	list, err := ts.db.FindOutbox(context.Background(), store.OutboxFilter{To: addr})
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.OutboxMessage
	for _, m := range list {
		if m.Template == template {
			out = append(out, m)
		}
	}
	return out
}

func TestWorkspaceNoShowAndPaidEvents(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	appt := w.bookDirect(t, w.a, w.tele, w.startAt(t, w.tele, 1, "09:00").ID, "", "+33 6 12 34 56 78")
	sub := ts.srv.live.subscribe([]string{w.pid})
	defer ts.srv.live.unsubscribe(sub)
	w.moveClockTo(t, 1, 9, 5)
	if r := ts.post(t, w.cs, w.base+"/appointments/"+appt.ID+"/no-show", url.Values{"next": {w.base + "/visits"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("no-show: %d %s", r.StatusCode, mainOf(r.Body))
	}
	if r := ts.post(t, w.cs, w.base+"/appointments/"+appt.ID+"/no-show", nil); r.StatusCode != http.StatusConflict {
		t.Errorf("no-show twice: %d", r.StatusCode)
	}
	if r := ts.post(t, w.cs, w.base+"/appointments/"+appt.ID+"/paid", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("paid: %d", r.StatusCode)
	}
	for _, want := range []string{EventNoShow, EventPaid} {
		select {
		case got := <-sub.ch:
			if got != want {
				t.Errorf("live event %q, want %q", got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no live event %s", want)
		}
	}
	if got := w.appointment(t, appt.ID); got.State != store.AppointmentNoShow || got.PaymentState != "paid" {
		t.Errorf("after no-show and paid: %s %s", got.State, got.PaymentState)
	}
	if w.auditCount(t, "appointment.no_show", appt.ID) != 1 {
		t.Errorf("the no-show is not audited")
	}
	// The patient card counts it.
	res := ts.get(t, w.cp, w.base+"/patients/"+w.a.ID)
	if !pageHas(res.Body, ts.text(t, "en", "ws.card_no_shows", "Count", 1)) {
		t.Errorf("the patient card does not count the absence")
	}
}

func TestWorkspacePhoneBookingAndBan(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	w.updateSettings(t, func(st *store.Settings) { st.BookingMode = "allowlist" })
	slot := w.startAt(t, w.consult, 2, "10:00")
	form := url.Values{"type_id": {w.consult.ID}, "slot_id": {slot.ID}, "email": {"new.patient@example.org"}, "reason": {"Première visite"}}
	r := ts.post(t, w.cs, w.base+"/book", form)
	if r.StatusCode != http.StatusUnprocessableEntity || !pageHas(r.Body, ts.text(t, "en", "error.ws_new_patient_name")) {
		t.Fatalf("a new patient without a name: %d", r.StatusCode)
	}
	form.Set("name", "Nadia Nouvelle")
	form.Set("invite", "1")
	r = ts.post(t, w.cs, w.base+"/book", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("phone booking: %d %s", r.StatusCode, mainOf(r.Body))
	}
	u, err := ts.db.FindUserByEmail(context.Background(), "new.patient@example.org")
	if err != nil || u.PasswordHash != "" {
		t.Fatalf("the new patient: %v (password set: %v)", err, u != nil && u.PasswordHash != "")
	}
	list, _ := ts.db.FindAppointments(context.Background(), store.AppointmentFilter{PatientID: u.ID})
	if len(list) != 1 || list[0].Source != "staff" || !list[0].Start.Equal(slot.Start) {
		t.Fatalf("the phone appointment: %+v", list)
	}
	if n := len(mailsTo(t, ts, u.Email, "ws_patient_invite")); n != 1 || !strings.Contains(mailLink(t, mailsTo(t, ts, u.Email, "ws_patient_invite")[0]), "/reset/confirm?token=") {
		t.Errorf("%d invitation e-mails", n)
	}
	if ts.rows(t, "audit", "action = 'patient.created_by_staff' AND object_id = ?", u.ID) != 1 {
		t.Errorf("the patient's creation is not audited")
	}
	if ts.rows(t, "allowlist", "practice_id = ? AND email = ?", w.pid, u.Email) != 1 {
		t.Errorf("in allowlist mode, the phone-booked patient's address is not registered")
	}
	w.updateSettings(t, func(st *store.Settings) { st.BookingMode = "free" })

	// Ban then the patient cannot book online; unban and she can.
	book := func() error {
		_, err := ts.srv.book(context.Background(), bookRequest{SlotID: w.startAt(t, w.consult, 3, "11:00").ID, TypeID: w.consult.ID, Patient: w.a.User, ActorID: w.a.ID})
		return err
	}
	w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 2, "15:00").ID, "", "")
	if r := ts.post(t, w.cs, w.base+"/patients/"+w.a.ID+"/ban", url.Values{"reason": {""}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("ban without reason: %d", r.StatusCode)
	}
	if r := ts.post(t, w.cs, w.base+"/patients/"+w.a.ID+"/ban", url.Values{"reason": {"Insultes au secrétariat"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("ban: %d", r.StatusCode)
	}
	if err := book(); err == nil || !strings.Contains(err.Error(), "error.banned") {
		t.Errorf("a banned patient booked: %v", err)
	}
	// Search without accents finds the phone-booked patient.
	res := ts.get(t, w.cs, w.base+"/patients?q=N%C3%A0DIA-nouv")
	if !pageHas(res.Body, "Nadia Nouvelle") || pageHas(res.Body, w.b.Name) {
		t.Errorf("patient search by part of the name")
	}
	res = ts.get(t, w.cs, w.base+"/patients?q=NEW.PATIENT")
	if !pageHas(res.Body, "Nadia Nouvelle") {
		t.Errorf("patient search by e-mail")
	}
	res = ts.get(t, w.cs, w.base+"/patients?q=noemie")
	if pageHas(res.Body, "Nadia Nouvelle") {
		t.Errorf("patient search lists a patient who does not match")
	}
	res = ts.get(t, w.cp, w.base+"/patients/"+w.a.ID)
	if !pageHas(res.Body, "Insultes au secrétariat") {
		t.Errorf("the card does not show the ban's reason")
	}
	if r := ts.api(t, "DELETE", "/api/v1/practices/"+w.pid+"/bans/"+w.a.ID, ts.token(t, w.sec), nil); r.StatusCode != http.StatusNoContent {
		t.Errorf("unban by API: %d", r.StatusCode)
	}
	if err := book(); err != nil {
		t.Errorf("after the unban: %v", err)
	}
	if ts.rows(t, "audit", "action IN ('patient.banned', 'patient.unbanned') AND object_id = ?", w.a.ID) != 2 {
		t.Errorf("ban and unban are not both audited")
	}
}

func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	other := ts.addUser(t, "yann@example.org", "Dr Yann", store.RolePractitioner, "")
	ctx := context.Background()
	typ := &store.AppointmentType{PracticeID: other.PracticeID, Name: "Visite", Minutes: 15, Currency: "EUR", NewPatients: true}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateType(ctx, typ) }); err != nil {
		t.Fatal(err)
	}
	// An appointment of practice Y, written straight to the store.
	var yAppt *store.Appointment
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		yAppt = &store.Appointment{PracticeID: other.PracticeID, PatientID: w.b.ID, TypeID: typ.ID, Start: time.Now().Add(-time.Hour), End: time.Now().Add(-45 * time.Minute)}
		return tx.CreateAppointment(ctx, yAppt)
	}); err != nil {
		t.Fatal(err)
	}
	yBase := "/pro/p/" + other.PracticeID
	for _, path := range []string{yBase + "/visits", yBase + "/patients", yBase + "/patients/" + w.b.ID, yBase + "/allowlist", yBase + "/day", yBase + "/sheet"} {
		if r := ts.get(t, w.cs, path); r.StatusCode != http.StatusNotFound {
			t.Errorf("the secretary of X opens %s of Y: %d", path, r.StatusCode)
		}
	}
	if n := ts.rows(t, "audit", "action = 'practice.denied' AND object_id = ? AND actor_id = ?", other.PracticeID, w.sec.ID); n != 6 {
		t.Errorf("%d refusals on Y's pages audited, want 6", n)
	}
	// Y's appointment through X's own pages and through the API: 404, audited.
	for _, path := range []string{"/no-show", "/paid", "/cancel"} {
		if r := ts.post(t, w.cs, w.base+"/appointments/"+yAppt.ID+path, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("X's page on Y's appointment %s: %d", path, r.StatusCode)
		}
	}
	secTok := ts.token(t, w.sec)
	for _, path := range []string{"/no-show", "/paid", "/unpaid", "/cancel"} {
		if r := ts.api(t, "POST", "/api/v1/appointments/"+yAppt.ID+path, secTok, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("API %s on Y's appointment: %d", path, r.StatusCode)
		}
	}
	if r := ts.api(t, "GET", "/api/v1/practices/"+other.PracticeID+"/bans", secTok, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("Y's bans: %d", r.StatusCode)
	}
	if n := ts.rows(t, "audit", "action = 'appointment.denied' AND object_id = ? AND actor_id = ?", yAppt.ID, w.sec.ID); n < 7 {
		t.Errorf("%d denied attempts audited, want 7", n)
	}
	if got, _ := ts.db.FindAppointmentByID(ctx, yAppt.ID); got.State != store.AppointmentBooked || got.PaymentState != "none" {
		t.Errorf("Y's appointment changed: %s %s", got.State, got.PaymentState)
	}
	// A patient of X (not of Y) is not Y's: its card answers 404 to Y's staff.
	cy := ts.clientLang(t, "en")
	ts.login(t, cy, other)
	if r := ts.get(t, cy, yBase+"/patients/"+w.a.ID); r.StatusCode != http.StatusNotFound {
		t.Errorf("Y opens the card of X's patient: %d", r.StatusCode)
	}
	// A patient reaches no staff route.
	for _, path := range []string{w.base + "/visits", w.base + "/patients", w.base + "/book", "/desk"} {
		if r := ts.get(t, w.ca, path); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusForbidden {
			t.Errorf("a patient opens %s: %d", path, r.StatusCode)
		}
	}
	if r := ts.get(t, w.ca, w.base+"/visits/events?once=1"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a patient opens the event stream: %d", r.StatusCode)
	}
}

func TestWorkspaceBadInput(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	t.Run("CSVImport", func(t *testing.T) {
		csv := "name;email\nAnne;anne@example.org\nBad;not-an-email\n\"Quote;broken@example\nCarl;carl@example.org\n;\nDora;dora@@example.org\n"
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "patients.csv")
		fw.Write([]byte(csv))
		mw.Close()
		req, _ := http.NewRequest("POST", ts.URL+w.base+"/allowlist/import", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", ts.URL)
		res := ts.do(t, w.cs, req)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("import: %d", res.StatusCode)
		}
		for _, want := range []string{"Line 3: “not-an-email”", "Line 7: “dora@@example.org”"} {
			if !pageHas(res.Body, want) {
				t.Errorf("the import does not report %q: %s", want, mainOf(res.Body))
			}
		}
		for _, e := range []string{"anne@example.org", "carl@example.org"} {
			if ts.rows(t, "allowlist", "practice_id = ? AND email = ?", w.pid, e) != 1 {
				t.Errorf("good line %s not imported", e)
			}
		}
		if ts.rows(t, "allowlist", "practice_id = ?", w.pid) != 2 {
			t.Errorf("bad lines imported")
		}
	})
	t.Run("Paste10000", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < 10000; i++ {
			fmt.Fprintf(&b, "patient%05d@example.org\n", i)
		}
		start := time.Now()
		res := ts.post(t, w.cs, w.base+"/allowlist", url.Values{"emails": {b.String()}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("paste 10,000: %d %s", res.StatusCode, mainOf(res.Body))
		}
		t.Logf("10,000 pasted addresses stored in %v", time.Since(start))
		if n := ts.rows(t, "allowlist", "practice_id = ? AND email LIKE 'patient%'", w.pid); n != 10000 {
			t.Errorf("%d stored, want 10000", n)
		}
		res = ts.get(t, w.cs, w.base+"/allowlist?q=patient0999")
		if !pageHas(res.Body, "patient09999@example.org") {
			t.Errorf("the allowlist search does not find an address")
		}
	})
	t.Run("PasteMixed", func(t *testing.T) {
		res := ts.post(t, w.cs, w.base+"/allowlist", url.Values{"emails": {"ok1@example.org, bad@\nok2@example.org;nope"}})
		if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, "Line 1: “bad@”") || !pageHas(res.Body, "Line 2: “nope”") {
			t.Errorf("mixed paste: %d %s", res.StatusCode, mainOf(res.Body))
		}
		if ts.rows(t, "allowlist", "practice_id = ? AND email IN ('ok1@example.org', 'ok2@example.org')", w.pid) != 2 {
			t.Errorf("the good addresses of a mixed paste are lost")
		}
	})
	t.Run("SelfAndRemove", func(t *testing.T) {
		if r := ts.post(t, w.cs, w.base+"/allowlist", url.Values{"self": {"1"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("add own address: %d", r.StatusCode)
		}
		if ts.rows(t, "allowlist", "practice_id = ? AND email = ?", w.pid, w.sec.Email) != 1 {
			t.Errorf("the secretary's own address is not on the list")
		}
		if r := ts.post(t, w.cs, w.base+"/allowlist/remove", url.Values{"email": {w.sec.Email}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("remove: %d", r.StatusCode)
		}
		if ts.rows(t, "allowlist", "practice_id = ? AND email = ?", w.pid, w.sec.Email) != 0 {
			t.Errorf("the address is still there")
		}
	})
	t.Run("BlockEndBeforeStart", func(t *testing.T) {
		day := schedule.DayOf(time.Now().In(w.practiceTZ)).AddDays(3).String()
		res := ts.post(t, w.cs, w.base+"/absences", url.Values{"mode": {"range"}, "start_date": {day}, "start_time": {"15:00"}, "end_date": {day}, "end_time": {"14:00"}})
		if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", "error.block_order")) {
			t.Errorf("block ending before it starts: %d", res.StatusCode)
		}
		if ts.rows(t, "blocks", "practice_id = ?", w.pid) != 0 {
			t.Errorf("a bad block was stored")
		}
	})
	t.Run("MoveToAnotherPractitioner", func(t *testing.T) {
		other := ts.addUser(t, "zoe@example.org", "Dr Zoé", store.RolePractitioner, "")
		ctx := context.Background()
		op := mustPractice(t, ts, other.PracticeID)
		week := map[string][][2]string{}
		for _, d := range schedule.WeekdayKeys {
			week[d] = [][2]string{{"08:00", "20:00"}}
		}
		spec, _ := parseSpec(hoursSpec{"": week})
		if _, err := ts.srv.changeHours(ctx, op, ts.srv.today(op, ts.srv.clock()), spec, ""); err != nil {
			t.Fatal(err)
		}
		if err := ts.srv.generateInitial(ctx, op.ID, "", nil); err != nil {
			t.Fatal(err)
		}
		slots, err := ts.db.FindSlots(ctx, op.ID, time.Now().Add(48*time.Hour), time.Now().Add(72*time.Hour))
		if err != nil || len(slots) == 0 {
			t.Fatalf("slots of the other practice: %v", err)
		}
		appt := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 3, "09:00").ID, "", "")
		res := ts.post(t, w.cs, w.base+"/appointments/"+appt.ID+"/move", url.Values{"slot_id": {slots[0].ID}})
		if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", "error.slot_unknown")) {
			t.Errorf("move to another practitioner's slot: %d", res.StatusCode)
		}
		if got := w.appointment(t, appt.ID); !got.Start.Equal(appt.Start) {
			t.Errorf("the appointment moved")
		}
	})
	t.Run("NoteAndMailing", func(t *testing.T) {
		w.bookDirect(t, w.b, w.consult, w.startAt(t, w.consult, 4, "09:00").ID, "", "")
		if r := ts.post(t, w.cs, w.base+"/patients/"+w.b.ID+"/notes", url.Values{"note": {strings.Repeat("x", noteMax+1)}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("a too long note: %d", r.StatusCode)
		}
		if r := ts.post(t, w.cs, w.base+"/patients/"+w.b.ID+"/notes", url.Values{"note": {"Allergie pénicilline"}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("note: %d", r.StatusCode)
		}
		if ts.rows(t, "staff_notes", "CAST(body AS TEXT) LIKE '%nicilline%'") != 0 || ts.rows(t, "staff_notes", "patient_id = ?", w.b.ID) != 1 {
			t.Errorf("the staff note is not stored, or stored in clear")
		}
		if r := ts.get(t, w.cp, w.base+"/patients/"+w.b.ID); !pageHas(r.Body, "Allergie pénicilline") {
			t.Errorf("the card does not show the note")
		}
		if r := ts.post(t, w.cs, w.base+"/mailing", url.Values{"subject": {""}, "body": {"x"}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("mailing without subject: %d", r.StatusCode)
		}
		if r := ts.get(t, w.cs, w.base+"/patients?q="+strings.Repeat("a", 101)); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("too long search: %d", r.StatusCode)
		}
	})
}

func TestWorkspaceMailing(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	ctx := context.Background()
	// 65 patients with an appointment each (written straight to the store).
	var emails []string
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		for i := 0; i < 65; i++ {
			u := &store.User{Email: fmt.Sprintf("m%02d@example.org", i), Name: fmt.Sprintf("Patient %02d", i), Locale: "fr"}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			emails = append(emails, u.Email)
			a := &store.Appointment{PracticeID: w.pid, PatientID: u.ID, TypeID: w.consult.ID, Start: time.Now().Add(-48 * time.Hour), End: time.Now().Add(-47 * time.Hour), State: store.AppointmentAttended}
			if err := tx.CreateAppointment(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"subject": {"Fermeture en août"}, "body": {"Le cabinet sera fermé du 1er au 15 août.\n\nBonnes vacances."}}
	if r := ts.post(t, w.cs, w.base+"/mailing", form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("mailing: %d %s", r.StatusCode, mainOf(r.Body))
	}
	m := mailsTo(t, ts, "m00@example.org", "ws_mailing")
	if len(m) != 1 {
		t.Fatalf("%d mailing messages to m00", len(m))
	}
	unsub := m[0].Headers["List-Unsubscribe"]
	if !strings.HasPrefix(unsub, "<"+ts.cfg.Server.BaseURL+"/unsubscribe/") || m[0].Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("headers: %v", m[0].Headers)
	}
	if strings.Contains(unsub, "m00") || strings.Contains(unsub, "example.org/") {
		t.Errorf("the unsubscribe link carries the address: %s", unsub)
	}
	if !strings.Contains(m[0].TextBody, "fermé du 1er au 15 août") || !strings.Contains(m[0].TextBody, strings.Trim(unsub, "<>")) {
		t.Errorf("the message lacks its text or its unsubscribe link")
	}
	// Spread: the 61st recipient waits a minute.
	last := mailsTo(t, ts, "m64@example.org", "ws_mailing")[0]
	if !last.NextAttemptAt.After(m[0].NextAttemptAt.Add(50 * time.Second)) {
		t.Errorf("the 65th recipient is not delayed: %v vs %v", last.NextAttemptAt, m[0].NextAttemptAt)
	}
	if r := ts.post(t, w.cp, w.base+"/mailing", form); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second mailing within the hour: %d", r.StatusCode)
	}
	// The one-click unsubscribe as a mail client sends it (no cookie, no Origin).
	link := strings.Trim(unsub, "<>")
	res, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("one-click unsubscribe: %v %v", err, res)
	}
	res.Body.Close()
	ts.clock.Advance(61 * time.Minute)
	cs := ts.clientLang(t, "en") // the idle staff session ended
	ts.login(t, cs, w.sec)
	if r := ts.post(t, cs, w.base+"/mailing", form); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != w.base+"/mailing" {
		t.Fatalf("mailing an hour later: %d", r.StatusCode)
	}
	if n := len(mailsTo(t, ts, "m00@example.org", "ws_mailing")); n != 1 {
		t.Errorf("the unsubscribed address got %d mailings, want 1", n)
	}
	if n := len(mailsTo(t, ts, "m01@example.org", "ws_mailing")); n != 2 {
		t.Errorf("another address got %d mailings, want 2", n)
	}
	if ts.rows(t, "audit", "action = 'mailing.sent'") != 2 {
		t.Errorf("mailings not audited")
	}
}

func TestWorkspaceSecretaries(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	// Seed 004: the future secretary registered as a patient and booked.
	sara := ts.addUser(t, "sara@example.org", "Sara Future", store.RolePatient, "")
	w.bookDirect(t, sara, w.consult, w.startAt(t, w.consult, 3, "09:00").ID, "", "")
	res := ts.get(t, w.cp, w.base+"/secretaries")
	if !pageHas(res.Body, "Sara Future — sara@example.org") {
		t.Fatalf("the future secretary is not among the candidates")
	}
	if r := ts.post(t, w.cp, w.base+"/secretaries", url.Values{"user_id": {w.b.ID + "x"}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("an unknown candidate: %d", r.StatusCode)
	}
	if r := ts.post(t, w.cp, w.base+"/secretaries", url.Values{"user_id": {sara.ID}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("affiliate: %d", r.StatusCode)
	}
	cs := ts.clientLang(t, "en")
	ts.login(t, cs, sara)
	if r := ts.get(t, cs, w.base+"/visits"); r.StatusCode != http.StatusOK {
		t.Errorf("the new secretary's planning: %d", r.StatusCode)
	}
	// A secretary cannot manage the secretaries.
	if r := ts.get(t, cs, w.base+"/secretaries"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a secretary opens the secretaries page: %d", r.StatusCode)
	}
	// Invite by e-mail: a new account, without password, invited.
	if r := ts.post(t, w.cp, w.base+"/secretaries", url.Values{"email": {"ines@example.org"}, "name": {"Inès"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite: %d", r.StatusCode)
	}
	ines, err := ts.db.FindUserByEmail(context.Background(), "ines@example.org")
	if err != nil || ines.PasswordHash != "" {
		t.Fatalf("the invited secretary: %v", err)
	}
	if len(mailsTo(t, ts, "ines@example.org", "ws_secretary_invite")) != 1 {
		t.Errorf("no invitation e-mail")
	}
	// Removed: she loses the planning at her next request.
	if r := ts.post(t, w.cp, w.base+"/secretaries/"+sara.ID+"/remove", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.StatusCode)
	}
	if r := ts.get(t, cs, w.base+"/visits"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a removed secretary still opens the planning: %d", r.StatusCode)
	}
	if ts.rows(t, "audit", "action IN ('secretary.added', 'secretary.removed')") != 3 {
		t.Errorf("secretary changes are not all audited")
	}
}

// TestWorkspaceEventStream reads the planning's event stream over HTTP: a
// booking by a patient reaches it as an event without patient data.
func TestWorkspaceEventStream(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	req, _ := http.NewRequest("GET", ts.URL+w.base+"/visits/events", nil)
	c := *w.cp
	c.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(res.Body)
	for ts.srv.live.open() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 3, "09:00").ID, "Migraine", "")
	var got []string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read the stream: %v (got %q)", err, got)
		}
		got = append(got, line)
		if strings.HasPrefix(line, "data: ") {
			if strings.TrimSpace(line) != "data: "+EventCreated {
				t.Errorf("event data %q", line)
			}
			break
		}
	}
	all := strings.Join(got, "")
	if !strings.Contains(all, "event: change") || strings.Contains(all, w.a.Name) || strings.Contains(all, "Migraine") {
		t.Errorf("the stream: %q", all)
	}
	// A slow reader never blocks the writers: its buffer is bounded.
	sub := ts.srv.live.subscribe([]string{w.pid})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			ts.srv.live.publish(w.pid, EventMoved)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing to a slow view blocked")
	}
	if len(sub.ch) != liveBuffer {
		t.Errorf("a slow view holds %d events, want the bound %d", len(sub.ch), liveBuffer)
	}
	ts.srv.live.unsubscribe(sub)
}

// TestWorkspaceLiveCache: the rendered planning is shared by concurrent
// views, and a change shows at once (the cache follows the practice's
// change count), whoever asks.
func TestWorkspaceLiveCache(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	live := func(c *http.Client) string {
		res := ts.get(t, c, w.base+"/visits/live")
		var frag struct{ HTML string }
		if err := json.Unmarshal([]byte(res.Body), &frag); err != nil {
			t.Errorf("live fragment: %d %v", res.StatusCode, err)
		}
		return frag.HTML
	}
	first := live(w.cs)
	var wg sync.WaitGroup
	pages := make([]string, 8)
	for i := range pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := w.cs
			if i%2 == 1 {
				c = w.cp
			}
			pages[i] = live(c)
			if i == 3 {
				ts.srv.live.publish(w.pid, "test")
			}
		}()
	}
	wg.Wait()
	for i, p := range pages {
		if p != first {
			t.Errorf("view %d differs from the first without any change", i)
		}
	}
	appt := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 1, "10:00").ID, "", "")
	if !strings.Contains(live(w.cp), "appt-"+appt.ID) {
		t.Errorf("a booking does not show at once in the shared planning")
	}
	staff := &Actor{User: w.sec.User, Memberships: []store.Membership{{Role: store.RoleSecretary, PracticeID: w.pid}}}
	if err := ts.srv.cancel(context.Background(), staff, appt, w.practice(t), ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(live(w.cs), "appt-"+appt.ID) {
		t.Errorf("a cancellation does not show at once")
	}
}

// TestWorkspaceStreamOutlivesReadTimeout: behind a server with a short
// ReadTimeout (the binary has 60 s), an open stream still delivers changes
// after that timeout.
func TestWorkspaceStreamOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	w := newWSWorld(t)
	ts := w.ts
	hs := httptest.NewUnstartedServer(ts.srv.Handler())
	hs.Config.ReadTimeout = 500 * time.Millisecond
	hs.Start()
	defer hs.Close()
	u, _ := url.Parse(ts.URL)
	req, _ := http.NewRequest("GET", hs.URL+w.base+"/visits/events", nil)
	for _, c := range w.cs.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, res)
	}
	defer res.Body.Close()
	time.Sleep(1500 * time.Millisecond)
	ts.srv.live.publish(w.pid, EventMoved)
	rd := bufio.NewReader(res.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after the read timeout: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
}
