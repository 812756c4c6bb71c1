package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"daraport/app/schedule"
	"daraport/store"
)

// noticesWorld is a practice in Europe/Paris open every day 08:00-20:00
// with a visit type and a teleconsultation type, its planning generated,
// and a patient.
type noticesWorld struct {
	ts       *testServer
	pro      *testUser
	patient  *testUser
	practice *store.Practice
	visit    *store.AppointmentType
	tele     *store.AppointmentType
}

// newNoticesWorld builds the world; when at is not zero the clock is moved
// so that "now" is at that instant first (slots are generated from it).
func newNoticesWorld(t *testing.T, at time.Time, change func(*Config)) *noticesWorld {
	t.Helper()
	ts := newTestServer(t, change)
	if !at.IsZero() {
		ts.clock.Advance(time.Until(at))
	}
	ctx := context.Background()
	w := &noticesWorld{ts: ts}
	w.pro = ts.addUser(t, "dr.martin@example.org", "Dr Martin", store.RolePractitioner, "")
	w.patient = ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "") // pages are served once an admin exists
	pid := w.pro.PracticeID
	p := mustPractice(t, ts, pid)
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
	w.visit = &store.AppointmentType{PracticeID: pid, Name: "Consultation", Minutes: 15, Currency: "EUR", NewPatients: true}
	w.tele = &store.AppointmentType{PracticeID: pid, Name: "Video consultation", Minutes: 15, Currency: "EUR", NewPatients: true, Teleconsultation: true}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreateType(ctx, w.visit); err != nil {
			return err
		}
		return tx.CreateType(ctx, w.tele)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, pid, "", nil); err != nil {
		t.Fatal(err)
	}
	w.practice = mustPractice(t, ts, pid)
	return w
}

// paris is the practice's zone.
func paris(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// slotAt returns the id of the free slot starting at the instant at.
func (w *noticesWorld) slotAt(t *testing.T, at time.Time) string {
	t.Helper()
	ts := w.ts
	loc := paris(t)
	day := schedule.DayOf(at.In(loc))
	starts, err := ts.srv.freeStarts(context.Background(), w.practice, 15, 0, day, day, ts.srv.clock())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range starts {
		if c.Start.Equal(at) {
			return c.ID
		}
	}
	t.Fatalf("no free slot at %s", at)
	return ""
}

// book books the slot at the instant at for the world's patient.
func (w *noticesWorld) book(t *testing.T, at time.Time, typ *store.AppointmentType, reason, phone string) *store.Appointment {
	t.Helper()
	a, err := w.ts.srv.book(context.Background(), bookRequest{SlotID: w.slotAt(t, at), TypeID: typ.ID, Reason: reason, Phone: phone,
		Patient: w.patient.User, ActorID: w.patient.ID})
	if err != nil {
		t.Fatalf("book at %s: %v", at, err)
	}
	return a
}

func (w *noticesWorld) move(t *testing.T, a *store.Appointment, at time.Time) *store.Appointment {
	t.Helper()
	moved, err := w.ts.srv.move(context.Background(), &Actor{User: w.patient.User}, a, w.practice, w.slotAt(t, at), "")
	if err != nil {
		t.Fatal(err)
	}
	return moved
}

func (w *noticesWorld) cancel(t *testing.T, a *store.Appointment) {
	t.Helper()
	if err := w.ts.srv.cancel(context.Background(), &Actor{User: w.patient.User}, a, w.practice, ""); err != nil {
		t.Fatal(err)
	}
}

// mails returns the outbox messages to addr with template tmpl, newest first.
func (w *noticesWorld) mails(t *testing.T, addr, tmpl string) []*store.OutboxMessage {
	t.Helper()
	list, err := w.ts.db.FindOutbox(context.Background(), store.OutboxFilter{To: addr})
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.OutboxMessage
	for _, m := range list {
		if m.Template == tmpl {
			out = append(out, m)
		}
	}
	return out
}

// runReminders runs the reminders job as the cron would.
func (w *noticesWorld) runReminders(t *testing.T) {
	t.Helper()
	if err := w.ts.srv.sendReminders(context.Background(), w.ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
}

func (w *noticesWorld) pending(t *testing.T, id string) []*store.Reminder {
	t.Helper()
	list, err := w.ts.db.FindReminders(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Reminder
	for _, r := range list {
		if r.State == store.ReminderPending {
			out = append(out, r)
		}
	}
	return out
}

// parsedInvite is the VEVENT of an invite and its METHOD.
type parsedInvite struct {
	method string
	cal    *ical.Calendar
	event  *ical.Component
}

// parseInvite decodes an outbox message's calendar with go-ical.
func parseInvite(t *testing.T, m *store.OutboxMessage) parsedInvite {
	t.Helper()
	if m.ICS == "" {
		t.Fatalf("message %q carries no calendar", m.Template)
	}
	cal, err := ical.NewDecoder(strings.NewReader(m.ICS)).Decode()
	if err != nil {
		t.Fatalf("invite does not parse: %v\n%s", err, m.ICS)
	}
	method, _ := cal.Props.Text(ical.PropMethod)
	var ev *ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			if ev != nil {
				t.Fatal("two events in one invite")
			}
			ev = c
		}
	}
	if ev == nil {
		t.Fatal("no VEVENT in the invite")
	}
	return parsedInvite{method: method, cal: cal, event: ev}
}

// start returns DTSTART converted with time.LoadLocation of its TZID.
func (p parsedInvite) start(t *testing.T) (time.Time, string) {
	t.Helper()
	prop := p.event.Props.Get(ical.PropDateTimeStart)
	tzid := prop.Params.Get(ical.ParamTimezoneID)
	loc, err := time.LoadLocation(tzid)
	if err != nil || tzid == "" {
		t.Fatalf("DTSTART TZID %q: %v", tzid, err)
	}
	at, err := time.ParseInLocation("20060102T150405", prop.Value, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at, tzid
}

func (p parsedInvite) text(t *testing.T, name string) string {
	t.Helper()
	v, err := p.event.Props.Text(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (p parsedInvite) sequence(t *testing.T) string {
	prop := p.event.Props.Get(ical.PropSequence)
	if prop == nil {
		t.Fatal("no SEQUENCE")
	}
	return prop.Value
}

// localAt is day d (from now) at hh:mm in Paris.
func localAt(t *testing.T, now time.Time, days, hh, mm int) time.Time {
	loc := paris(t)
	n := now.In(loc)
	return time.Date(n.Year(), n.Month(), n.Day()+days, hh, mm, 0, 0, loc)
}

// TestNoticesInviteLifecycle: a booking's confirmation carries a REQUEST
// invite; a move an updated REQUEST (same UID, SEQUENCE+1); a cancellation
// a CANCEL (same UID, higher SEQUENCE); reminders follow the appointment.
func TestNoticesInviteLifecycle(t *testing.T) {
	t.Parallel()
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	at := localAt(t, ts.srv.clock(), 4, 10, 0)
	a := w.book(t, at, w.visit, "knee pain since Monday", "")

	confirmed := w.mails(t, w.patient.Email, "appointment_confirmed")
	if len(confirmed) != 1 {
		t.Fatalf("%d confirmations, want 1", len(confirmed))
	}
	m := confirmed[0]
	if m.Kind != "email" || m.State != store.OutboxHeld {
		t.Errorf("confirmation kind %q state %q, want email held (no smtp.host)", m.Kind, m.State)
	}
	inv := parseInvite(t, m)
	uid := a.ID + "@daraport"
	if inv.method != "REQUEST" || inv.text(t, ical.PropUID) != uid || inv.sequence(t) != "0" {
		t.Errorf("confirmation invite: METHOD %q UID %q SEQUENCE %q", inv.method, inv.text(t, ical.PropUID), inv.sequence(t))
	}
	if got, tzid := inv.start(t); !got.Equal(a.Start) || tzid != "Europe/Paris" {
		t.Errorf("DTSTART %s (%s), want %s Europe/Paris", got, tzid, a.Start)
	}
	if tz := inv.cal.Children[0]; tz.Name != ical.CompTimezone || tz.Props.Get(ical.PropTimezoneID).Value != "Europe/Paris" {
		t.Errorf("first component %s, want the practice's VTIMEZONE", tz.Name)
	}
	if org := inv.event.Props.Get(ical.PropOrganizer); org == nil || org.Value != "mailto:no-reply@localhost" || org.Params.Get(ical.ParamCommonName) != w.practice.Name {
		t.Errorf("ORGANIZER %+v", org)
	}
	if att := inv.event.Props.Get(ical.PropAttendee); att == nil || att.Value != "mailto:"+w.patient.Email || att.Params.Get(ical.ParamCommonName) != "Pat Patient" {
		t.Errorf("ATTENDEE %+v", att)
	}
	for _, part := range []string{m.Subject, m.TextBody, m.HTMLBody, m.ICS} {
		if strings.Contains(part, "knee") {
			t.Errorf("the reason leaked into the confirmation: %q", part[:min(len(part), 200)])
		}
	}
	rem := w.pending(t, a.ID)
	if len(rem) != 2 || !rem[0].SendAt.Equal(a.Start.Add(-48*time.Hour)) || !rem[1].SendAt.Equal(a.Start.Add(-2*time.Hour)) {
		t.Fatalf("reminders after booking: %+v", rem)
	}

	// Move: an updated REQUEST, same UID, SEQUENCE 1; reminders for the new time only.
	to := localAt(t, ts.srv.clock(), 6, 15, 30)
	moved := w.move(t, a, to)
	mv := w.mails(t, w.patient.Email, "appointment_moved")
	if len(mv) != 1 {
		t.Fatalf("%d move e-mails, want 1", len(mv))
	}
	inv = parseInvite(t, mv[0])
	if inv.method != "REQUEST" || inv.text(t, ical.PropUID) != uid || inv.sequence(t) != "1" {
		t.Errorf("move invite: METHOD %q UID %q SEQUENCE %q", inv.method, inv.text(t, ical.PropUID), inv.sequence(t))
	}
	if got, _ := inv.start(t); !got.Equal(to) || !got.Equal(moved.Start) {
		t.Errorf("moved DTSTART %s, want %s", got, to)
	}
	rem = w.pending(t, a.ID)
	if len(rem) != 2 || !rem[0].TargetStart.Equal(to) || !rem[1].TargetStart.Equal(to) {
		t.Fatalf("reminders after the move: %+v", rem)
	}

	// Cancel: a CANCEL with the same UID and a higher SEQUENCE; no reminder left.
	cur, err := ts.db.FindAppointmentByID(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.cancel(t, cur)
	cc := w.mails(t, w.patient.Email, "appointment_cancelled")
	if len(cc) != 1 {
		t.Fatalf("%d cancellation e-mails, want 1", len(cc))
	}
	inv = parseInvite(t, cc[0])
	if inv.method != "CANCEL" || inv.text(t, ical.PropUID) != uid || inv.sequence(t) != "2" || inv.text(t, ical.PropStatus) != "CANCELLED" {
		t.Errorf("cancel invite: METHOD %q UID %q SEQUENCE %q", inv.method, inv.text(t, ical.PropUID), inv.sequence(t))
	}
	if rem := w.pending(t, a.ID); len(rem) != 0 {
		t.Errorf("reminders left after the cancellation: %+v", rem)
	}
	// A cancellation by the practice says so.
	b := w.book(t, localAt(t, ts.srv.clock(), 5, 11, 0), w.visit, "", "")
	ms, err := ts.db.Memberships(context.Background(), w.pro.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.cancel(context.Background(), &Actor{User: w.pro.User, Memberships: ms}, b, w.practice, ""); err != nil {
		t.Fatal(err)
	}
	if got := w.mails(t, w.patient.Email, "appointment_cancelled_by_practice"); len(got) != 1 || parseInvite(t, got[0]).method != "CANCEL" {
		t.Errorf("cancellation by the practice: %d e-mails", len(got))
	}
}

// TestNoticesDST: an appointment at 10:00 Paris on the day after the March
// and the October transitions: the invite's DTSTART, parsed back with
// go-ical and converted with time.LoadLocation, is the booked instant; the
// VTIMEZONE carries the real transitions; the 48 h reminder goes 48 real
// hours before and names 10:00.
func TestNoticesDST(t *testing.T) {
	t.Parallel()
	loc := paris(t)
	for _, c := range []struct {
		name       string
		day        time.Time // the day after the transition, 10:00
		transition string    // the onset in the VTIMEZONE
		comp       string
		from, to   string
	}{
		{"March", time.Date(2027, time.March, 29, 10, 0, 0, 0, loc), "20270328T020000", ical.CompTimezoneDaylight, "+0100", "+0200"},
		{"October", time.Date(2027, time.November, 1, 10, 0, 0, 0, loc), "20271031T030000", ical.CompTimezoneStandard, "+0200", "+0100"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Booked a week before, so the 48 h reminder falls before the transition.
			w := newNoticesWorld(t, c.day.Add(-7*24*time.Hour), nil)
			a := w.book(t, c.day, w.visit, "", "")
			if !a.Start.Equal(c.day) {
				t.Fatalf("booked %s, want %s", a.Start, c.day)
			}
			inv := parseInvite(t, w.mails(t, w.patient.Email, "appointment_confirmed")[0])
			got, tzid := inv.start(t)
			if !got.Equal(c.day) || tzid != "Europe/Paris" || inv.event.Props.Get(ical.PropDateTimeStart).Value != c.day.Format("20060102")+"T100000" {
				t.Errorf("DTSTART %s in %s (%q), want %s", got, tzid, inv.event.Props.Get(ical.PropDateTimeStart).Value, c.day)
			}
			end, err := inv.event.Props.DateTime(ical.PropDateTimeEnd, nil)
			if err != nil || !end.Equal(a.End) {
				t.Errorf("DTEND %s (%v), want %s", end, err, a.End)
			}
			found := false
			for _, tz := range inv.cal.Children {
				if tz.Name != ical.CompTimezone {
					continue
				}
				for _, o := range tz.Children {
					if o.Props.Get(ical.PropDateTimeStart).Value == c.transition {
						found = o.Name == c.comp && o.Props.Get(ical.PropTimezoneOffsetFrom).Value == c.from && o.Props.Get(ical.PropTimezoneOffsetTo).Value == c.to
					}
				}
			}
			if !found {
				t.Errorf("the VTIMEZONE lacks %s %s %s→%s:\n%s", c.comp, c.transition, c.from, c.to, inv.cal.Children[0].Name)
			}
			rem := w.pending(t, a.ID)
			if len(rem) != 2 || !rem[0].SendAt.Equal(c.day.Add(-48*time.Hour)) {
				t.Fatalf("reminders %+v", rem)
			}
			w.advanceTo(rem[0].SendAt.Add(time.Minute))
			w.runReminders(t)
			got2 := w.mails(t, w.patient.Email, "reminder")
			if len(got2) != 1 {
				t.Fatalf("%d reminders after the 48 h time, want 1", len(got2))
			}
			if want := formatDateTime("en", c.day, loc); !strings.Contains(got2[0].TextBody, want) || !strings.Contains(want, "10:00") {
				t.Errorf("the reminder does not say %q:\n%s", want, got2[0].TextBody)
			}
		})
	}
}

// TestVTimezone: zones without DST and southern ones get their real offsets.
func TestVTimezone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		zone  string
		onset string // an observance that must be present
		from  string
		to    string
	}{
		{"Asia/Tokyo", "20260101T000000", "+0900", "+0900"},
		{"Australia/Sydney", "20270404T030000", "+1100", "+1000"},
		{"America/St_Johns", "20270314T020000", "-0330", "-0230"},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2027, time.June, 1, 10, 0, 0, 0, loc)
		tz := vtimezone(loc, at, at)
		found := false
		for _, o := range tz.Children {
			if o.Props.Get(ical.PropDateTimeStart).Value == c.onset && o.Props.Get(ical.PropTimezoneOffsetFrom).Value == c.from &&
				o.Props.Get(ical.PropTimezoneOffsetTo).Value == c.to {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no observance %s %s→%s", c.zone, c.onset, c.from, c.to)
		}
	}
}

// TestRemindersJob: sent once however often the job runs; caught up after
// downtime while the appointment is ahead (only the latest); never for a
// past, cancelled or moved-away time.
func TestRemindersJob(t *testing.T) {
	t.Parallel()
	t.Run("NoDuplicate", func(t *testing.T) {
		t.Parallel()
		w := newNoticesWorld(t, time.Time{}, nil)
		a := w.book(t, localAt(t, w.ts.srv.clock(), 4, 10, 0), w.visit, "", "")
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 0 {
			t.Fatalf("%d reminders before their time", n)
		}
		w.advanceTo(a.Start.Add(-48 * time.Hour).Add(time.Second))
		w.runReminders(t)
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 1 {
			t.Fatalf("%d reminders after running the job twice, want 1", n)
		}
		if rem := w.pending(t, a.ID); len(rem) != 1 || rem[0].Offset != 2*time.Hour {
			t.Errorf("pending after the 48 h reminder: %+v", rem)
		}
		w.advanceTo(a.Start.Add(-2 * time.Hour).Add(time.Second))
		w.runReminders(t)
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 2 {
			t.Fatalf("%d reminders after both times, want 2", n)
		}
	})
	t.Run("CatchUpAfterDowntime", func(t *testing.T) {
		t.Parallel()
		w := newNoticesWorld(t, time.Time{}, nil)
		a := w.book(t, localAt(t, w.ts.srv.clock(), 4, 10, 0), w.visit, "", "")
		// Down from before the 48 h time until an hour before the start:
		// both reminders are due; the patient gets one, now.
		w.advanceTo(a.Start.Add(-time.Hour))
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 1 {
			t.Fatalf("%d reminders after the downtime, want 1", n)
		}
		list, _ := w.ts.db.FindReminders(context.Background(), a.ID)
		states := map[string]int{}
		for _, r := range list {
			states[r.State]++
		}
		if states[store.ReminderSent] != 1 || states[store.ReminderSkipped] != 1 {
			t.Errorf("reminder states %v", states)
		}
	})
	t.Run("PastAppointment", func(t *testing.T) {
		t.Parallel()
		w := newNoticesWorld(t, time.Time{}, nil)
		a := w.book(t, localAt(t, w.ts.srv.clock(), 4, 10, 0), w.visit, "", "")
		// Down until after the appointment: nothing is sent late.
		w.advanceTo(a.Start.Add(time.Hour))
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 0 {
			t.Fatalf("%d reminders for a past appointment", n)
		}
		if rem := w.pending(t, a.ID); len(rem) != 0 {
			t.Errorf("still pending: %+v", rem)
		}
	})
	t.Run("Moved", func(t *testing.T) {
		t.Parallel()
		w := newNoticesWorld(t, time.Time{}, nil)
		now := w.ts.srv.clock()
		a := w.book(t, localAt(t, now, 3, 10, 0), w.visit, "", "")
		to := localAt(t, now, 6, 16, 0)
		w.move(t, a, to)
		// Past the old 48 h time: nothing.
		w.advanceTo(a.Start.Add(-48 * time.Hour).Add(time.Minute))
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 0 {
			t.Fatalf("%d reminders for the old time", n)
		}
		// Past the new one: one, for the new time.
		w.advanceTo(to.Add(-48 * time.Hour).Add(time.Minute))
		w.runReminders(t)
		got := w.mails(t, w.patient.Email, "reminder")
		if len(got) != 1 || !strings.Contains(got[0].TextBody, formatDateTime("en", to, paris(t))) {
			t.Fatalf("reminders for the new time: %d", len(got))
		}
	})
	t.Run("MovedWithoutEvent", func(t *testing.T) {
		t.Parallel()
		// Whatever path moves an appointment, a reminder fires only for the
		// start it was scheduled for.
		w := newNoticesWorld(t, time.Time{}, nil)
		a := w.book(t, localAt(t, w.ts.srv.clock(), 4, 10, 0), w.visit, "", "")
		ctx := context.Background()
		later := a.Start.Add(24 * time.Hour)
		if err := w.ts.db.Update(ctx, func(tx *store.Tx) error {
			return tx.MoveAppointment(ctx, a.ID, a.LocationID, later.Unix(), later.Add(15*time.Minute).Unix())
		}); err != nil {
			t.Fatal(err)
		}
		w.advanceTo(a.Start.Add(-48 * time.Hour).Add(time.Minute))
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 0 {
			t.Fatalf("%d reminders for a start the appointment no longer has", n)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		w := newNoticesWorld(t, time.Time{}, nil)
		a := w.book(t, localAt(t, w.ts.srv.clock(), 4, 10, 0), w.visit, "", "")
		w.cancel(t, a)
		w.advanceTo(a.Start.Add(-2 * time.Hour).Add(time.Minute))
		w.runReminders(t)
		if n := len(w.mails(t, w.patient.Email, "reminder")); n != 0 {
			t.Fatalf("%d reminders for a cancelled appointment", n)
		}
		if n := w.ts.rows(t, "reminders", "appointment_id = ?", a.ID); n != 0 {
			t.Errorf("%d reminder rows left after the cancellation", n)
		}
	})
}

// TestNoticesSMS: with SMS enabled and a mobile number, the confirmation
// and the reminders also go by SMS (held without a gateway, queued with
// one); otherwise no SMS. A teleconsultation reminder links to the visit.
func TestNoticesSMS(t *testing.T) {
	t.Parallel()
	for _, gateway := range []string{"", "http://127.0.0.1:9/sms"} {
		w := newNoticesWorld(t, time.Time{}, func(c *Config) { c.SMS.URL = gateway })
		ts := w.ts
		now := ts.srv.clock()
		phone := "+33612345678"
		// SMS off: none.
		w.book(t, localAt(t, now, 4, 9, 0), w.tele, "", phone)
		if n := len(w.mails(t, phone, "appointment_confirmed")); n != 0 {
			t.Fatalf("%d SMS while the practice has SMS off", n)
		}
		res := ts.api(t, "PUT", "/api/v1/practices/"+w.practice.ID+"/notices", ts.token(t, w.pro), strings.NewReader(`{"sms_enabled":true}`))
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"sms_enabled":true`) {
			t.Fatalf("enable SMS: %d %s", res.StatusCode, res.Body)
		}
		a := w.book(t, localAt(t, now, 4, 11, 0), w.tele, "", phone)
		w.book(t, localAt(t, now, 4, 12, 0), w.visit, "", "") // no mobile: no SMS
		sms := w.mails(t, phone, "appointment_confirmed")
		want := store.OutboxHeld
		if gateway != "" {
			want = store.OutboxQueued
		}
		if len(sms) != 1 || sms[0].Kind != "sms" || sms[0].State != want || sms[0].HTMLBody != "" || sms[0].ICS != "" {
			t.Fatalf("SMS rows with gateway %q: %+v", gateway, sms)
		}
		if !strings.Contains(sms[0].TextBody, formatDateTime("en", a.Start, paris(t))) {
			t.Errorf("the SMS does not give the time: %q", sms[0].TextBody)
		}
		w.advanceTo(a.Start.Add(-2 * time.Hour).Add(time.Minute))
		w.runReminders(t)
		if got := w.mails(t, phone, "reminder_tele"); len(got) != 1 || got[0].Kind != "sms" {
			t.Errorf("reminder SMS: %d", len(got))
		}
		mails := w.mails(t, w.patient.Email, "reminder_tele")
		if len(mails) != 1 {
			t.Fatalf("%d teleconsultation reminder e-mails", len(mails))
		}
		if link := mailLink(t, mails[0]); link != ts.srv.appointmentVisitLink(context.Background(), a) &&
			link != ts.cfg.Server.BaseURL+"/appointments/"+a.ID {
			t.Errorf("the teleconsultation reminder links to %s", link)
		}
	}
}

// TestNoticesBadInput: names with CR/LF, HTML or non-ASCII stay out of
// the subject, are escaped in the HTML part and cannot add calendar
// properties; the reason, even 10,000 characters long, is in no message.
func TestNoticesBadInput(t *testing.T) {
	t.Parallel()
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	ctx := context.Background()
	name := "Ève \"Zoë\"\r\nATTENDEE:mailto:evil@example.org\r\nBcc: evil@example.org <b>bold</b>"
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(ctx, w.patient.ID, store.UserUpdate{Name: &name}) }); err != nil {
		t.Fatal(err)
	}
	u, err := ts.db.FindUserByID(ctx, w.patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.patient.User = u
	a := w.book(t, localAt(t, ts.srv.clock(), 4, 10, 0), w.visit, "SECRET-REASON\r\nX-Injected: yes ünïcode", "")
	m := w.mails(t, w.patient.Email, "appointment_confirmed")[0]
	for _, bad := range []string{"Ève", "Zoë", "evil", "bold", "\r", "\n"} {
		if strings.Contains(m.Subject, bad) {
			t.Errorf("subject %q carries %q", m.Subject, bad)
		}
	}
	if strings.Contains(m.HTMLBody, "<b>bold</b>") || !strings.Contains(m.HTMLBody, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("the HTML part does not escape the name")
	}
	inv := parseInvite(t, m)
	if n := len(inv.event.Props[ical.PropAttendee]); n != 1 {
		t.Fatalf("%d ATTENDEE properties, want 1", n)
	}
	if cn := inv.event.Props.Get(ical.PropAttendee).Params.Get(ical.ParamCommonName); strings.ContainsAny(cn, "\r\n\"") || !strings.Contains(cn, "Ève") {
		t.Errorf("ATTENDEE CN %q", cn)
	}
	for _, line := range strings.Split(m.ICS, "\r\n") {
		if strings.HasPrefix(line, "ATTENDEE:mailto:evil") || strings.HasPrefix(line, "Bcc") || strings.HasPrefix(line, "X-Injected") {
			t.Errorf("injected calendar line %q", line)
		}
	}
	long := "LONGREASON" + strings.Repeat("é", 10000)
	// The booking form refuses such a reason; an appointment holding one
	// (e.g. written by staff) still tells nothing of it.
	_, err = ts.srv.book(ctx, bookRequest{SlotID: w.slotAt(t, localAt(t, ts.srv.clock(), 4, 11, 0)), TypeID: w.visit.ID, Reason: long,
		Patient: w.patient.User, ActorID: w.patient.ID})
	if err == nil {
		t.Fatal("a 10,000-character reason was accepted")
	}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		start := localAt(t, ts.srv.clock(), 5, 10, 0)
		b := &store.Appointment{PracticeID: w.practice.ID, PatientID: w.patient.ID, TypeID: w.visit.ID, Start: start, End: start.Add(15 * time.Minute),
			Reason: long, Source: "staff"}
		if err := tx.CreateAppointment(ctx, b); err != nil {
			return err
		}
		return ts.srv.appointmentChanged(ctx, tx, apptEvent{Kind: EventCreated, Appt: b, Practice: w.practice, Patient: w.patient.User, TypeName: w.visit.Name})
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := ts.db.FindOutbox(ctx, store.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 {
		t.Fatalf("only %d outbox rows", len(all))
	}
	for _, m := range all {
		for _, part := range []string{m.Subject, m.TextBody, m.HTMLBody, m.ICS} {
			if strings.Contains(part, "SECRET-REASON") || strings.Contains(part, "LONGREASON") || strings.Contains(part, "X-Injected") {
				t.Errorf("the reason leaked into %s %q", m.Kind, m.Template)
			}
		}
	}
	_ = a
}

// TestNoticesLanguages: each message comes from the catalogue in the
// patient's language: subject, greeting and body.
func TestNoticesLanguages(t *testing.T) {
	t.Parallel()
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	ctx := context.Background()
	loc := paris(t)
	for i, lang := range Languages {
		l := lang
		if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(ctx, w.patient.ID, store.UserUpdate{Locale: &l}) }); err != nil {
			t.Fatal(err)
		}
		u, _ := ts.db.FindUserByID(ctx, w.patient.ID)
		w.patient.User = u
		at := localAt(t, ts.srv.clock(), 3+i, 10, 0)
		a := w.book(t, at, w.visit, "", "")
		m := w.lastOf(t, "appointment_confirmed")
		when := formatDateTime(lang, at, loc) + " (Europe/Paris)"
		if m.Locale != lang || m.Subject != ts.text(t, lang, "mail.appointment_confirmed.subject") ||
			!strings.Contains(m.TextBody, ts.text(t, lang, "mail.greeting", "Name", "Pat Patient")) || !strings.Contains(m.TextBody, when) {
			t.Errorf("%s confirmation: %q\n%s", lang, m.Subject, m.TextBody)
		}
		inv := parseInvite(t, m)
		if s := inv.text(t, ical.PropSummary); s != ts.text(t, lang, "appts.ics_summary", "Practice", w.practice.Name) {
			t.Errorf("%s SUMMARY %q", lang, s)
		}
		w.move(t, a, at.Add(time.Hour))
		if m := w.lastOf(t, "appointment_moved"); m.Subject != ts.text(t, lang, "mail.appointment_moved.subject") {
			t.Errorf("%s move subject %q", lang, m.Subject)
		}
		cur, _ := ts.db.FindAppointmentByID(ctx, a.ID)
		w.cancel(t, cur)
		if m := w.lastOf(t, "appointment_cancelled"); m.Subject != ts.text(t, lang, "mail.appointment_cancelled.subject") {
			t.Errorf("%s cancel subject %q", lang, m.Subject)
		}
		// The texts other helpers compose with these ids.
		mm := ts.srv.mailerFor(lang)
		c := mm.compose("waitlist_offer", "Pat", "http://x/book", "Practice", "Dr Martin", "When", when, "Type", "Consultation", "Until", "UNTIL-VALUE")
		if c.Subject != ts.text(t, lang, "mail.waitlist_offer.subject") || !strings.Contains(strings.Join(c.Lines, " "), "UNTIL-VALUE") || c.Action == "" {
			t.Errorf("%s waitlist offer: %+v", lang, c)
		}
		// The account messages (written with the foundation) too.
		for _, kind := range []string{"verify", "reset", "practitioner_approved"} {
			c := mm.compose(kind, "Pat", "http://x/")
			if c.Subject != ts.text(t, lang, "mail."+kind+".subject") || len(c.Lines) == 0 || c.Action != ts.text(t, lang, "mail."+kind+".action") {
				t.Errorf("%s %s: %+v", lang, kind, c)
			}
		}
		for _, kind := range []string{"reminder", "reminder_tele", "message_notice"} {
			c := mm.compose(kind, "Pat", "http://x/", "Practice", "Dr Martin", "When", when, "Type", "T", "Address", "A")
			if c.Subject != ts.text(t, lang, "mail."+kind+".subject") || len(c.Lines) == 0 || strings.Contains(c.Subject, "Dr Martin") {
				t.Errorf("%s %s: %+v", lang, kind, c)
			}
		}
	}
	// A reminder in the patient's last language (es).
	a := w.book(t, localAt(t, ts.srv.clock(), 8, 10, 0), w.visit, "", "")
	w.advanceTo(a.Start.Add(-2 * time.Hour).Add(time.Minute))
	w.runReminders(t)
	if m := w.lastOf(t, "reminder"); m.Locale != "es" || m.Subject != ts.text(t, "es", "mail.reminder.subject") {
		t.Errorf("reminder in %s: %q", m.Locale, m.Subject)
	}
}

// advanceTo moves the shared clock to at.
func (w *noticesWorld) advanceTo(at time.Time) {
	w.ts.clock.Advance(at.Sub(w.ts.clock.Now()))
}

func (w *noticesWorld) lastOf(t *testing.T, tmpl string) *store.OutboxMessage {
	t.Helper()
	list := w.mails(t, w.patient.Email, tmpl)
	if len(list) == 0 {
		t.Fatalf("no %s e-mail", tmpl)
	}
	return list[0]
}

// TestWebhooks: an endpoint added through the API gets every subscribed
// event of its practice as a signed outbox row written with the change; its
// delivery log shows them; a removed endpoint gets nothing more.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	token := ts.token(t, w.pro)
	base := "/api/v1/practices/" + w.practice.ID + "/webhooks"
	for _, bad := range []string{`{"url":"ftp://x.example/h","events":["appointment.created"]}`, `{"url":"javascript:alert(1)","events":["appointment.created"]}`,
		`{"url":"https://user:pw@x.example/h","events":["appointment.created"]}`, `{"url":"https://x.example/a b","events":["appointment.created"]}`,
		`{"url":"https://x.example/h","events":[]}`, `{"url":"http://127.0.0.1:8080/x","events":["appointment.created"]}`,
		`{"url":"http://169.254.169.254/latest/meta-data","events":["appointment.created"]}`, `{"url":"http://localhost/x","events":["appointment.created"]}`,
		`{"url":"http://[::1]/x","events":["appointment.created"]}`, `{"url":"http://[::ffff:127.0.0.1]/x","events":["appointment.created"]}`, `{"url":"https://x.example/h","events":["appointment.deleted"]}`} {
		if res := ts.api(t, "POST", base, token, strings.NewReader(bad)); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", bad, res.StatusCode, res.Body)
		}
	}
	if n := ts.rows(t, "webhook_endpoints"); n != 0 {
		t.Fatalf("%d endpoints after refused requests", n)
	}
	res := ts.api(t, "POST", base, token, strings.NewReader(`{"url":"https://hooks.example.org/in","events":["appointment.created","appointment.cancelled"]}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	var hook apiWebhook
	if err := json.Unmarshal([]byte(res.Body), &hook); err != nil || !strings.HasPrefix(hook.Secret, "whsec_") {
		t.Fatalf("create answer %s: %v", res.Body, err)
	}
	onlyMoves := ts.api(t, "POST", base, token, strings.NewReader(`{"url":"https://other.example.org/in","events":["appointment.moved"]}`))
	if onlyMoves.StatusCode != http.StatusCreated {
		t.Fatal(onlyMoves.Body)
	}
	if list := ts.api(t, "GET", base, token, nil); strings.Contains(list.Body, hook.Secret) || !strings.Contains(list.Body, hook.ID) {
		t.Errorf("list: %s", list.Body)
	}

	a := w.book(t, localAt(t, ts.srv.clock(), 4, 10, 0), w.visit, "SECRET-REASON", "")
	rows := w.mails(t, "https://hooks.example.org/in", store.WebhookTemplate(hook.ID))
	if len(rows) != 1 {
		t.Fatalf("%d webhook rows after a booking, want 1", len(rows))
	}
	m := rows[0]
	if m.Kind != "webhook" || m.State != store.OutboxQueued || m.Headers["X-Daraport-Event"] != EventCreated {
		t.Errorf("webhook row %+v", m)
	}
	sig := m.Headers["X-Daraport-Signature"]
	tsPart, v1, ok := strings.Cut(sig, ",v1=")
	mac := hmac.New(sha256.New, []byte(hook.Secret))
	mac.Write([]byte(strings.TrimPrefix(tsPart, "t=") + "." + m.TextBody))
	if !ok || !strings.HasPrefix(tsPart, "t=") || !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		t.Errorf("signature %q does not verify", sig)
	}
	var body struct {
		ID, Type, CreatedAt string         `json:"-"`
		Data                map[string]any `json:"data"`
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(m.TextBody), &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(m.TextBody), &body); err != nil {
		t.Fatal(err)
	}
	if raw["type"] != EventCreated || raw["id"] == "" || raw["created_at"] == "" || body.Data["id"] != a.ID || body.Data["practitioner_id"] != w.practice.ID ||
		body.Data["start"] != a.Start.In(paris(t)).Format(time.RFC3339) || strings.Contains(m.TextBody, "SECRET-REASON") {
		t.Errorf("webhook body %s", m.TextBody)
	}
	if n := len(w.mails(t, "https://other.example.org/in", "")) + ts.rows(t, "outbox", "to_addr = ?", "https://other.example.org/in"); n != 0 {
		t.Errorf("an endpoint not subscribed to bookings got %d rows", n)
	}
	// A retry is re-signed at its own time, with the same secret.
	later := ts.srv.clock().Add(time.Hour)
	fresh, ok, err := ts.srv.webhookHeadersAt(context.Background(), m, later)
	mac = hmac.New(sha256.New, []byte(hook.Secret))
	mac.Write([]byte(strconv.FormatInt(later.Unix(), 10) + "." + m.TextBody))
	if err != nil || !ok || fresh["X-Daraport-Signature"] != "t="+strconv.FormatInt(later.Unix(), 10)+",v1="+hex.EncodeToString(mac.Sum(nil)) ||
		fresh["X-Daraport-Event"] != EventCreated || m.Headers["X-Daraport-Signature"] != sig {
		t.Errorf("re-signed headers %v (%v %v)", fresh, ok, err)
	}
	// A move: only the endpoint subscribed to moves.
	moved := w.move(t, a, localAt(t, ts.srv.clock(), 5, 10, 0))
	if n := ts.rows(t, "outbox", "to_addr = ?", "https://other.example.org/in"); n != 1 {
		t.Errorf("%d rows for the moves endpoint", n)
	}
	w.cancel(t, moved)
	log := ts.api(t, "GET", base+"/"+hook.ID+"/deliveries", token, nil)
	var deliveries []webhookDelivery
	if err := json.Unmarshal([]byte(log.Body), &deliveries); err != nil || len(deliveries) != 2 || deliveries[0].Event != EventCancelled ||
		deliveries[1].Event != EventCreated || deliveries[0].State != store.OutboxQueued {
		t.Fatalf("delivery log: %s", log.Body)
	}
	// The page shows the log to the staff, never the secret.
	c := ts.client(t)
	ts.login(t, c, w.pro)
	page := ts.get(t, c, "/pro/p/"+w.practice.ID+"/notices")
	if page.StatusCode != http.StatusOK || !pageHas(page.Body, "https://hooks.example.org/in") || strings.Contains(page.Body, hook.Secret) ||
		!pageHas(page.Body, ts.text(t, "en", "notices.state.queued")) {
		t.Errorf("notices page: %d", page.StatusCode)
	}
	// Created from the page: the secret is shown on that answer only.
	created := ts.post(t, c, "/pro/p/"+w.practice.ID+"/webhooks", map[string][]string{"url": {"https://third.example.org/x"}, "events": {EventPaid}})
	list, _ := ts.db.FindWebhooks(context.Background(), w.practice.ID)
	var third *store.Webhook
	for _, h := range list {
		if h.URL == "https://third.example.org/x" {
			third = h
		}
	}
	if created.StatusCode != http.StatusOK || len(list) != 3 || third == nil || !strings.Contains(created.Body, third.Secret) {
		t.Fatalf("page creation: %d", created.StatusCode)
	}
	if again := ts.get(t, c, "/pro/p/"+w.practice.ID+"/notices"); strings.Contains(again.Body, third.Secret) {
		t.Error("the secret is shown again")
	}
	if n := ts.rows(t, "audit", "action = 'webhook.created'"); n != 3 {
		t.Errorf("%d audit entries for 3 endpoints", n)
	}
	// Removed: no more rows.
	if res := ts.api(t, "DELETE", base+"/"+hook.ID, token, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if _, ok, err := ts.srv.webhookHeadersAt(context.Background(), m, later); ok || err != nil {
		t.Errorf("a removed endpoint's delivery can still be signed (%v)", err)
	}
	w.book(t, localAt(t, ts.srv.clock(), 4, 11, 0), w.visit, "", "")
	if n := ts.rows(t, "outbox", "to_addr = ?", "https://hooks.example.org/in"); n != 2 {
		t.Errorf("%d rows to a removed endpoint, want the 2 from before", n)
	}
}

// TestNoticesSettings: a practice's own offsets apply to new bookings; []
// means none, null the installation's; bad input is refused.
func TestNoticesSettings(t *testing.T) {
	t.Parallel()
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	token := ts.token(t, w.pro)
	path := "/api/v1/practices/" + w.practice.ID + "/notices"
	for _, bad := range []string{`{"reminders":["1m"]}`, `{"reminders":["48h","soon"]}`, `{"reminders":["31d"]}`,
		`{"reminders":["1h","2h","3h","4h","5h","6h"]}`, `{"reminders":"48h"}`, `{"reminders":["90s"]}`} {
		if res := ts.api(t, "PUT", path, token, strings.NewReader(bad)); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", bad, res.StatusCode, res.Body)
		}
	}
	res := ts.api(t, "PUT", path, token, strings.NewReader(`{"reminders":["3h","3d"]}`))
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"reminders":["72h","3h"]`) {
		t.Fatalf("save: %d %s", res.StatusCode, res.Body)
	}
	a := w.book(t, localAt(t, ts.srv.clock(), 5, 10, 0), w.visit, "", "")
	if rem := w.pending(t, a.ID); len(rem) != 2 || rem[0].Offset != 72*time.Hour || rem[1].Offset != 3*time.Hour {
		t.Errorf("reminders with the practice's offsets: %+v", rem)
	}
	ts.api(t, "PUT", path, token, strings.NewReader(`{"reminders":[]}`))
	b := w.book(t, localAt(t, ts.srv.clock(), 5, 11, 0), w.visit, "", "")
	if rem := w.pending(t, b.ID); len(rem) != 0 {
		t.Errorf("reminders although the practice wants none: %+v", rem)
	}
	res = ts.api(t, "PUT", path, token, strings.NewReader(`{"reminders":null}`))
	if !strings.Contains(res.Body, `"reminders":null`) || !strings.Contains(res.Body, `"effective":["48h","2h"]`) {
		t.Errorf("back to the default: %s", res.Body)
	}
	// The form, by the secretary too.
	sec := ts.addUser(t, "sec@example.org", "Sam Secretary", store.RoleSecretary, w.practice.ID)
	c := ts.client(t)
	ts.login(t, c, sec)
	if r := ts.post(t, c, "/pro/p/"+w.practice.ID+"/notices", map[string][]string{"mode": {"custom"}, "reminders": {"24h, 90m"}, "sms_enabled": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("form save: %d", r.StatusCode)
	}
	n, _ := ts.db.FindPracticeNotices(context.Background(), w.practice.ID)
	if len(n.Reminders) != 2 || n.Reminders[0] != 24*time.Hour || n.Reminders[1] != 90*time.Minute || !n.SMSEnabled {
		t.Errorf("saved %+v", n)
	}
	r := ts.post(t, c, "/pro/p/"+w.practice.ID+"/notices", map[string][]string{"mode": {"custom"}, "reminders": {"<script>x</script>"}})
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<script>x") || !strings.Contains(r.Body, "&lt;script&gt;") {
		t.Errorf("bad form: %d", r.StatusCode)
	}
	if n := ts.rows(t, "audit", "action = 'practice.notices_saved'"); n != 4 {
		t.Errorf("%d audit entries for 4 saves", n)
	}
}
