package app

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"daraport/store"
)

// cardOf returns the <li> card of an appointment in the list page, or "".
func cardOf(body, id string) string {
	re := regexp.MustCompile(`(?s)<li class="([^"]*)" id="appt-` + regexp.QuoteMeta(id) + `">(.*?)</li>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return `class="` + m[1] + `"` + m[2]
}

func TestMyAppointmentsList(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	// Two that will be past, one cancelled, two upcoming; Bruno has his own.
	pastTele := w.bookDirect(t, w.a, w.tele, w.starts(t, w.tele, 2)[0].ID, "", "+33 6 00 00 00 01")
	pastVisit := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 3)[0].ID, "", "")
	cancelled := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 12)[0].ID, "", "")
	later := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 14)[0].ID, "<script>alert(1)</script>", "")
	soon := w.bookDirect(t, w.a, w.tele, w.starts(t, w.tele, 10)[0].ID, "", "+33 6 00 00 00 02")
	brunos := w.bookDirect(t, w.b, w.consult, w.starts(t, w.consult, 11)[0].ID, "", "")
	res := ts.post(t, w.ca, "/appointments/"+cancelled.ID+"/cancel", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", res.StatusCode)
	}
	ts.clock.Advance(5 * 24 * time.Hour)
	ts.login(t, w.ca, w.a) // the session ended while the clock ran

	res = ts.get(t, w.ca, "/appointments")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", res.StatusCode)
	}
	body := res.Body
	pos := func(id string) int { return strings.Index(body, `id="appt-`+id+`"`) }
	up, past := strings.Index(body, `id="upcoming"`), strings.Index(body, `id="past"`)
	// Upcoming soonest first, then past newest first.
	order := []string{soon.ID, cancelled.ID, later.ID, pastVisit.ID, pastTele.ID}
	for i, id := range order {
		if pos(id) < 0 {
			t.Fatalf("appointment %d of the list is missing", i)
		}
		if i > 0 && pos(id) < pos(order[i-1]) {
			t.Errorf("appointment %d is listed before %d", i, i-1)
		}
	}
	if !(up < pos(soon.ID) && pos(later.ID) < past && past < pos(pastVisit.ID)) {
		t.Error("upcoming and past appointments are not in their sections")
	}
	if pos(brunos.ID) >= 0 {
		t.Error("another patient's appointment is listed")
	}
	// Unpaid teleconsultations in red, upcoming or past; cancelled struck.
	for _, id := range []string{soon.ID, pastTele.ID} {
		if c := cardOf(body, id); !strings.Contains(c, "appt-unpaid") || !pageHas(c, en("appts.unpaid")) {
			t.Errorf("unpaid teleconsultation not marked: %s", c)
		}
	}
	if c := cardOf(body, pastVisit.ID); strings.Contains(c, "appt-unpaid") {
		t.Error("an office visit is marked unpaid")
	}
	if c := cardOf(body, cancelled.ID); !strings.Contains(c, "appt-cancelled") || !pageHas(c, en("appts.state.cancelled")) ||
		strings.Contains(c, "/cancel\"") || strings.Contains(c, "/move\"") {
		t.Errorf("cancelled appointment: not struck, or still offers actions: %s", c)
	}
	c := cardOf(body, later.ID)
	for _, want := range []string{"/appointments/" + later.ID + "/cancel", "/appointments/" + later.ID + "/move", "Cabinet Alba", "Consultation",
		ts.srv.bookWhen("en", later.Start, w.practiceTZ)} {
		if !strings.Contains(html2text(c), want) {
			t.Errorf("upcoming card lacks %q", want)
		}
	}
	if cp := cardOf(body, pastVisit.ID); strings.Contains(cp, "/cancel") || strings.Contains(cp, "/move") {
		t.Error("a past appointment offers cancel or move")
	}
	// HTML in a reason is escaped wherever it shows.
	detail := ts.get(t, w.ca, "/appointments/"+later.ID)
	if strings.Contains(detail.Body, "<script>alert(1)</script>") || !strings.Contains(detail.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the reason's HTML is not escaped on the appointment page")
	}
}

func TestMyAppointmentsCancel(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	state := func(id string) string { return w.appointment(t, id).State }

	t.Run("Allowed", func(t *testing.T) {
		a := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 3)[0].ID, "", "")
		res := ts.get(t, w.ca, "/appointments/"+a.ID+"/cancel")
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `id="cancel-submit"`) || state(a.ID) != store.AppointmentBooked {
			t.Fatalf("cancel step: %d (a GET must change nothing)", res.StatusCode)
		}
		res = ts.post(t, w.ca, "/appointments/"+a.ID+"/cancel", nil)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/appointments" {
			t.Fatalf("cancel: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if state(a.ID) != store.AppointmentCancelled {
			t.Fatal("not cancelled")
		}
		list := ts.get(t, w.ca, "/appointments")
		if !pageHas(list.Body, en("flash.appt_cancelled")) || !strings.Contains(cardOf(list.Body, a.ID), "appt-cancelled") {
			t.Error("after cancelling: no message, or not struck in the list")
		}
		// The freed time can be booked again.
		w.bookDirect(t, w.b, w.consult, w.starts(t, w.consult, 3)[0].ID, "", "")
		// Cancelling twice: a clear message, not an error page.
		if res := ts.post(t, w.ca, "/appointments/"+a.ID+"/cancel", nil); res.StatusCode != http.StatusConflict || !pageHas(res.Body, en("error.not_booked")) {
			t.Errorf("second cancel: %d", res.StatusCode)
		}
	})

	t.Run("PracticeForbids", func(t *testing.T) {
		w.updateSettings(t, func(st *store.Settings) { st.PatientCanCancel = false })
		defer w.updateSettings(t, func(st *store.Settings) { st.PatientCanCancel = true })
		a := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 4)[0].ID, "", "")
		card := cardOf(ts.get(t, w.ca, "/appointments").Body, a.ID)
		if strings.Contains(card, "/cancel\"") || !pageHas(card, en("appts.cancel_not_offered")) || !pageHas(card, "+33 4 93 00 00 00") {
			t.Errorf("list: cancel offered, or no note with the phone: %s", card)
		}
		if !strings.Contains(card, "/move\"") {
			t.Error("moving is allowed before the cut-off even when cancelling is not")
		}
		page := ts.get(t, w.ca, "/appointments/"+a.ID+"/cancel")
		if strings.Contains(page.Body, `id="cancel-submit"`) || !pageHas(page.Body, en("appts.cancel_not_offered")) {
			t.Error("cancel step offers a button the practice forbids")
		}
		res := ts.post(t, w.ca, "/appointments/"+a.ID+"/cancel", nil)
		if res.StatusCode != http.StatusForbidden || !pageHas(res.Body, en("error.cancel_not_allowed", "Phone", "+33 4 93 00 00 00")) {
			t.Errorf("forbidden cancel: %d", res.StatusCode)
		}
		if state(a.ID) != store.AppointmentBooked {
			t.Error("a forbidden cancel cancelled")
		}
		// The practice's staff may still cancel it.
		staff := ts.client(t)
		ts.login(t, staff, w.pro)
		if res := ts.post(t, staff, "/appointments/"+a.ID+"/cancel", nil); res.StatusCode != http.StatusSeeOther || state(a.ID) != store.AppointmentCancelled {
			t.Errorf("staff cancel: %d", res.StatusCode)
		}
	})

	t.Run("AfterCutoff", func(t *testing.T) {
		a := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 5)[0].ID, "", "")
		w.updateSettings(t, func(st *store.Settings) { st.CancelCutoffHours = 24 * 30 })
		defer w.updateSettings(t, func(st *store.Settings) { st.CancelCutoffHours = 24 })
		card := cardOf(ts.get(t, w.ca, "/appointments").Body, a.ID)
		if strings.Contains(card, "/cancel\"") || strings.Contains(card, "/move\"") || !pageHas(card, en("appts.changes_cutoff", "Hours", 720)) {
			t.Errorf("list after the cut-off: %s", card)
		}
		res := ts.post(t, w.ca, "/appointments/"+a.ID+"/cancel", nil)
		if res.StatusCode != http.StatusConflict || !pageHas(res.Body, en("error.cancel_too_late", "Hours", 720, "Phone", "+33 4 93 00 00 00")) {
			t.Errorf("late cancel: %d", res.StatusCode)
		}
		if state(a.ID) != store.AppointmentBooked {
			t.Error("a late cancel cancelled")
		}
		mv := ts.get(t, w.ca, "/appointments/"+a.ID+"/move")
		if !pageHas(mv.Body, en("appts.changes_cutoff", "Hours", 720)) || strings.Contains(mv.Body, "/move?slot=") {
			t.Error("the move page offers times after the cut-off")
		}
	})
}

func TestMyAppointmentsMove(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	orig := w.starts(t, w.tele, 3)[0]
	a := w.bookDirect(t, w.a, w.tele, orig.ID, "Toux", "+33 6 12 34 56 78")

	res := ts.get(t, w.ca, "/appointments/"+a.ID+"/move")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("move page: %d", res.StatusCode)
	}
	target := w.starts(t, w.tele, 4)[2]
	link := "/appointments/" + a.ID + "/move?slot=" + target.ID
	if !strings.Contains(res.Body, `href="`+link+`"`) {
		t.Fatal("the move page does not offer the free times of the type")
	}
	res = ts.get(t, w.ca, link)
	if !strings.Contains(res.Body, `id="move-submit"`) || hiddenValue(t, res.Body, "slot") != target.ID ||
		!pageHas(res.Body, en("appts.move_to", "When", ts.srv.bookWhen("en", target.Start, w.practiceTZ))) {
		t.Fatal("the move confirmation does not name the new time")
	}
	if w.appointment(t, a.ID).Start != a.Start {
		t.Fatal("a GET moved the appointment")
	}
	res = ts.post(t, w.ca, "/appointments/"+a.ID+"/move", url.Values{"slot": {target.ID}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/appointments/"+a.ID {
		t.Fatalf("move: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	moved := w.appointment(t, a.ID)
	if !moved.Start.Equal(target.Start) || moved.State != store.AppointmentBooked || moved.Sequence != a.Sequence+1 || moved.Reason != a.Reason {
		t.Errorf("moved appointment: %+v", moved)
	}
	if n := ts.rows(t, "appointments", "patient_id = ?", w.a.ID); n != 1 {
		t.Errorf("a move made %d appointments", n)
	}
	if page := ts.get(t, w.ca, "/appointments/"+a.ID); !pageHas(page.Body, en("flash.appt_moved")) {
		t.Error("no message after moving")
	}
	// The old time is free again.
	w.bookDirect(t, w.b, w.tele, orig.ID, "", "+33 7 00 00 00 00")

	// Lost race: Bruno takes the time first; the alternatives are buttons.
	taken := w.starts(t, w.tele, 6)[3]
	w.bookDirect(t, w.b, w.tele, taken.ID, "", "+33 7 00 00 00 00")
	res = ts.post(t, w.ca, "/appointments/"+a.ID+"/move", url.Values{"slot": {taken.ID}})
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, en("error.slot_taken")) {
		t.Fatalf("move to a taken time: %d", res.StatusCode)
	}
	if !w.appointment(t, a.ID).Start.Equal(target.Start) {
		t.Fatal("a lost move changed the appointment")
	}
	alts := regexp.MustCompile(`name="slot" value="([^"]+)" class="bk-alt"`).FindAllStringSubmatch(res.Body, -1)
	if len(alts) == 0 {
		t.Fatal("no alternatives after a lost move")
	}
	if res := ts.post(t, w.ca, "/appointments/"+a.ID+"/move", url.Values{"slot": {alts[0][1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move to an alternative: %d", res.StatusCode)
	}
	if got := w.appointment(t, a.ID); got.ID != a.ID || got.Start.Equal(target.Start) {
		t.Error("the alternative move did not keep the id or did not move")
	}
	// No slot, or a tampered one.
	for _, slot := range []string{"", "nope"} {
		if res := ts.post(t, w.ca, "/appointments/"+a.ID+"/move", url.Values{"slot": {slot}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("move to %q: %d", slot, res.StatusCode)
		}
	}
}

func TestMyAppointmentsOtherPatient(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	a := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 3)[0].ID, "Secret-knee-pain", "")
	other := w.starts(t, w.consult, 4)[0]
	denied := func() int { return ts.rows(t, "audit", "action = 'appointment.denied' AND object_id = ?", a.ID) }
	before := denied()
	base := "/appointments/" + a.ID
	for _, path := range []string{base, base + ".ics", base + "/confirmed", base + "/cancel", base + "/move", base + "/move?slot=" + other.ID} {
		res := ts.get(t, w.cb, path)
		if res.StatusCode != http.StatusNotFound || strings.Contains(res.Body, "Secret-knee-pain") || strings.Contains(res.Body, w.a.Email) {
			t.Errorf("GET %s as another patient: %d", path, res.StatusCode)
		}
	}
	for path, form := range map[string]url.Values{base + "/cancel": nil, base + "/move": {"slot": {other.ID}}} {
		if res := ts.post(t, w.cb, path, form); res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s as another patient: %d", path, res.StatusCode)
		}
	}
	if got := w.appointment(t, a.ID); got.State != store.AppointmentBooked || !got.Start.Equal(a.Start) {
		t.Error("another patient changed the appointment")
	}
	if n := denied() - before; n != 8 {
		t.Errorf("%d denied attempts audited, want 8", n)
	}
}

func TestMyAppointmentConfirmationAndICS(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	a := w.bookDirect(t, w.a, w.consult, w.starts(t, w.consult, 3)[5].ID, "Secret-knee-pain <b>", "")

	page := ts.get(t, w.ca, "/appointments/"+a.ID+"/confirmed")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("confirmation: %d", page.StatusCode)
	}
	main := mainOf(page.Body)
	for _, want := range []string{en("appts.confirmed_heading"), "Cabinet Alba", "Consultation", "12 rue des Lilas, 06000 Nice",
		"+33 4 93 00 00 00", ts.srv.bookWhen("en", a.Start, w.practiceTZ), "Europe/Paris"} {
		if !pageHas(main, want) {
			t.Errorf("confirmation page lacks %q", want)
		}
	}
	for _, want := range []string{`href="https://www.openstreetmap.org/search?query=12+rue+des+Lilas%2c+06000+Nice"`, `href="tel:+33493000000"`,
		`href="/appointments/` + a.ID + `.ics"`} {
		if !strings.Contains(strings.ToLower(htmlUnescape(main)), strings.ToLower(want)) {
			t.Errorf("confirmation page lacks the link %s", want)
		}
	}
	if strings.Contains(main, "visit-pending") {
		t.Error("an office visit shows the video placeholder")
	}

	res := ts.get(t, w.ca, "/appointments/"+a.ID+".ics")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/calendar; charset=utf-8" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf(".ics: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if strings.Contains(res.Body, "knee") || strings.Contains(res.Body, "Secret") {
		t.Fatal("the calendar file carries the reason")
	}
	ev := parseOneEvent(t, res.Body)
	if uid, _ := ev.Props.Text(ical.PropUID); uid != a.ID+"@daraport" {
		t.Errorf("UID %q", uid)
	}
	start, err := ev.DateTimeStart(time.UTC)
	if err != nil || !start.Equal(a.Start) {
		t.Errorf("DTSTART %v (%v), want %v", start, err, a.Start)
	}
	end, err := ev.DateTimeEnd(time.UTC)
	if err != nil || !end.Equal(a.End) {
		t.Errorf("DTEND %v (%v), want %v", end, err, a.End)
	}
	if s, _ := ev.Props.Text(ical.PropSummary); s != en("appts.ics_summary", "Practice", "Cabinet Alba") {
		t.Errorf("SUMMARY %q", s)
	}
	if l, _ := ev.Props.Text(ical.PropLocation); l != "12 rue des Lilas, 06000 Nice" {
		t.Errorf("LOCATION %q", l)
	}
	if p := ev.Props.Get(ical.PropSequence); p == nil || p.Value != strconv.Itoa(a.Sequence) {
		t.Errorf("SEQUENCE %v, want %d", p, a.Sequence)
	}
	if ev.Props.Get(ical.PropDescription) != nil {
		t.Error("the event has a description")
	}

	// After a move: the new time, a higher SEQUENCE, the same UID.
	target := w.starts(t, w.consult, 6)[1]
	if res := ts.post(t, w.ca, "/appointments/"+a.ID+"/move", url.Values{"slot": {target.ID}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move: %d", res.StatusCode)
	}
	ev = parseOneEvent(t, ts.get(t, w.ca, "/appointments/"+a.ID+".ics").Body)
	if start, _ := ev.DateTimeStart(time.UTC); !start.Equal(target.Start) {
		t.Errorf("after a move DTSTART %v, want %v", start, target.Start)
	}
	if p := ev.Props.Get(ical.PropSequence); p == nil || p.Value != strconv.Itoa(a.Sequence+1) {
		t.Errorf("after a move SEQUENCE %v", p)
	}

	// A teleconsultation: the video visit's link (issue 7), no street address in the file.
	tele := w.bookDirect(t, w.a, w.tele, w.starts(t, w.tele, 3)[9].ID, "", "+33 6 12 34 56 78")
	page = ts.get(t, w.ca, "/appointments/"+tele.ID)
	if link := ts.srv.visitLink(tele.ID); link == "" || !strings.Contains(page.Body, `href="`+link+`"`) || !pageHas(page.Body, en("appts.visit_join")) {
		t.Error("teleconsultation page lacks the video visit link")
	}
	ev = parseOneEvent(t, ts.get(t, w.ca, "/appointments/"+tele.ID+".ics").Body)
	if l, _ := ev.Props.Text(ical.PropLocation); l != en("appts.tele") {
		t.Errorf("teleconsultation LOCATION %q", l)
	}
}

// parseOneEvent decodes an iCalendar document with go-ical and returns its
// only event, checking METHOD:PUBLISH.
func parseOneEvent(t *testing.T, body string) ical.Event {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader([]byte(body))).Decode()
	if err != nil {
		t.Fatalf("parse the calendar file: %v\n%s", err, body)
	}
	if m, _ := cal.Props.Text(ical.PropMethod); m != "PUBLISH" {
		t.Errorf("METHOD %q", m)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	return evs[0]
}
