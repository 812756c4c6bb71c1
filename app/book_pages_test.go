package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// bookWorld is one server with a verified practice open every day
// 08:00–20:00 (Europe/Paris), three visit reasons, a generated planning,
// and two signed-in patients.
type bookWorld struct {
	ts         *testServer
	pro        *testUser
	pid        string
	consult    *store.AppointmentType // 30 min, €25, new patients welcome
	tele       *store.AppointmentType // 15 min teleconsultation, €25
	followUp   *store.AppointmentType // existing patients only
	a, b       *testUser
	ca, cb     *http.Client
	practiceTZ *time.Location
}

func newBookWorld(t *testing.T) *bookWorld {
	t.Helper()
	ts := newTestServer(t, nil)
	ctx := context.Background()
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	w := &bookWorld{ts: ts}
	w.pro = ts.addUser(t, "alba@example.org", "Dr Alba", store.RolePractitioner, "")
	w.pid = w.pro.PracticeID
	w.updateSettings(t, func(st *store.Settings) {
		st.Address, st.PostalCode, st.City, st.SecretaryPhone = "12 rue des Lilas", "06000", "Nice", "+33 4 93 00 00 00"
		st.MinNoticeMinutes, st.MaxFuturePerPatient, st.CancelCutoffHours = 60, 20, 24
	})
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdatePracticeName(ctx, w.pid, "Cabinet Alba", "Europe/Paris"); err != nil {
			return err
		}
		w.consult = &store.AppointmentType{PracticeID: w.pid, Name: "Consultation", Minutes: 30, Price: 2500, Currency: "EUR", NewPatients: true}
		w.tele = &store.AppointmentType{PracticeID: w.pid, Name: "Visite par téléconsultation", Minutes: 15, Price: 2500, Currency: "EUR",
			Teleconsultation: true, NewPatients: true}
		w.followUp = &store.AppointmentType{PracticeID: w.pid, Name: "Suivi", Minutes: 15, Currency: "EUR"}
		for _, typ := range []*store.AppointmentType{w.consult, w.tele, w.followUp} {
			if err := tx.CreateType(ctx, typ); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPractice(t, ts, w.pid)
	w.practiceTZ = ts.srv.location(p.TimeZone)
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, ""); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, w.pid, "", nil); err != nil {
		t.Fatal(err)
	}
	w.a = ts.addUser(t, "anna@example.org", "Anna Patient", store.RolePatient, "")
	w.b = ts.addUser(t, "bruno@example.org", "Bruno Patient", store.RolePatient, "")
	w.ca, w.cb = ts.client(t), ts.client(t)
	ts.login(t, w.ca, w.a)
	ts.login(t, w.cb, w.b)
	return w
}

func (w *bookWorld) practice(t *testing.T) *store.Practice { return mustPractice(t, w.ts, w.pid) }

func (w *bookWorld) updateSettings(t *testing.T, change func(*store.Settings)) {
	t.Helper()
	ctx := context.Background()
	p := mustPractice(t, w.ts, w.pid)
	st := p.Settings
	change(&st)
	if err := w.ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateSettings(ctx, w.pid, st) }); err != nil {
		t.Fatal(err)
	}
}

// starts returns the free starts of typ on the practice's day today+days.
func (w *bookWorld) starts(t *testing.T, typ *store.AppointmentType, days int) []schedule.Cell {
	t.Helper()
	p := w.practice(t)
	now := w.ts.srv.clock()
	day := w.ts.srv.today(p, now).AddDays(days)
	cells, err := w.ts.srv.freeStarts(context.Background(), p, typ.Minutes, typ.BufferAfter, day, day, now)
	if err != nil || len(cells) < 4 {
		t.Fatalf("free starts of day +%d: %d, %v", days, len(cells), err)
	}
	return cells
}

// bookDirect books for u without the pages.
func (w *bookWorld) bookDirect(t *testing.T, u *testUser, typ *store.AppointmentType, slotID, reason, phone string) *store.Appointment {
	t.Helper()
	a, err := w.ts.srv.book(context.Background(), bookRequest{SlotID: slotID, TypeID: typ.ID, Reason: reason, Phone: phone,
		Source: "online", Patient: u.User, ActorID: u.ID})
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	return a
}

func (w *bookWorld) appointment(t *testing.T, id string) *store.Appointment {
	t.Helper()
	a, err := w.ts.db.FindAppointmentByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (w *bookWorld) bookPath(q url.Values) string {
	return "/p/" + w.pid + "/book?" + q.Encode()
}

var (
	confirmedRe = regexp.MustCompile(`^/appointments/([^/]+)/confirmed$`)
)

// confirmForm reads the hidden fields of the confirmation form of step 3.
func confirmForm(t *testing.T, body string) url.Values {
	t.Helper()
	return url.Values{"type": {hiddenValue(t, body, "type")}, "slot": {hiddenValue(t, body, "slot")}, "key": {hiddenValue(t, body, "key")}}
}

// bookedID checks a booking answer is the redirect to a confirmation page
// and returns the appointment id.
func bookedID(t *testing.T, res response) string {
	t.Helper()
	m := confirmedRe.FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("booking answered %d (Location %q): %s", res.StatusCode, res.Header.Get("Location"), html2text(mainOf(res.Body)))
	}
	return m[1]
}

func TestBookPagesFlow(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }

	t.Run("AnonymousSignsInFirst", func(t *testing.T) {
		path := w.bookPath(url.Values{"type": {w.consult.ID}})
		res := ts.get(t, ts.client(t), path)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Fatalf("anonymous: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("Step1Types", func(t *testing.T) {
		res := ts.get(t, w.ca, "/p/"+w.pid+"/book")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("step 1: %d", res.StatusCode)
		}
		main := mainOf(res.Body)
		for _, want := range []string{"Consultation", "Visite par téléconsultation", "Suivi", en("book.existing_only"), en("book.tele"), "€25.00",
			en("book.minutes", "Minutes", 30)} {
			if !pageHas(main, want) {
				t.Errorf("step 1 lacks %q", want)
			}
		}
		if !strings.Contains(main, `href="/p/`+w.pid+`/book?type=`+w.consult.ID+`"`) {
			t.Errorf("step 1 has no link to step 2 for the consultation")
		}
	})

	t.Run("Step2Week", func(t *testing.T) {
		res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}}))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("step 2: %d", res.StatusCode)
		}
		p := w.practice(t)
		today := ts.srv.today(p, ts.srv.clock())
		main := mainOf(res.Body)
		for i := range 7 {
			if label := ts.srv.bookDayLabel("en", today.AddDays(i)); !pageHas(main, label) {
				t.Errorf("step 2 lacks the day %q", label)
			}
		}
		if !pageHas(main, en("book.zone", "Zone", "Europe/Paris")) {
			t.Errorf("step 2 does not name the practice's zone")
		}
		if strings.Contains(main, `rel="prev"`) || !strings.Contains(main, `rel="next"`) {
			t.Errorf("the first week should have a next link and no previous one")
		}
		// Every free start of day +2 is offered, as a link to step 3.
		for _, c := range w.starts(t, w.consult, 2) {
			if !strings.Contains(main, "slot="+c.ID+"&amp;") {
				t.Fatalf("step 2 does not offer %s", c.Start.In(w.practiceTZ))
			}
		}
		next := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "week": {today.AddDays(7).String()}}))
		if !strings.Contains(next.Body, `rel="prev"`) || !pageHas(next.Body, ts.srv.bookDayLabel("en", today.AddDays(13))) {
			t.Errorf("the second week lacks its previous link or its last day")
		}
		// A week in the past or garbage shows the current week.
		for _, wk := range []string{"2001-01-01", "garbage"} {
			if r := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "week": {wk}})); r.StatusCode != http.StatusOK ||
				!pageHas(r.Body, ts.srv.bookDayLabel("en", today)) {
				t.Errorf("week=%s: %d, not the current week", wk, r.StatusCode)
			}
		}
		// A type of another practice, or unknown: 404.
		if r := ts.get(t, w.ca, w.bookPath(url.Values{"type": {"nope"}})); r.StatusCode != http.StatusNotFound {
			t.Errorf("unknown type: %d", r.StatusCode)
		}
	})

	t.Run("NormalTypeWithReason", func(t *testing.T) {
		slot := w.starts(t, w.consult, 2)[0]
		res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {slot.ID}}))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("step 3: %d", res.StatusCode)
		}
		if !strings.Contains(res.Body, `name="reason"`) || strings.Contains(res.Body, `name="phone"`) {
			t.Errorf("step 3 of a normal type: reason field missing or a phone field shown")
		}
		if when := ts.srv.bookWhen("en", slot.Start, w.practiceTZ); !pageHas(res.Body, when) {
			t.Errorf("step 3 does not show %q", when)
		}
		form := confirmForm(t, res.Body)
		if form.Get("slot") != slot.ID || form.Get("type") != w.consult.ID || len(form.Get("key")) < 16 {
			t.Fatalf("step 3 hidden fields: %v", form)
		}
		form.Set("reason", `<b>Mal</b> au dos & "toux"`)
		id := bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form))
		a := w.appointment(t, id)
		if a.Reason != `<b>Mal</b> au dos & "toux"` || a.PatientID != w.a.ID || !a.Start.Equal(slot.Start) || a.Source != "online" || a.PaymentState != "none" {
			t.Errorf("stored appointment: %+v", a)
		}
		page := ts.get(t, w.ca, "/appointments/"+id+"/confirmed")
		if page.StatusCode != http.StatusOK || !strings.Contains(page.Body, "&lt;b&gt;Mal&lt;/b&gt;") || strings.Contains(page.Body, "<b>Mal</b>") {
			t.Errorf("confirmation page: %d, reason not escaped", page.StatusCode)
		}
	})

	t.Run("TeleconsultationWithPhone", func(t *testing.T) {
		slot := w.starts(t, w.tele, 3)[0]
		res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.tele.ID}, "slot": {slot.ID}}))
		if !strings.Contains(res.Body, `name="phone"`) || !strings.Contains(res.Body, `type="tel"`) {
			t.Fatal("step 3 of a teleconsultation has no mobile number field")
		}
		form := confirmForm(t, res.Body)
		form.Set("reason", "Fièvre")
		before := ts.rows(t, "appointments")
		for _, bad := range []string{"", "0612345678", "+33 6 12", "call me"} {
			form.Set("phone", bad)
			r := ts.post(t, w.ca, "/p/"+w.pid+"/book", form)
			if r.StatusCode != http.StatusUnprocessableEntity || !pageHas(r.Body, en("error.phone")) {
				t.Errorf("phone %q: %d, no phone message", bad, r.StatusCode)
			}
			if !strings.Contains(r.Body, `aria-invalid="true"`) || !pageHas(r.Body, "Fièvre") {
				t.Errorf("phone %q: the field is not marked or the reason is lost", bad)
			}
		}
		if ts.rows(t, "appointments") != before {
			t.Fatal("a refused form wrote an appointment")
		}
		form.Set("phone", "+33 6 12 34 56 78")
		id := bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form))
		a := w.appointment(t, id)
		if a.Reason != "Fièvre — ☎ +33612345678" || a.Phone != "+33612345678" || a.PaymentState != "unpaid" {
			t.Errorf("stored teleconsultation: reason %q phone %q payment %q", a.Reason, a.Phone, a.PaymentState)
		}
		page := ts.get(t, w.ca, "/appointments/"+id+"/confirmed")
		// The video visit's secret link (issue 7) is on the confirmation.
		if !strings.Contains(page.Body, `href="`+ts.srv.visitLink(id)+`"`) || !pageHas(page.Body, en("appts.visit_join")) ||
			!strings.Contains(page.Body, `class="card appt appt-detail appt-unpaid`) {
			t.Errorf("confirmation of a teleconsultation: no visit link or not marked unpaid")
		}
	})

	t.Run("TeleconsultationViewerZone", func(t *testing.T) {
		ctx := context.Background()
		zone := "America/New_York"
		if err := ts.db.Update(ctx, func(tx *store.Tx) error {
			return tx.UpdateUser(ctx, w.b.ID, store.UserUpdate{TimeZone: &zone})
		}); err != nil {
			t.Fatal(err)
		}
		slot := w.starts(t, w.tele, 4)[1]
		res := ts.get(t, w.cb, w.bookPath(url.Values{"type": {w.tele.ID}, "slot": {slot.ID}}))
		mine := ts.srv.bookWhen("en", slot.Start, ts.srv.location(zone))
		if !pageHas(res.Body, mine) || !pageHas(res.Body, zone) || !strings.Contains(res.Body, `id="book-when-viewer"`) {
			t.Errorf("a viewer in New York does not see %q", mine)
		}
		// The same viewer booking a visit at the office sees only the practice's time.
		cslot := w.starts(t, w.consult, 4)[3]
		if r := ts.get(t, w.cb, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {cslot.ID}})); strings.Contains(r.Body, `id="book-when-viewer"`) {
			t.Errorf("an office visit shows the viewer's zone")
		}
	})

	t.Run("TableModeHasNoReasonField", func(t *testing.T) {
		w.updateSettings(t, func(st *store.Settings) { st.ReasonMode = "table" })
		defer w.updateSettings(t, func(st *store.Settings) { st.ReasonMode = "free" })
		slot := w.starts(t, w.consult, 5)[0]
		res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {slot.ID}}))
		if strings.Contains(res.Body, `name="reason"`) || !pageHas(res.Body, en("book.reason_table")) {
			t.Fatal("table mode: a reason field is shown, or no explanation")
		}
		form := confirmForm(t, res.Body)
		form.Set("reason", "typed anyway")
		id := bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form))
		if a := w.appointment(t, id); a.Reason != "Consultation" {
			t.Errorf("table mode: reason %q, want the type's name", a.Reason)
		}
	})
}

func TestBookPagesDoubleSubmit(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	slot := w.starts(t, w.consult, 2)[2]
	res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {slot.ID}}))
	form := confirmForm(t, res.Body)
	form.Set("reason", "Twice")
	// The same form sent twice at once, then a third time.
	ids := make([]string, 3)
	errs := parallel(2, func() error { ids[0] = bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form)); return nil },
		func() error { ids[1] = bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form)); return nil })
	if errs != nil {
		t.Fatal(errs)
	}
	ids[2] = bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form))
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("double submission made different appointments: %v", ids)
	}
	if n := ts.rows(t, "appointments", "patient_id = ?", w.a.ID); n != 1 {
		t.Errorf("%d appointments after a double submission, want 1", n)
	}
	// A fresh form (new key) is a new booking.
	other := w.starts(t, w.consult, 2)[6]
	res = ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {other.ID}}))
	f2 := confirmForm(t, res.Body)
	if f2.Get("key") == form.Get("key") {
		t.Fatal("two forms got the same idempotency key")
	}
	if id := bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", f2)); id == ids[0] {
		t.Error("a second form found the first booking")
	}
}

func TestBookPagesSlotTaken(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	slot := w.starts(t, w.tele, 3)[4]
	// Anna opens the form; Bruno books the time first.
	res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.tele.ID}, "slot": {slot.ID}}))
	form := confirmForm(t, res.Body)
	form.Set("reason", "<i>Toux</i>")
	form.Set("phone", "+33 6 11 22 33 44")
	w.bookDirect(t, w.b, w.tele, slot.ID, "", "+33 7 00 00 00 00")

	before := ts.rows(t, "appointments")
	res = ts.post(t, w.ca, "/p/"+w.pid+"/book", form)
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("lost race: %d, want 409", res.StatusCode)
	}
	if !pageHas(res.Body, en("error.slot_taken")) || !pageHas(res.Body, en("book.alternatives_book")) {
		t.Fatal("lost race: no 'just taken' message")
	}
	if ts.rows(t, "appointments") != before {
		t.Fatal("the lost race wrote an appointment")
	}
	alts := regexp.MustCompile(`<button type="submit" name="slot" value="([^"]+)" class="bk-alt">`).FindAllStringSubmatch(res.Body, -1)
	if len(alts) == 0 {
		t.Fatal("lost race: no alternative buttons")
	}
	// The typed reason and phone ride along, escaped.
	if hiddenValue(t, res.Body, "reason") != "<i>Toux</i>" || hiddenValue(t, res.Body, "phone") != "+33 6 11 22 33 44" ||
		strings.Contains(res.Body, "<i>Toux</i>") {
		t.Error("the alternatives form lost (or did not escape) the typed reason and phone")
	}
	// One click on an alternative books it.
	retry := url.Values{"type": {hiddenValue(t, res.Body, "type")}, "key": {hiddenValue(t, res.Body, "key")},
		"reason": {hiddenValue(t, res.Body, "reason")}, "phone": {hiddenValue(t, res.Body, "phone")}, "slot": {alts[0][1]}}
	id := bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", retry))
	if a := w.appointment(t, id); a.PatientID != w.a.ID || a.Reason != "<i>Toux</i> — ☎ +33611223344" {
		t.Errorf("alternative booking: %+v", a)
	}
	// Opening step 3 for a taken time shows the alternatives, as links, not an error page.
	res = ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.tele.ID}, "slot": {slot.ID}}))
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, en("error.slot_taken")) || !strings.Contains(res.Body, `class="button bk-alt"`) ||
		strings.Contains(res.Body, `id="book-submit"`) {
		t.Errorf("step 3 of a taken time: %d, no alternatives", res.StatusCode)
	}
}

func TestBookPagesRules(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	en := func(id string, args ...any) string { return ts.text(t, "en", id, args...) }
	formFor := func(typ *store.AppointmentType, days, i int) url.Values {
		slot := w.starts(t, typ, days)[i]
		res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {typ.ID}, "slot": {slot.ID}}))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("step 3: %d", res.StatusCode)
		}
		return confirmForm(t, res.Body)
	}

	t.Run("Allowlist", func(t *testing.T) {
		w.updateSettings(t, func(st *store.Settings) { st.BookingMode = "allowlist" })
		before := ts.rows(t, "appointments")
		form := formFor(w.consult, 2, 0)
		res := ts.post(t, w.ca, "/p/"+w.pid+"/book", form)
		want := en("error.not_on_allowlist", "Phone", "+33 4 93 00 00 00")
		if res.StatusCode != http.StatusForbidden || !pageHas(res.Body, want) {
			t.Fatalf("allowlist refusal: %d, message %q missing", res.StatusCode, want)
		}
		if strings.Contains(res.Body, `id="book-submit"`) || !strings.Contains(res.Body, `href="/p/`+w.pid+`/book"`) {
			t.Error("allowlist refusal: the form is offered again, or no way back")
		}
		// Without a phone number, the message still says how to get added.
		w.updateSettings(t, func(st *store.Settings) { st.SecretaryPhone = "" })
		res = ts.post(t, w.ca, "/p/"+w.pid+"/book", form)
		if !pageHas(res.Body, en("book.allowlist_no_phone")) {
			t.Error("allowlist refusal without a phone: no message")
		}
		if ts.rows(t, "appointments") != before {
			t.Fatal("a refused booking wrote an appointment")
		}
		// Once registered, the same form books.
		ctx := context.Background()
		if err := ts.db.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.AddToAllowlist(ctx, w.pid, "", w.a.Email)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		bookedID(t, ts.post(t, w.ca, "/p/"+w.pid+"/book", form))
		w.updateSettings(t, func(st *store.Settings) { st.BookingMode, st.SecretaryPhone = "free", "+33 4 93 00 00 00" })
	})

	t.Run("ExistingPatientsOnly", func(t *testing.T) {
		res := ts.post(t, w.cb, "/p/"+w.pid+"/book", formFor(w.followUp, 3, 0))
		if res.StatusCode != http.StatusForbidden || !pageHas(res.Body, en("error.type_existing_only")) {
			t.Errorf("a new patient booking an existing-patients type: %d", res.StatusCode)
		}
	})

	t.Run("Banned", func(t *testing.T) {
		ctx := context.Background()
		if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.Ban(ctx, w.pid, w.b.ID, "", "") }); err != nil {
			t.Fatal(err)
		}
		slot := w.starts(t, w.consult, 4)[0]
		res := ts.get(t, w.cb, w.bookPath(url.Values{"type": {w.consult.ID}, "slot": {slot.ID}}))
		res = ts.post(t, w.cb, "/p/"+w.pid+"/book", confirmForm(t, res.Body))
		if res.StatusCode != http.StatusForbidden || !pageHas(res.Body, en("error.banned")) {
			t.Errorf("banned patient: %d", res.StatusCode)
		}
	})

	t.Run("TooManyFuture", func(t *testing.T) {
		w.updateSettings(t, func(st *store.Settings) { st.MaxFuturePerPatient = 1 })
		defer w.updateSettings(t, func(st *store.Settings) { st.MaxFuturePerPatient = 20 })
		// Anna already holds one (the allowlist booking).
		res := ts.post(t, w.ca, "/p/"+w.pid+"/book", formFor(w.consult, 5, 0))
		if res.StatusCode != http.StatusConflict || !pageHas(res.Body, en("error.too_many_future", "Count", 1)) {
			t.Errorf("too many future appointments: %d", res.StatusCode)
		}
	})

	t.Run("LongReason", func(t *testing.T) {
		form := formFor(w.consult, 6, 0)
		form.Set("reason", strings.Repeat("é", 10000))
		before := ts.rows(t, "appointments")
		res := ts.post(t, w.ca, "/p/"+w.pid+"/book", form)
		if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, en("error.reason_long")) || ts.rows(t, "appointments") != before {
			t.Errorf("10,000-character reason: %d", res.StatusCode)
		}
	})

	t.Run("TamperedIDs", func(t *testing.T) {
		form := formFor(w.consult, 6, 1)
		for name, v := range map[string]string{"slot": "nope", "type": "nope"} {
			f := url.Values{}
			for k, vs := range form {
				f[k] = vs
			}
			f.Set(name, v)
			if res := ts.post(t, w.ca, "/p/"+w.pid+"/book", f); res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("tampered %s: %d, want 422", name, res.StatusCode)
			}
		}
		// A slot of this practice posted to another practice's page.
		other := ts.addUser(t, "other@example.org", "Dr Other", store.RolePractitioner, "")
		if res := ts.post(t, w.ca, "/p/"+other.PracticeID+"/book", form); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("slot posted to another practice: %d", res.StatusCode)
		}
		if res := ts.get(t, w.ca, "/p/nope/book"); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown practice: %d", res.StatusCode)
		}
	})
}

func TestBookPagesNextAvailable(t *testing.T) {
	t.Parallel()
	w := newBookWorld(t)
	ts := w.ts
	// A week's notice: nothing can be booked in the first seven days.
	w.updateSettings(t, func(st *store.Settings) { st.MinNoticeMinutes = 7 * 24 * 60 })
	res := ts.get(t, w.ca, w.bookPath(url.Values{"type": {w.consult.ID}}))
	if !pageHas(res.Body, ts.text(t, "en", "book.week_empty")) {
		t.Fatal("the first week is not said to be empty")
	}
	m := regexp.MustCompile(`id="next-available" href="([^"]+)"`).FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatal("no next-available jump")
	}
	p := w.practice(t)
	now := ts.srv.clock()
	first, err := ts.srv.freeStarts(context.Background(), p, w.consult.Minutes, 0, ts.srv.today(p, now), ts.srv.today(p, now).AddDays(20), now)
	if err != nil || len(first) == 0 {
		t.Fatal(err)
	}
	day := schedule.DayOf(first[0].Start.In(w.practiceTZ))
	jump := htmlUnescape(m[1])
	if !strings.Contains(jump, "week="+day.String()) {
		t.Fatalf("next available jumps to %s, want the week of %s", jump, day)
	}
	res = ts.get(t, w.ca, jump)
	if !strings.Contains(res.Body, "slot="+first[0].ID+"&amp;") {
		t.Error("the week jumped to does not offer the first free time")
	}
}
