package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// Recurring series (issue 4, item 7): the staff book the same type every N
// weeks, count times, for one patient. Every occurrence is checked against
// the rules of a single staff booking (a free run of slots for the type's
// duration and buffer, inside the horizon; staff are exempt from the
// minimum notice as in s.move), and the whole series is one write
// transaction: all or nothing, or, when the staff choose, the free ones
// booked and the conflicts listed with the nearest alternative each.

// seriesRoutes are the routes of recurring series, waitlist and API tokens (issue 4).
func (s *Server) seriesRoutes() []route {
	rs := []route{
		{method: "GET", path: "/pro/p/{id}/series", perm: PermPracticeDesk, practice: "id", h: s.handleSeriesPage},
		{method: "POST", path: "/pro/p/{id}/series", perm: PermPracticeDesk, practice: "id", h: s.handleSeriesSubmit},
		{method: "POST", path: "/api/v1/practices/{id}/series", perm: PermPracticeDesk, practice: "id", h: s.handleAPISeries},
	}
	rs = append(rs, s.waitlistRoutes()...)
	return append(rs, s.tokensRoutes()...)
}

// seriesOnChange offers time freed by a cancellation or a move to the
// waitlist, in the change's transaction.
func (s *Server) seriesOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	return s.waitlistOnChange(ctx, tx, ev)
}

// Series bounds.
const (
	seriesMaxCount    = 52
	seriesMaxInterval = 26
)

// Series modes: all or nothing, or the free occurrences only.
const (
	seriesAll  = "all"
	seriesFree = "free"
)

// seriesRequest is a series the staff ask for, before validation.
type seriesRequest struct {
	Practice      *store.Practice
	PatientEmail  string
	TypeID        string
	First         time.Time
	IntervalWeeks int
	Count         int
	Mode          string
	Quiet         bool // do not e-mail the patient
	Reason        string
	Phone         string
	Actor         *Actor
	IP            string
}

// seriesConflict is an occurrence that could not be booked, with why and
// the nearest free start of the same type, if any.
type seriesConflict struct {
	Index       int // 1-based occurrence number
	Start       time.Time
	Why         string // taken | closed | beyond | past
	Alternative *schedule.Cell
}

// seriesResult is what booking a series did.
type seriesResult struct {
	Series    *store.Series
	Type      *store.AppointmentType
	Patient   *store.User
	Booked    []*store.Appointment
	Conflicts []seriesConflict
}

// errSeriesConflict rolls the series transaction back when all-or-nothing
// meets a conflict.
var errSeriesConflict = errors.New("series conflict")

// seriesOccurrence is one planned time of a series inside the transaction.
type seriesOccurrence struct {
	start time.Time
	ids   []string
	slot  store.Slot
	why   string
}

// occurrenceStarts returns the count starts of a series: the first start's
// local wall time every interval weeks in the practice's zone (so a series
// keeps its hour across a DST change). A wall time that does not exist on
// a day (clocks going forward) is returned as the zero time.
func occurrenceStarts(first time.Time, loc *time.Location, intervalWeeks, count int) []time.Time {
	lf := first.In(loc)
	day := schedule.DayOf(lf)
	minutes := lf.Hour()*60 + lf.Minute()
	out := make([]time.Time, count)
	for k := range count {
		if t, ok := schedule.Local(day.AddDays(7*intervalWeeks*k), minutes, loc); ok {
			out[k] = t
		}
	}
	return out
}

// bookSeries validates req and books the series in one write transaction.
// With mode "all" a single conflict books nothing (the conflicts are
// returned with an ECodeConflict error); with mode "free" the free
// occurrences are booked and the others listed.
func (s *Server) bookSeries(ctx context.Context, req seriesRequest) (*seriesResult, error) {
	p := req.Practice
	switch {
	case req.IntervalWeeks < 1 || req.IntervalWeeks > seriesMaxInterval:
		return nil, fieldErr(ECodeInvalid, "error.series_interval", "interval_weeks")
	case req.Count < 1 || req.Count > seriesMaxCount:
		return nil, fieldErr(ECodeInvalid, "error.series_count", "count")
	case req.Mode != seriesAll && req.Mode != seriesFree:
		return nil, fieldErr(ECodeInvalid, "error.series_mode", "mode")
	}
	email := strings.TrimSpace(req.PatientEmail)
	if email == "" || len(email) > 254 {
		return nil, fieldErr(ECodeInvalid, "error.series_patient_unknown", "patient_email")
	}
	patient, err := s.db.FindUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil || !patient.DisabledAt.IsZero() || !s.isPatient(ctx, patient.ID) {
		return nil, fieldErr(ECodeInvalid, "error.series_patient_unknown", "patient_email")
	}
	typ, err := s.db.FindTypeByID(ctx, req.TypeID)
	if err != nil || typ.PracticeID != p.ID || typ.Archived() {
		return nil, fieldErr(ECodeInvalid, "error.type_unknown", "type_id")
	}
	reason, phone, err := bookingReason(p, typ, req.Reason, req.Phone)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	loc := s.location(p.TimeZone)
	horizon := s.today(p, now).AddDays(p.HorizonDays).Start(loc)
	switch {
	case req.First.IsZero():
		return nil, fieldErr(ECodeInvalid, "error.series_first", "first_start")
	case !req.First.After(now):
		return nil, fieldErr(ECodeInvalid, "error.series_first_past", "first_start")
	case horizon.Before(req.First):
		return nil, fieldErr(ECodeInvalid, "error.slot_beyond", "first_start")
	}
	need := schedule.SlotsNeeded(typ.Minutes, typ.BufferAfter, p.SlotMinutes)
	payment := "none"
	if typ.Teleconsultation && typ.Price > 0 {
		payment = "unpaid"
	}
	starts := occurrenceStarts(req.First, loc, req.IntervalWeeks, req.Count)
	res := &seriesResult{Type: typ, Patient: patient}
	var evs []apptEvent
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		res.Booked, res.Conflicts, evs = nil, nil, nil
		occ := make([]seriesOccurrence, len(starts))
		for k, t := range starts {
			occ[k] = s.checkOccurrence(ctx, tx, p, t, need, now, horizon)
			if occ[k].why != "" {
				res.Conflicts = append(res.Conflicts, seriesConflict{Index: k + 1, Start: t, Why: occ[k].why})
			}
		}
		if len(res.Conflicts) > 0 && (req.Mode == seriesAll || len(res.Conflicts) == len(occ)) {
			return errSeriesConflict
		}
		sr := &store.Series{PracticeID: p.ID, PatientID: patient.ID, TypeID: typ.ID, FirstStart: req.First,
			IntervalWeeks: req.IntervalWeeks, Count: req.Count, CreatedBy: req.Actor.User.ID}
		if err := tx.CreateSeries(ctx, sr); err != nil {
			return err
		}
		res.Series = sr
		for _, o := range occ {
			if o.why != "" {
				continue
			}
			a := &store.Appointment{PracticeID: p.ID, PatientID: patient.ID, TypeID: typ.ID, LocationID: o.slot.LocationID,
				Start: o.start, End: o.start.Add(time.Duration(typ.Minutes) * time.Minute), Reason: reason, Phone: phone,
				PaymentState: payment, Source: "staff"}
			if err := tx.CreateAppointment(ctx, a); err != nil {
				return err
			}
			if err := tx.BookSlots(ctx, p.ID, a.ID, o.ids); err != nil {
				return err // checked free in this very transaction: a conflict here is a bug
			}
			if err := tx.SetAppointmentSeries(ctx, a.ID, sr.ID); err != nil {
				return err
			}
			ev := apptEvent{Kind: EventCreated, Appt: a, Practice: p, Patient: patient, TypeName: typ.Name, ActorID: req.Actor.User.ID,
				ByStaff: true, Quiet: req.Quiet}
			if err := s.appointmentChanged(ctx, tx, ev); err != nil {
				return err
			}
			if err := tx.Audit(ctx, &store.AuditEntry{ActorID: req.Actor.User.ID, Action: "appointment.booked", ObjectType: "appointment",
				ObjectID: a.ID, IP: req.IP, Detail: "source=staff series=" + sr.ID}); err != nil {
				return err
			}
			res.Booked = append(res.Booked, a)
			evs = append(evs, ev)
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: req.Actor.User.ID, Action: "series.booked", ObjectType: "series", ObjectID: sr.ID,
			IP: req.IP, Detail: fmt.Sprintf("practice=%s booked=%d conflicts=%d mode=%s", p.ID, len(res.Booked), len(res.Conflicts), req.Mode)})
	})
	if err != nil && !errors.Is(err, errSeriesConflict) {
		return nil, err
	}
	for _, ev := range evs {
		s.appointmentCommitted(ev)
	}
	s.seriesAlternatives(ctx, p, typ, res.Conflicts)
	if errors.Is(err, errSeriesConflict) {
		e := errorf(ECodeConflict, "error.series_conflicts", "Count", len(res.Conflicts))
		e.Details = map[string]any{"conflicts": s.apiConflicts(p, res.Conflicts, "")}
		return res, e
	}
	return res, nil
}

// checkOccurrence finds the free run of slots for one occurrence at t, or
// says why there is none.
func (s *Server) checkOccurrence(ctx context.Context, tx *store.Tx, p *store.Practice, t time.Time, need int, now, horizon time.Time) seriesOccurrence {
	o := seriesOccurrence{start: t}
	switch {
	case t.IsZero():
		o.why = "closed"
		return o
	case !t.After(now):
		o.why = "past"
		return o
	case horizon.Before(t):
		o.why = "beyond"
		return o
	}
	at, err := tx.FindSlots(ctx, p.ID, t, t.Add(time.Second))
	if err != nil || len(at) == 0 {
		o.why = "closed"
		return o
	}
	o.why = "taken"
	// The main office first (location "" sorts first), then the others.
	for _, sl := range at {
		if sl.State != store.SlotFree {
			continue
		}
		run, err := tx.SlotRun(ctx, p.ID, sl.ID, need)
		if err != nil {
			continue
		}
		ids := make([]string, 0, len(run))
		for _, r := range run {
			if r.State != store.SlotFree {
				break
			}
			ids = append(ids, r.ID)
		}
		if len(ids) == need {
			o.why, o.ids, o.slot = "", ids, sl
			return o
		}
	}
	return o
}

// seriesAlternatives finds, for each conflict, the nearest free start of
// the type within three days of it.
func (s *Server) seriesAlternatives(ctx context.Context, p *store.Practice, typ *store.AppointmentType, cs []seriesConflict) {
	loc := s.location(p.TimeZone)
	now := s.clock()
	for i := range cs {
		c := &cs[i]
		if c.Why == "past" || c.Start.IsZero() {
			continue // no time to look around (a wall time DST skipped)
		}
		around := c.Start
		day := schedule.DayOf(around.In(loc))
		starts, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, day.AddDays(-3), day.AddDays(3), now)
		if err != nil {
			continue
		}
		for j := range starts {
			if c.Alternative == nil || absDur(starts[j].Start.Sub(around)) < absDur(c.Alternative.Start.Sub(around)) {
				c.Alternative = &starts[j]
			}
		}
	}
}

// apiSeriesConflict is a conflict in the API's answer.
type apiSeriesConflict struct {
	Index       int               `json:"index"`
	Start       string            `json:"start,omitempty"`
	Reason      string            `json:"reason"`
	Message     string            `json:"message"`
	Alternative map[string]string `json:"alternative,omitempty"`
}

func (s *Server) apiConflicts(p *store.Practice, cs []seriesConflict, lang string) []apiSeriesConflict {
	loc := s.location(p.TimeZone)
	if lang == "" {
		lang = s.defaultLanguage()
	}
	out := []apiSeriesConflict{}
	for _, c := range cs {
		ac := apiSeriesConflict{Index: c.Index, Reason: c.Why, Message: s.i18n.T(lang, "series.why."+c.Why)}
		if !c.Start.IsZero() {
			ac.Start = c.Start.In(loc).Format(time.RFC3339)
		}
		if c.Alternative != nil {
			ac.Alternative = map[string]string{"id": c.Alternative.ID, "start": c.Alternative.Start.In(loc).Format(time.RFC3339)}
		}
		out = append(out, ac)
	}
	return out
}

// isPatient tells whether the user holds the patient role.
func (s *Server) isPatient(ctx context.Context, userID string) bool {
	ms, err := s.db.Memberships(ctx, userID)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.Role == store.RolePatient {
			return true
		}
	}
	return false
}

// practiceFor loads the practice of the path's {id} (the guard checked the
// caller works there).
func (s *Server) practiceFor(w http.ResponseWriter, r *http.Request) (*store.Practice, bool) {
	p, err := s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return p, true
}

func (s *Server) handleAPISeries(w http.ResponseWriter, r *http.Request) {
	p, ok := s.practiceFor(w, r)
	if !ok {
		return
	}
	var body struct {
		PatientEmail  string `json:"patient_email"`
		TypeID        string `json:"type_id"`
		FirstStart    string `json:"first_start"`
		IntervalWeeks int    `json:"interval_weeks"`
		Count         int    `json:"count"`
		Mode          string `json:"mode"`
		Notify        *bool  `json:"notify"`
		Reason        string `json:"reason"`
		Phone         string `json:"phone"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	first, err := time.Parse(time.RFC3339, strings.TrimSpace(body.FirstStart))
	if err != nil {
		s.error(w, r, fieldErr(ECodeInvalid, "error.series_first", "first_start"))
		return
	}
	if body.Mode == "" {
		body.Mode = seriesAll
	}
	a := actorFrom(r)
	res, err := s.bookSeries(r.Context(), seriesRequest{Practice: p, PatientEmail: body.PatientEmail, TypeID: body.TypeID, First: first,
		IntervalWeeks: body.IntervalWeeks, Count: body.Count, Mode: body.Mode, Quiet: body.Notify != nil && !*body.Notify,
		Reason: body.Reason, Phone: body.Phone, Actor: a, IP: s.clientIP(r)})
	if err != nil {
		// The conflicts are re-worded in the caller's language.
		var e *Error
		if errors.As(err, &e) && res != nil {
			e.Details = map[string]any{"conflicts": s.apiConflicts(p, res.Conflicts, s.requestLanguage(r, a.User.Locale))}
		}
		s.error(w, r, err)
		return
	}
	appts := make([]apiAppointment, 0, len(res.Booked))
	for _, b := range res.Booked {
		appts = append(appts, s.apiAppointment(b, p.TimeZone))
	}
	writeJSON(w, http.StatusCreated, map[string]any{"series_id": res.Series.ID, "appointments": appts,
		"conflicts": s.apiConflicts(p, res.Conflicts, s.requestLanguage(r, a.User.Locale))})
}

// seriesPage is the staff's series page: the form, the last result and the
// practice's series.
type seriesPage struct {
	*Page
	Practice *store.Practice
	Types    []*store.AppointmentType
	Patients []store.PatientContact
	Form     seriesForm
	Result   *seriesView
	Series   []seriesRow
	Zone     string
	MaxCount int
}

type seriesForm struct {
	PatientEmail, TypeID, Date, Time, Reason, Phone, Mode string
	Interval, Count                                       string
	Quiet                                                 bool
}

type seriesView struct {
	Booked    []string // local date-times
	Conflicts []seriesConflictView
	Failed    bool // all or nothing met a conflict: nothing booked
}

type seriesConflictView struct {
	Index       int
	When        string
	Why         string
	Alternative string
}

type seriesRow struct {
	Patient, Type, First, Next string
	IntervalWeeks, Count       int
	Booked, Cancelled          int
}

func (s *Server) seriesPageData(w http.ResponseWriter, r *http.Request, p *store.Practice) (*seriesPage, error) {
	ctx := r.Context()
	pg := &seriesPage{Page: s.newPage(w, r, "series.title"), Practice: p, Zone: p.TimeZone, MaxCount: seriesMaxCount,
		Form: seriesForm{Interval: "1", Count: "10", Mode: seriesAll}}
	pg.Loc = s.location(p.TimeZone)
	types, err := s.db.FindTypes(ctx, p.ID, false)
	if err != nil {
		return nil, err
	}
	pg.Types = types
	if pg.Patients, err = s.db.PracticePatients(ctx, p.ID, 200); err != nil {
		return nil, err
	}
	if err := s.seriesRows(ctx, pg, p); err != nil {
		return nil, err
	}
	return pg, nil
}

// seriesRows lists the practice's last series on the page.
func (s *Server) seriesRows(ctx context.Context, pg *seriesPage, p *store.Practice) error {
	list, err := s.db.FindSeries(ctx, p.ID, 50)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, t := range pg.Types {
		names[t.ID] = t.Name
	}
	pg.Series = nil
	for _, sr := range list {
		row := seriesRow{Type: names[sr.TypeID], First: pg.DateTime(sr.FirstStart), IntervalWeeks: sr.IntervalWeeks, Count: sr.Count,
			Booked: sr.Booked, Cancelled: sr.Cancelled}
		if row.Type == "" {
			row.Type = s.typeName(ctx, sr.TypeID)
		}
		if u, err := s.db.FindUserByID(ctx, sr.PatientID); err == nil {
			row.Patient = u.Name + " <" + u.Email + ">"
		}
		if !sr.Next.IsZero() {
			row.Next = pg.DateTime(sr.Next)
		}
		pg.Series = append(pg.Series, row)
	}
	return nil
}

func (s *Server) handleSeriesPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.practiceFor(w, r)
	if !ok {
		return
	}
	pg, err := s.seriesPageData(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if e := strings.TrimSpace(r.URL.Query().Get("patient")); e != "" && len(e) <= 254 {
		pg.Form.PatientEmail = e
	}
	s.render(w, r, http.StatusOK, "series_book", pg)
}

func (s *Server) handleSeriesSubmit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.practiceFor(w, r)
	if !ok {
		return
	}
	pg, err := s.seriesPageData(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := seriesForm{PatientEmail: strings.TrimSpace(r.PostFormValue("patient_email")), TypeID: r.PostFormValue("type"),
		Date: strings.TrimSpace(r.PostFormValue("date")), Time: strings.TrimSpace(r.PostFormValue("time")),
		Interval: strings.TrimSpace(r.PostFormValue("interval")), Count: strings.TrimSpace(r.PostFormValue("count")),
		Mode: r.PostFormValue("mode"), Quiet: r.PostFormValue("quiet") == "1",
		Reason: r.PostFormValue("reason"), Phone: r.PostFormValue("phone")}
	pg.Form = f
	loc := s.location(p.TimeZone)
	var first time.Time
	day, derr := schedule.ParseDay(f.Date)
	mins, terr := schedule.ParseClock(f.Time, false)
	if derr != nil || terr != nil {
		pg.fail("date", "error.series_first")
	} else if t, ok := schedule.Local(day, mins, loc); ok {
		first = t
	} else {
		pg.fail("date", "error.series_first")
	}
	interval, err1 := strconv.Atoi(f.Interval)
	count, err2 := strconv.Atoi(f.Count)
	if err1 != nil {
		pg.fail("interval", "error.series_interval")
	}
	if err2 != nil {
		pg.fail("count", "error.series_count")
	}
	if pg.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "series_book", pg)
		return
	}
	a := actorFrom(r)
	res, err := s.bookSeries(r.Context(), seriesRequest{Practice: p, PatientEmail: f.PatientEmail, TypeID: f.TypeID, First: first,
		IntervalWeeks: interval, Count: count, Mode: f.Mode, Quiet: f.Quiet, Reason: f.Reason, Phone: f.Phone, Actor: a, IP: s.clientIP(r)})
	var e *Error
	if err != nil && !(errors.As(err, &e) && res != nil) {
		if errors.As(err, &e) && e.Field != "" {
			field := map[string]string{"first_start": "date", "interval_weeks": "interval", "type_id": "type"}[e.Field]
			if field == "" {
				field = e.Field
			}
			pg.fail(field, e.Message, e.Args...)
			s.render(w, r, statusOf(e.Code), "series_book", pg)
			return
		}
		s.error(w, r, err)
		return
	}
	v := &seriesView{Failed: err != nil}
	for _, b := range res.Booked {
		v.Booked = append(v.Booked, pg.DateTime(b.Start))
	}
	for _, c := range res.Conflicts {
		cv := seriesConflictView{Index: c.Index, Why: pg.T("series.why." + c.Why)}
		if !c.Start.IsZero() {
			cv.When = pg.DateTime(c.Start)
		}
		if c.Alternative != nil {
			cv.Alternative = pg.DateTime(c.Alternative.Start)
		}
		v.Conflicts = append(v.Conflicts, cv)
	}
	pg.Result = v
	status := http.StatusOK
	if v.Failed {
		status = http.StatusConflict
	} else {
		// A fresh form: the series is booked; its row is in the list.
		if err := s.seriesRows(r.Context(), pg, p); err != nil {
			s.error(w, r, err)
			return
		}
		pg.Form = seriesForm{Interval: "1", Count: "10", Mode: seriesAll}
	}
	s.render(w, r, status, "series_book", pg)
}

// seriesHref is the staff's series page of a practice, optionally for a patient.
func seriesHref(practiceID, email string) string {
	h := "/pro/p/" + url.PathEscape(practiceID) + "/series"
	if email != "" {
		h += "?patient=" + url.QueryEscape(email)
	}
	return h
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
