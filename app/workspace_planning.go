package app

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// The plannings of seed 004 ("Consultation du Planning des Visites"):
// upcoming visits (today in bronze, the following days in green, blocked
// time in blue with a long absence collapsed to its first and last slot, the
// current visit on top, free slots for the staff), the home visits text
// planner when used, the past 30 days (unpaid teleconsultations and
// unexcused absences on top, in red); a side-by-side day of a clinic's
// practitioners; a printable day sheet.

const (
	// visitsDefaultDays is today and the next two days: what the desk
	// needs at a glance on a phone; "Following days" pages further.
	visitsDefaultDays = 3
	visitsMaxDays     = 31
	// pastDefaultRows caps the past list of a busy practice; flagged rows
	// always show, ?past=all shows every row of the 30 days.
	pastDefaultRows = 60
	homeVisitsMax   = 20000
)

// wsRow is one line of a planning: an appointment, a free slot or a
// collapsed block.
type wsRow struct {
	Kind        string // appt | free | block
	Class       string // today | later | block | alert | current | free
	Day         string
	Time        string
	ApptID      string
	PatientID   string
	Patient     string
	Type        string
	Reason      string
	Phone       string
	Labels      []string
	BlockReason string
	SlotID      string
	Tele        bool
	Join        string // the staff video room while the visit's window is open
	Waiting     bool   // the patient is in the visit's waiting room
	CanCancel   bool
	CanMove     bool
	CanPaid     bool
	CanUnpaid   bool
	CanNoShow   bool
}

// wsDay is one day of the upcoming planning.
type wsDay struct {
	Label string
	ISO   string
	Today bool
	Rows  []wsRow
}

type visitsPage struct {
	*Page
	wsCtx
	LiveHTML   template.HTML // the live region, rendered (or from the cache)
	Practice   *store.Practice
	Zone       string
	Current    []wsRow
	Days       []wsDay
	Past       []wsRow
	PastMore   bool
	HomeVisits string
	From       string
	Prev, Next string
	DaysN      int
	Self       string // this view's URL, where the row forms come back
	LiveURL    string
	EventsURL  string
	Clinic     bool // the practice belongs to a clinic: offer the side-by-side day
	CanManage  bool // the practitioner (or an admin): the secretaries page
	Today      string
	NowTime    string
}

// visitsQuery reads ?from=YYYY-MM-DD&days=N&past=all.
func visitsQuery(r *http.Request, today schedule.Day) (schedule.Day, int, bool) {
	q := r.URL.Query()
	from := today
	if v := q.Get("from"); v != "" {
		if d, err := schedule.ParseDay(v); err == nil && !d.Before(today) && !today.AddDays(400).Before(d) {
			from = d
		}
	}
	n := visitsDefaultDays
	if v, err := strconv.Atoi(q.Get("days")); err == nil && v >= 1 && v <= visitsMaxDays {
		n = v
	}
	return from, n, q.Get("past") == "all"
}

// visits builds the planning page of p with its live region, rendered once
// per change for every staff user (the cache of s.live): when a change
// makes every open planning re-fetch, the practice's state is read and
// rendered once, not once per open view.
func (s *Server) visits(ctx context.Context, pg *Page, p *store.Practice, from schedule.Day, n int, allPast bool) (*visitsPage, error) {
	now := s.clock()
	key := fmt.Sprintf("visits|%s|%s|%d|%t|%s", p.ID, from, n, allPast, pg.Lang)
	v, err := s.buildVisits(ctx, pg, p, from, n, allPast, false)
	if err != nil {
		return nil, err
	}
	v.LiveHTML, _, err = s.live.render(p.ID, key, now, func() (template.HTML, error) {
		full, err := s.buildVisits(ctx, pg, p, from, n, allPast, true)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := s.tmpl.pages["workspace_visits"].ExecuteTemplate(&b, "live", full); err != nil {
			return "", err
		}
		return template.HTML(b.String()), nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// buildVisits fills the planning page of p (withData false: the header
// only, the live region comes from the cache).
func (s *Server) buildVisits(ctx context.Context, pg *Page, p *store.Practice, from schedule.Day, n int, allPast, withData bool) (*visitsPage, error) {
	loc := s.location(p.TimeZone)
	pg.Loc = loc
	now := s.clock()
	today := s.today(p, now)
	v := &visitsPage{Page: pg, Practice: p, Zone: loc.String(), From: from.String(), DaysN: n, Today: today.String(),
		NowTime: now.In(loc).Format("15:04")}
	q := url.Values{"from": {from.String()}, "days": {strconv.Itoa(n)}}
	if allPast {
		q.Set("past", "all")
	}
	base := "/pro/p/" + url.PathEscape(p.ID)
	v.Self = base + "/visits?" + q.Encode()
	// The row forms come back to the default view by themselves; only a
	// paged view names itself (every row carries it).
	next := ""
	if from != today || allPast {
		next = v.Self
	}
	v.wsCtx = newWSCtx(pg, p, next)
	v.LiveURL = base + "/visits/live?" + q.Encode()
	v.EventsURL = base + "/visits/events"
	v.Clinic = p.OrganizationID != ""
	v.CanManage = Allow(pg.Actor, PermPracticeAdmin, Target{PracticeID: p.ID})
	if prev := from.AddDays(-n); !prev.Before(today) {
		v.Prev = prev.String()
	} else if from != today {
		v.Prev = today.String()
	}
	if !today.AddDays(p.HorizonDays).Before(from.AddDays(n)) {
		v.Next = from.AddDays(n).String()
	}
	if !withData {
		return v, nil
	}

	// Upcoming: the window's appointments and slots.
	winFrom, winTo := from.Start(loc), from.AddDays(n).Start(loc)
	entries, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, From: winFrom, To: winTo,
		States: []string{store.AppointmentBooked, store.AppointmentNoShow, store.AppointmentAttended}})
	if err != nil {
		return nil, err
	}
	slots, err := s.db.FindSlots(ctx, p.ID, winFrom, winTo)
	if err != nil {
		return nil, err
	}
	var current []*store.PlanningEntry
	rest := entries[:0:0]
	for _, e := range entries {
		if e.State == store.AppointmentBooked && !e.Start.After(now) && e.End.After(now) {
			current = append(current, e)
			continue
		}
		rest = append(rest, e)
	}
	for _, e := range current {
		r := s.wsApptRow(pg, e, now, today, loc)
		r.Class = "current"
		v.Current = append(v.Current, r)
	}
	v.Days = s.wsDays(pg, p, from, n, rest, slots, now, today, loc, true)

	// Past 30 days, newest first; flagged rows (unpaid teleconsultations of
	// any age, absences of the 30 days) on top.
	if from == today {
		if err := s.buildPast(ctx, v, p, now, today, loc, allPast); err != nil {
			return nil, err
		}
	}
	hv, _, err := s.db.FindHomeVisits(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	v.HomeVisits = hv
	return v, nil
}

func (s *Server) buildPast(ctx context.Context, v *visitsPage, p *store.Practice, now time.Time, today schedule.Day, loc *time.Location, all bool) error {
	start := today.Start(loc)
	flagged, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, To: now, Unpaid: true, Desc: true})
	if err != nil {
		return err
	}
	noShows, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, From: now.AddDate(0, 0, -30), To: start, NoShow: true, Desc: true})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, list := range [][]*store.PlanningEntry{flagged, noShows} {
		for _, e := range list {
			// Today's rows stay in today's planning.
			if seen[e.ID] || !e.Start.Before(start) {
				continue
			}
			seen[e.ID] = true
			r := s.wsApptRow(v.Page, e, now, today, loc)
			r.Class = "alert"
			v.Past = append(v.Past, r)
		}
	}
	// The rest: neither absent nor unpaid (those are on top already).
	limit := pastDefaultRows + 1
	if all {
		limit = 0
	}
	past, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, From: now.AddDate(0, 0, -30), To: start,
		States: []string{store.AppointmentBooked, store.AppointmentAttended}, Settled: true, Desc: true, Limit: limit})
	if err != nil {
		return err
	}
	shown := 0
	for _, e := range past {
		if seen[e.ID] {
			continue
		}
		if !all && shown >= pastDefaultRows {
			v.PastMore = true
			break
		}
		r := s.wsApptRow(v.Page, e, now, today, loc)
		r.Class = "past"
		v.Past = append(v.Past, r)
		shown++
	}
	return nil
}

// wsApptRow formats an appointment for the plannings: labels (no-show,
// unpaid, paid, by phone) and the actions its state allows.
func (s *Server) wsApptRow(pg *Page, e *store.PlanningEntry, now time.Time, today schedule.Day, loc *time.Location) wsRow {
	ls := e.Start.In(loc)
	r := wsRow{Kind: "appt", Day: pg.Date(e.Start), Time: ls.Format("15:04") + "–" + e.End.In(loc).Format("15:04"), ApptID: e.ID,
		PatientID: e.PatientID, Patient: e.PatientName, Type: e.TypeName, Reason: e.Reason, Phone: e.Phone, Tele: e.Teleconsultation}
	if schedule.DayOf(ls) == today {
		r.Class = "today"
	} else {
		r.Class = "later"
	}
	switch e.State {
	case store.AppointmentNoShow:
		r.Labels = append(r.Labels, pg.T("ws.state.no_show"))
		r.Class = "alert"
	case store.AppointmentAttended:
		r.Labels = append(r.Labels, pg.T("ws.state.attended"))
	}
	if e.Teleconsultation && e.State == store.AppointmentBooked {
		opens, closes := e.Start.Add(-s.cfg.Visit.OpenBefore.Duration), e.Start.Add(s.cfg.Visit.CloseAfter.Duration)
		if !now.Before(opens) && now.Before(closes) {
			r.Join = visitStaffPath(e.ID)
			r.Waiting = slices.Contains(s.visitWaiting(context.Background(), e.PracticeID), e.ID)
		}
	}
	if e.Teleconsultation {
		switch e.PaymentState {
		case "unpaid":
			r.Labels = append(r.Labels, pg.T("ws.pay.unpaid"))
			if !e.End.After(now) {
				r.Class = "alert"
			}
			r.CanPaid = true
		case "paid":
			r.Labels = append(r.Labels, pg.T("ws.pay.paid"))
			r.CanUnpaid = true
		}
	}
	if e.Source == "staff" {
		r.Labels = append(r.Labels, pg.T("ws.source.staff"))
	}
	if e.State == store.AppointmentBooked {
		r.CanCancel = true
		r.CanMove = true
		r.CanNoShow = !e.Start.After(now)
	}
	return r
}

// wsDays lays the window's appointments and slots out by day: booked slots
// are shown by their appointment, free ones (future only) as free rows when
// withFree, and each run of blocked slots as one blue row from its first to
// its last slot.
func (s *Server) wsDays(pg *Page, p *store.Practice, from schedule.Day, n int, entries []*store.PlanningEntry, slots []store.Slot,
	now time.Time, today schedule.Day, loc *time.Location, withFree bool) []wsDay {
	days := make([]wsDay, n)
	for i := range days {
		d := from.AddDays(i)
		days[i] = wsDay{Label: pg.Date(d.Start(loc)), ISO: d.String(), Today: d == today}
	}
	index := func(t time.Time) int {
		d := schedule.DayOf(t.In(loc))
		for i := range days {
			if days[i].ISO == d.String() {
				return i
			}
		}
		return -1
	}
	type item struct {
		at  time.Time
		row wsRow
	}
	items := make([][]item, n)
	for _, e := range entries {
		if i := index(e.Start); i >= 0 {
			items[i] = append(items[i], item{e.Start, s.wsApptRow(pg, e, now, today, loc)})
		}
	}
	hm := func(t time.Time) string { return t.In(loc).Format("15:04") }
	for j := 0; j < len(slots); j++ {
		sl := slots[j]
		i := index(sl.Start)
		if i < 0 {
			continue
		}
		switch sl.State {
		case store.SlotFree:
			if !withFree || !sl.Start.After(now) {
				continue
			}
			// A run of free slots is one row: a busy day stays readable
			// on a phone, and the booking page offers its times.
			k := j
			for k+1 < len(slots) && slots[k+1].State == store.SlotFree && !slots[k+1].Start.After(slots[k].End) && index(slots[k+1].Start) == i {
				k++
			}
			items[i] = append(items[i], item{sl.Start, wsRow{Kind: "free", Class: "free", Time: hm(sl.Start) + "–" + hm(slots[k].End), SlotID: sl.ID,
				BlockReason: pg.T("ws.free_run", "Count", k-j+1)}})
			j = k
		case store.SlotBlocked:
			// The run of blocked slots that follow one another that day.
			k := j
			for k+1 < len(slots) && slots[k+1].State == store.SlotBlocked && !slots[k+1].Start.After(slots[k].End) && index(slots[k+1].Start) == i {
				k++
			}
			first, last := slots[j], slots[k]
			t := hm(first.Start) + "–" + hm(first.End)
			if k > j {
				t += " … " + hm(last.Start) + "–" + hm(last.End)
			}
			items[i] = append(items[i], item{first.Start, wsRow{Kind: "block", Class: "block", Time: t, BlockReason: pg.T("ws.blocked")}})
			j = k
		}
	}
	for i := range days {
		list := items[i]
		// Appointments and slots are each in order; merge by time (stable:
		// an appointment before a slot of the same start).
		for a := 1; a < len(list); a++ {
			for b := a; b > 0 && list[b].at.Before(list[b-1].at); b-- {
				list[b], list[b-1] = list[b-1], list[b]
			}
		}
		for _, it := range list {
			days[i].Rows = append(days[i].Rows, it.row)
		}
	}
	return days
}

func (s *Server) handleVisits(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	today := s.today(p, s.clock())
	from, n, all := visitsQuery(r, today)
	v, err := s.visits(r.Context(), s.newPage(w, r, "ws.visits_title"), p, from, n, all)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_visits", v)
}

// handleVisitsLive answers the live region of the planning alone: the page's
// script fetches it when the event stream says something changed.
func (s *Server) handleVisitsLive(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	today := s.today(p, s.clock())
	from, n, all := visitsQuery(r, today)
	v, err := s.visits(r.Context(), s.newPage(w, withoutFlash(r), "ws.visits_title"), p, from, n, all)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"html": string(v.LiveHTML)})
}

// renderFragment executes one named template of a page (no layout) and
// answers it as {"html": …}: JSON, so the fragment is never shown as a page
// of its own (it has no layout, no menu).
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, page, name string, data any) {
	t, ok := s.tmpl.pages[page]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("render fragment", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"html": b.String()})
}

// ---- The clinic's day, side by side ----

type clinicColumn struct {
	Practice *store.Practice
	Rows     []wsRow
}

type clinicDayPage struct {
	*Page
	wsCtx
	Practice   *store.Practice
	Date       string
	DateLabel  string
	Prev, Next string
	Columns    []clinicColumn
	Self       string
	LiveURL    string
	EventsURL  string
}

func (s *Server) handleClinicDay(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(p.TimeZone)
	now := s.clock()
	today := s.today(p, now)
	day := today
	if v := r.URL.Query().Get("date"); v != "" {
		d, err := schedule.ParseDay(v)
		if err != nil {
			s.error(w, r, fieldErr(ECodeInvalid, "error.ws_date", "date"))
			return
		}
		day = d
	}
	pr := r
	if r.URL.Query().Get("part") == "live" {
		pr = withoutFlash(r)
	}
	pg := s.newPage(w, pr, "ws.day_title")
	pg.Loc = loc
	base := "/pro/p/" + url.PathEscape(p.ID)
	c := &clinicDayPage{Page: pg, Practice: p, Date: day.String(), DateLabel: pg.Date(day.Start(loc)),
		Prev: day.AddDays(-1).String(), Next: day.AddDays(1).String(),
		Self: base + "/day?date=" + day.String(), LiveURL: base + "/day?part=live&date=" + day.String(), EventsURL: base + "/visits/events?clinic=1"}
	c.wsCtx = newWSCtx(pg, p, c.Self)
	list, err := s.clinicPractices(ctx, actorFrom(r), p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, cp := range list {
		cloc := s.location(cp.TimeZone)
		from, to := day.Start(cloc), day.AddDays(1).Start(cloc)
		entries, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: cp.ID, From: from, To: to,
			States: []string{store.AppointmentBooked, store.AppointmentNoShow, store.AppointmentAttended}})
		if err != nil {
			s.error(w, r, err)
			return
		}
		slots, err := s.db.FindSlots(ctx, cp.ID, from, to)
		if err != nil {
			s.error(w, r, err)
			return
		}
		days := s.wsDays(pg, cp, day, 1, entries, slots, now, s.today(cp, now), cloc, true)
		c.Columns = append(c.Columns, clinicColumn{Practice: cp, Rows: days[0].Rows})
	}
	if r.URL.Query().Get("part") == "live" {
		s.renderFragment(w, r, "workspace_day", "live", c)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_day", c)
}

// ---- The printable day sheet ----

type sheetPage struct {
	*Page
	Practice  *store.Practice
	Date      string
	DateLabel string
	Rows      []wsRow
}

func (s *Server) handleDaySheet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(p.TimeZone)
	now := s.clock()
	day := s.today(p, now)
	if v := r.URL.Query().Get("date"); v != "" {
		d, err := schedule.ParseDay(v)
		if err != nil {
			s.error(w, r, fieldErr(ECodeInvalid, "error.ws_date", "date"))
			return
		}
		day = d
	}
	pg := s.newPage(w, r, "ws.sheet_title")
	pg.Loc = loc
	entries, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, From: day.Start(loc), To: day.AddDays(1).Start(loc),
		States: []string{store.AppointmentBooked, store.AppointmentNoShow, store.AppointmentAttended}})
	if err != nil {
		s.error(w, r, err)
		return
	}
	sp := &sheetPage{Page: pg, Practice: p, Date: day.String(), DateLabel: pg.Date(day.Start(loc))}
	for _, e := range entries {
		sp.Rows = append(sp.Rows, s.wsApptRow(pg, e, now, s.today(p, now), loc))
	}
	s.render(w, r, http.StatusOK, "workspace_sheet", sp)
}

// ---- Home visits ----

type homeVisitsPage struct {
	*Page
	Practice *store.Practice
	Text     string
	Updated  string
}

func (s *Server) handleHomeVisits(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	text, at, err := s.db.FindHomeVisits(r.Context(), p.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	hp := &homeVisitsPage{Page: s.newPage(w, r, "ws.home_title"), Practice: p, Text: text}
	if !at.IsZero() {
		hp.Updated = hp.DateTime(at)
	}
	s.render(w, r, http.StatusOK, "workspace_home_visits", hp)
}

// cleanLongText checks a staff text: valid UTF-8, at most max characters,
// no control characters but line breaks and tabs.
func cleanLongText(v string, max int) (string, string) {
	v = strings.ReplaceAll(strings.TrimSpace(v), "\r\n", "\n")
	if !utf8.ValidString(v) {
		return v, "error.ws_text_invalid"
	}
	if utf8.RuneCountInString(v) > max {
		return v, "error.ws_text_long"
	}
	for _, c := range v {
		if unicode.IsControl(c) && c != '\n' && c != '\t' {
			return v, "error.ws_text_invalid"
		}
	}
	return v, ""
}

func (s *Server) handleHomeVisitsSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	text, msg := cleanLongText(r.PostFormValue("text"), homeVisitsMax)
	if msg != "" {
		hp := &homeVisitsPage{Page: s.newPage(w, r, "ws.home_title"), Practice: p, Text: text}
		hp.fail("text", msg)
		s.render(w, r, http.StatusUnprocessableEntity, "workspace_home_visits", hp)
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SaveHomeVisits(ctx, p.ID, text, a.User.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "home_visits.saved", "practice", p.ID, "chars="+strconv.Itoa(utf8.RuneCountInString(text)))
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.live.publish(p.ID, "home_visits.changed")
	setFlash(w, "flash.ws_saved")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/visits", http.StatusSeeOther)
}

// withoutFlash hides the one-time flash cookie from a fragment request: the
// fragment shows no flash, and must not consume the one the page a redirect
// is loading at the same moment is about to show.
func withoutFlash(r *http.Request) *http.Request {
	cs := r.Cookies()
	r2 := r.Clone(r.Context())
	r2.Header.Del("Cookie")
	for _, c := range cs {
		if c.Name != "flash" {
			r2.AddCookie(c)
		}
	}
	return r2
}
