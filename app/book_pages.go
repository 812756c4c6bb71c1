package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// The booking flow a patient walks in the browser, without JavaScript:
//
//	GET  /p/{id}/book                  step 1: choose a visit reason (type)
//	GET  /p/{id}/book?type=T[&week=D]  step 2: the free starts of a week
//	GET  /p/{id}/book?type=T&slot=S    step 3: the confirmation form
//	POST /p/{id}/book                  s.book, then 303 to the confirmation page
//
// Every rule lives in s.book; these pages only show what it answers, in
// place: a lost race shows the nearest free times as buttons, never an
// error page.

// bookPagesRoutes are the booking pages.
func (s *Server) bookPagesRoutes() []route {
	return []route{
		{method: "GET", path: "/p/{id}/book", perm: PermSignedIn, h: s.handleBookPage},
		{method: "POST", path: "/p/{id}/book", perm: PermSignedIn, h: s.handleBookSubmit},
	}
}

// bookPage is the data of templates/pages/book.html (all three steps).
type bookPage struct {
	*Page
	Practice *store.Practice
	Step     int
	Zone     string // the practice's IANA zone, shown beside times
	Types    []bookType
	Type     *bookType
	Week     *bookWeek
	Confirm  *bookConfirm
	// Alternatives are the nearest free times when the chosen one was just
	// taken (Taken); on a re-posted form they book at once.
	Taken        bool
	Alternatives []bookAlt
	// Blocked: a rule refuses this patient or this type (allowlist, ban,
	// existing patients only, too many appointments): the form is not shown
	// again, Error says why.
	Blocked bool
	// SlotGone: the time can no longer be booked online (past, too soon,
	// beyond the planning): back to the week.
	SlotGone bool
	WeekHref string      // the week of the chosen time, for "choose another time"
	Intake   *intakeView // the type's intake questions (step 3)
}

// bookType is one visit reason of step 1.
type bookType struct {
	*store.AppointmentType
	PriceText string
	Href      string
}

// bookWeek is seven days of free starts (step 2, and the move page).
type bookWeek struct {
	From, To          string // day labels of the first and last day
	Days              []bookDay
	Empty             bool
	PrevHref          string
	NextHref          string
	NextAvailable     string // when the week is empty: the first free time after it, and its week
	NextAvailableHref string
	Searched          bool // the horizon was searched for a next free time (and NextAvailable says what)
}

// bookDay is one day of a week: a foldable list of its free times (the
// first day with any is unfolded), summed up by its first and last time.
type bookDay struct {
	Label string
	ISO   string
	Times []bookTime
	Span  string // "08:00 to 19:45"
	Open  bool
}

// bookTime is one free start, a link to the next step.
type bookTime struct {
	Label string
	Href  string
	ISO   string
}

// bookConfirm is the confirmation form of step 3.
type bookConfirm struct {
	SlotID     string
	When       string // in the practice's zone
	WhenViewer string // for teleconsultations, in the viewer's zone when it differs
	ViewerZone string
	TableMode  bool
	Form       bookForm
}

// bookForm is the confirmation form as typed.
type bookForm struct {
	TypeID, SlotID, Reason, Phone, Key string
}

// bookAlt is one of the nearest free times offered after a lost race.
type bookAlt struct {
	ID    string
	Label string
	Href  string // GET step 3 with this time (when nothing was typed yet)
}

// bookKey makes a random idempotency key for a confirmation form.
func bookKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var bookKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// bookPractice loads the verified practice of the path, or answers 404.
func (s *Server) bookPractice(w http.ResponseWriter, r *http.Request) (*store.Practice, bool) {
	p, err := s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
	if err == nil && p.Status != store.PracticeVerified {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return p, true
}

// bookActiveType returns the practice's active type id, or ErrNotFound.
func (s *Server) bookActiveType(ctx context.Context, p *store.Practice, id string) (*store.AppointmentType, error) {
	if id == "" {
		return nil, store.ErrNotFound
	}
	t, err := s.db.FindTypeByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.PracticeID != p.ID || t.Archived() {
		return nil, store.ErrNotFound
	}
	return t, nil
}

func (s *Server) newBookPage(w http.ResponseWriter, r *http.Request, p *store.Practice) *bookPage {
	pg := &bookPage{Page: s.newPage(w, r, "book.title"), Practice: p, Zone: p.TimeZone}
	pg.Title = pg.T("book.title_named", "Name", p.Name)
	return pg
}

func bookHref(practiceID string, q url.Values) string {
	return "/p/" + url.PathEscape(practiceID) + "/book?" + q.Encode()
}

func (s *Server) bookTypeView(pg *Page, p *store.Practice, t *store.AppointmentType) bookType {
	bt := bookType{AppointmentType: t, Href: bookHref(p.ID, url.Values{"type": {t.ID}})}
	if t.Price > 0 {
		bt.PriceText = typesMoney(pg.Lang, t.Price, t.Currency)
	}
	return bt
}

// handleBookPage shows step 1, 2 or 3 from the query.
func (s *Server) handleBookPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, ok := s.bookPractice(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	pg := s.newBookPage(w, r, p)
	if q.Get("type") == "" {
		types, err := s.db.FindTypes(ctx, p.ID, false)
		if err != nil {
			s.error(w, r, err)
			return
		}
		pg.Step = 1
		for _, t := range types {
			pg.Types = append(pg.Types, s.bookTypeView(pg.Page, p, t))
		}
		s.render(w, r, http.StatusOK, "book", pg)
		return
	}
	typ, err := s.bookActiveType(ctx, p, q.Get("type"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(ECodeNotFound, "error.type_unknown")
		}
		s.error(w, r, err)
		return
	}
	bt := s.bookTypeView(pg.Page, p, typ)
	pg.Type = &bt
	if slotID := q.Get("slot"); slotID != "" {
		s.bookConfirmStep(w, r, pg, typ, slotID)
		return
	}
	pg.Step = 2
	week, err := s.bookWeekOf(ctx, pg.Page, p, typ, q.Get("week"), func(slotID string) string {
		return bookHref(p.ID, url.Values{"type": {typ.ID}, "slot": {slotID}})
	}, func(day schedule.Day) string {
		return bookHref(p.ID, url.Values{"type": {typ.ID}, "week": {day.String()}})
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	pg.Week = week
	s.render(w, r, http.StatusOK, "book", pg)
}

// bookConfirmStep shows step 3 for a chosen start, or, when it is no longer
// free, the nearest free times instead.
func (s *Server) bookConfirmStep(w http.ResponseWriter, r *http.Request, pg *bookPage, typ *store.AppointmentType, slotID string) {
	ctx := r.Context()
	p := pg.Practice
	slot, err := s.db.FindSlotByID(ctx, slotID)
	if err != nil || slot.PracticeID != p.ID {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			err = errorf(ECodeNotFound, "error.slot_unknown")
		}
		s.error(w, r, err)
		return
	}
	pg.Step = 3
	pg.WeekHref = bookHref(p.ID, url.Values{"type": {typ.ID}, "week": {schedule.DayOf(slot.Start.In(s.location(p.TimeZone))).String()}})
	free, err := s.bookSlotFree(ctx, p, typ, slot)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !free {
		pg.Taken, pg.Error = true, pg.T("error.slot_taken")
		pg.Alternatives = s.bookAlternatives(pg.Page, p, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start), func(id string) string {
			return bookHref(p.ID, url.Values{"type": {typ.ID}, "slot": {id}})
		})
		s.render(w, r, http.StatusOK, "book", pg)
		return
	}
	pg.Confirm = s.bookConfirmView(pg.Page, p, typ, slot, bookForm{TypeID: typ.ID, SlotID: slot.ID, Key: bookKey()})
	qs, err := s.intakeQuestions(ctx, typ.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	pg.Intake = s.intakeView(pg.Page, qs, nil)
	s.render(w, r, http.StatusOK, "book", pg)
}

// bookSlotFree tells whether slot is, now, a bookable start for typ: free
// long enough, far enough ahead, within the horizon.
func (s *Server) bookSlotFree(ctx context.Context, p *store.Practice, typ *store.AppointmentType, slot *store.Slot) (bool, error) {
	now := s.clock()
	day := schedule.DayOf(slot.Start.In(s.location(p.TimeZone)))
	if day.Before(s.today(p, now)) || s.bookLastDay(p, now).Before(day) {
		return false, nil
	}
	starts, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, day, day, now)
	if err != nil {
		return false, err
	}
	for _, c := range starts {
		if c.ID == slot.ID {
			return true, nil
		}
	}
	return false, nil
}

// bookLastDay is the last local day patients may book: the horizon, or the
// end of the generated planning if sooner.
func (s *Server) bookLastDay(p *store.Practice, now time.Time) schedule.Day {
	last := s.today(p, now).AddDays(p.HorizonDays - 1)
	if until, err := schedule.ParseDay(p.PlannedUntil); err == nil && until.Before(last) {
		last = until
	}
	return last
}

func (s *Server) bookConfirmView(pg *Page, p *store.Practice, typ *store.AppointmentType, slot *store.Slot, f bookForm) *bookConfirm {
	loc := s.location(p.TimeZone)
	c := &bookConfirm{SlotID: slot.ID, When: s.bookWhen(pg.Lang, slot.Start, loc), TableMode: p.ReasonMode == "table", Form: f}
	if typ.Teleconsultation {
		c.WhenViewer, c.ViewerZone = s.bookViewerWhen(pg, slot.Start, loc)
	}
	return c
}

// bookViewerWhen returns t in the viewer's own zone and that zone's name,
// or "" when the viewer's clock reads the same as the practice's.
func (s *Server) bookViewerWhen(pg *Page, t time.Time, practice *time.Location) (string, string) {
	if pg.Loc == nil {
		return "", ""
	}
	_, po := t.In(practice).Zone()
	_, vo := t.In(pg.Loc).Zone()
	if po == vo {
		return "", ""
	}
	return s.bookWhen(pg.Lang, t, pg.Loc), pg.Loc.String()
}

// bookAlternatives turns a slot_taken error's alternatives into buttons;
// href (may be nil) makes a link for each.
func (s *Server) bookAlternatives(pg *Page, p *store.Practice, e *Error, href func(id string) string) []bookAlt {
	var out []bookAlt
	if e == nil {
		return out
	}
	alts, _ := e.Details["alternatives"].([]map[string]string)
	loc := s.location(p.TimeZone)
	for _, a := range alts {
		t, err := time.Parse(time.RFC3339, a["start"])
		if err != nil {
			continue
		}
		alt := bookAlt{ID: a["id"], Label: s.bookWhen(pg.Lang, t, loc)}
		if href != nil {
			alt.Href = href(alt.ID)
		}
		out = append(out, alt)
	}
	return out
}

// bookWeekOf builds the seven days from week (YYYY-MM-DD; today when empty
// or invalid), clamped to today … the last bookable day, with links made by
// slotHref and weekHref. When the week has no free time, the first free
// time after it, within the horizon, is offered as a jump.
func (s *Server) bookWeekOf(ctx context.Context, pg *Page, p *store.Practice, typ *store.AppointmentType, week string,
	slotHref func(string) string, weekHref func(schedule.Day) string) (*bookWeek, error) {
	now := s.clock()
	loc := s.location(p.TimeZone)
	today, last := s.today(p, now), s.bookLastDay(p, now)
	start, err := schedule.ParseDay(week)
	if err != nil || start.Before(today) {
		start = today
	}
	if last.Before(start) && !last.Before(today) {
		start = last
	}
	end := start.AddDays(6)
	w := &bookWeek{From: s.bookShortDay(pg.Lang, start), To: s.bookShortDay(pg.Lang, end)}
	var starts []schedule.Cell
	to := end
	if last.Before(to) {
		to = last
	}
	if !p.GeneratedAt.IsZero() && !to.Before(start) {
		if starts, err = s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, start, to, now); err != nil {
			return nil, err
		}
	}
	byDay := map[string][]bookTime{}
	for _, c := range starts {
		lt := c.Start.In(loc)
		d := schedule.DayOf(lt).String()
		byDay[d] = append(byDay[d], bookTime{Label: lt.Format("15:04"), Href: slotHref(c.ID), ISO: lt.Format(time.RFC3339)})
	}
	opened := false
	for i := range 7 {
		d := start.AddDays(i)
		day := bookDay{Label: s.bookDayLabel(pg.Lang, d), ISO: d.String(), Times: byDay[d.String()]}
		if n := len(day.Times); n > 0 {
			day.Span = day.Times[0].Label
			if n > 1 {
				day.Span = pg.T("book.day_span", "First", day.Times[0].Label, "Last", day.Times[n-1].Label)
			}
			day.Open, opened = !opened, true
		}
		w.Days = append(w.Days, day)
	}
	w.Empty = len(starts) == 0
	if today.Before(start) {
		prev := start.AddDays(-7)
		if prev.Before(today) {
			prev = today
		}
		w.PrevHref = weekHref(prev)
	}
	if next := start.AddDays(7); !last.Before(next) {
		w.NextHref = weekHref(next)
	}
	if w.Empty && !p.GeneratedAt.IsZero() && end.Before(last) {
		// "Next available": the first free time after this week.
		w.Searched = true
		later, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, end.AddDays(1), last, now)
		if err != nil {
			return nil, err
		}
		if len(later) > 0 {
			first := later[0].Start.In(loc)
			w.NextAvailable = s.bookWhen(pg.Lang, first, loc)
			w.NextAvailableHref = weekHref(schedule.DayOf(first))
		}
	}
	return w, nil
}

// handleBookSubmit books the confirmed time (s.book does every check), then
// sends the patient to the confirmation page; a refusal re-renders the form
// with its message in place.
func (s *Server) handleBookSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, ok := s.bookPractice(w, r)
	if !ok {
		return
	}
	f := bookForm{TypeID: r.PostFormValue("type"), SlotID: r.PostFormValue("slot"), Reason: r.PostFormValue("reason"),
		Phone: strings.TrimSpace(r.PostFormValue("phone")), Key: r.PostFormValue("key")}
	if !bookKeyRe.MatchString(f.Key) {
		f.Key = "" // not from our form: no idempotency, but still a valid booking
	}
	slot, err := s.db.FindSlotByID(ctx, f.SlotID)
	if err != nil || slot.PracticeID != p.ID {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			err = fieldErr(ECodeInvalid, "error.slot_unknown", "slot")
		}
		s.error(w, r, err)
		return
	}
	typ, err := s.bookActiveType(ctx, p, f.TypeID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = fieldErr(ECodeInvalid, "error.type_unknown", "type")
		}
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	// The intake answers are checked before the claim and stored with it.
	qs, err := s.intakeQuestions(ctx, typ.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	answers, intakeErrs := parseIntake(r.PostForm, qs)
	if len(intakeErrs) > 0 {
		pg := s.newBookPage(w, r, p)
		bt := s.bookTypeView(pg.Page, p, typ)
		pg.Type, pg.Step = &bt, 3
		pg.WeekHref = bookHref(p.ID, url.Values{"type": {typ.ID}, "week": {schedule.DayOf(slot.Start.In(s.location(p.TimeZone))).String()}})
		pg.Confirm = s.bookConfirmView(pg.Page, p, typ, slot, f)
		pg.failIntake(intakeErrs)
		pg.Intake = s.intakeView(pg.Page, qs, r.PostForm)
		s.render(w, r, http.StatusUnprocessableEntity, "book", pg)
		return
	}
	appt, err := s.book(ctx, bookRequest{SlotID: slot.ID, TypeID: typ.ID, Reason: f.Reason, Phone: f.Phone, Key: f.Key,
		Source: "online", Patient: a.User, ActorID: a.User.ID, IP: s.clientIP(r), Answers: answers})
	if err == nil {
		http.Redirect(w, r, "/appointments/"+url.PathEscape(appt.ID)+"/confirmed", http.StatusSeeOther)
		return
	}
	e, known := errorFrom(err)
	if !known {
		s.error(w, r, err)
		return
	}
	pg := s.newBookPage(w, r, p)
	bt := s.bookTypeView(pg.Page, p, typ)
	pg.Type, pg.Step = &bt, 3
	pg.WeekHref = bookHref(p.ID, url.Values{"type": {typ.ID}, "week": {schedule.DayOf(slot.Start.In(s.location(p.TimeZone))).String()}})
	pg.Confirm = s.bookConfirmView(pg.Page, p, typ, slot, f)
	pg.Intake = s.intakeView(pg.Page, qs, r.PostForm)
	switch {
	case e.Code == ECodeSlotTaken:
		pg.Taken, pg.Error = true, pg.T(e.Message, e.Args...)
		pg.Alternatives = s.bookAlternatives(pg.Page, p, e, func(id string) string {
			return bookHref(p.ID, url.Values{"type": {typ.ID}, "slot": {id}})
		})
	case e.Field == "reason" || e.Field == "phone":
		pg.fail(e.Field, e.Message, e.Args...)
	case e.Field == "slot_id":
		pg.Error, pg.SlotGone = pg.T(e.Message, e.Args...), true
	case e.Message == "error.not_on_allowlist" && p.SecretaryPhone == "":
		pg.Error, pg.Blocked = pg.T("book.allowlist_no_phone"), true
	default:
		pg.Error, pg.Blocked = pg.T(e.Message, e.Args...), true
	}
	s.render(w, r, statusOf(e.Code), "book", pg)
}

// --- Dates for people ------------------------------------------------------

// bookDayLabel names a day for lang: "Monday 9 March", "lundi 9 mars".
func (s *Server) bookDayLabel(lang string, d schedule.Day) string {
	return s.i18n.T(lang, "book.day", "Weekday", s.i18n.T(lang, bookWeekdayID(d.Weekday())),
		"Day", d.D, "Month", s.i18n.T(lang, bookMonthID(d.M)))
}

// bookShortDay names a day briefly for lang: "9 March", "9 mars".
func (s *Server) bookShortDay(lang string, d schedule.Day) string {
	return s.i18n.T(lang, "book.short_day", "Day", d.D, "Month", s.i18n.T(lang, bookMonthID(d.M)))
}

// bookWhen writes a date and time for lang in loc: "Monday 9 March 2026 at 09:30".
func (s *Server) bookWhen(lang string, t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return s.i18n.T(lang, "book.when", "Weekday", s.i18n.T(lang, bookWeekdayID(t.Weekday())),
		"Day", t.Day(), "Month", s.i18n.T(lang, bookMonthID(t.Month())), "Year", t.Year(), "Time", t.Format("15:04"))
}

// bookWeekdayID and bookMonthID are the catalogue ids of day and month
// names ("book.weekday.mon", "book.month.jan").
func bookWeekdayID(d time.Weekday) string { return "book.weekday." + strings.ToLower(d.String()[:3]) }

func bookMonthID(m time.Month) string { return "book.month." + strings.ToLower(m.String()[:3]) }
