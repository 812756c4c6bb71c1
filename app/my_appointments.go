package app

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// "My appointments": the patient's upcoming and past appointments, one
// appointment's page (also the confirmation page after booking), its
// calendar file, and the cancel and move steps. Every page of one
// appointment goes through s.loadAppointment: another patient's appointment
// is a 404, and the attempt is audited.

// myAppointmentsRoutes are the patient's appointment pages.
func (s *Server) myAppointmentsRoutes() []route {
	return []route{
		{method: "GET", path: "/appointments", perm: PermSignedIn, h: s.handleMyAppointments},
		// Also serves /appointments/{id}.ics (a pattern wildcard must be a
		// whole path segment): see handleMyAppointment.
		{method: "GET", path: "/appointments/{id}", perm: PermSignedIn, h: s.handleMyAppointment},
		{method: "GET", path: "/appointments/{id}/confirmed", perm: PermSignedIn, h: s.handleMyAppointmentConfirmed},
		{method: "GET", path: "/appointments/{id}/cancel", perm: PermSignedIn, h: s.handleMyAppointmentCancelPage},
		{method: "POST", path: "/appointments/{id}/cancel", perm: PermSignedIn, h: s.handleMyAppointmentCancel},
		{method: "GET", path: "/appointments/{id}/move", perm: PermSignedIn, h: s.handleMyAppointmentMovePage},
		{method: "POST", path: "/appointments/{id}/move", perm: PermSignedIn, h: s.handleMyAppointmentMove},
	}
}

// myAppt is one appointment as the patient reads it.
type myAppt struct {
	ID           string
	PracticeID   string
	PracticeName string
	TypeName     string
	When         string // in the practice's zone
	WhenViewer   string // teleconsultations: in the viewer's zone when it differs
	ViewerZone   string
	Zone         string
	ISO          string
	Start        time.Time
	State        string // booked | cancelled | attended | no_show
	Cancelled    bool
	Tele         bool
	Unpaid       bool // an unpaid teleconsultation (seed 004: shown in red)
	Paid         bool
	Reason       string
	Address      string
	MapURL       string
	Phone        string
	PhoneHref    template.URL // tel:+digits, or "" when the number has none
	Upcoming     bool
	CanCancel    bool
	CanMove      bool
	// Note says why cancelling or moving online is not offered (the
	// practice's rule, or its cut-off); the pages add the practice's phone.
	Note     string
	VisitURL string // the video visit, once one exists (the video issue)
}

// myApptLoader reads the practices and types of a list of appointments once each.
type myApptLoader struct {
	s         *Server
	practices map[string]*store.Practice
	types     map[string]*store.AppointmentType
	locations map[string]map[string]*store.Location
}

func (s *Server) newMyApptLoader() *myApptLoader {
	return &myApptLoader{s: s, practices: map[string]*store.Practice{}, types: map[string]*store.AppointmentType{},
		locations: map[string]map[string]*store.Location{}}
}

func (l *myApptLoader) practice(ctx context.Context, id string) (*store.Practice, error) {
	if p, ok := l.practices[id]; ok {
		return p, nil
	}
	p, err := l.s.db.FindPracticeByID(ctx, id)
	if err != nil {
		return nil, err
	}
	l.practices[id] = p
	return p, nil
}

func (l *myApptLoader) typ(ctx context.Context, id string) *store.AppointmentType {
	if t, ok := l.types[id]; ok {
		return t
	}
	t, err := l.s.db.FindTypeByID(ctx, id)
	if err != nil {
		t = &store.AppointmentType{ID: id}
	}
	l.types[id] = t
	return t
}

func (l *myApptLoader) location(ctx context.Context, practiceID, id string) *store.Location {
	if l.locations[practiceID] == nil {
		l.locations[practiceID] = map[string]*store.Location{}
		if list, err := l.s.db.Locations(ctx, practiceID); err == nil {
			for _, loc := range list {
				l.locations[practiceID][loc.ID] = loc
			}
		}
	}
	return l.locations[practiceID][id]
}

// view builds what the pages show of appt, and what the viewer may do.
func (l *myApptLoader) view(ctx context.Context, pg *Page, a *Actor, appt *store.Appointment, p *store.Practice) myAppt {
	s := l.s
	now := s.clock()
	loc := s.location(p.TimeZone)
	t := l.typ(ctx, appt.TypeID)
	v := myAppt{ID: appt.ID, PracticeID: p.ID, PracticeName: p.Name, TypeName: t.Name, Zone: p.TimeZone,
		When: s.bookWhen(pg.Lang, appt.Start, loc), ISO: appt.Start.In(loc).Format(time.RFC3339), Start: appt.Start,
		State: appt.State, Cancelled: appt.State == store.AppointmentCancelled, Tele: t.Teleconsultation,
		Reason: appt.Reason, Phone: p.SecretaryPhone, Upcoming: appt.End.After(now)}
	v.PhoneHref = myApptTel(p.SecretaryPhone)
	v.Unpaid = v.Tele && appt.PaymentState == "unpaid" && !v.Cancelled
	v.Paid = appt.PaymentState == "paid"
	if v.Tele {
		v.WhenViewer, v.ViewerZone = s.bookViewerWhen(pg, appt.Start, loc)
	}
	addr, postal, city := p.Address, p.PostalCode, p.City
	if appt.LocationID != "" {
		if l := l.location(ctx, p.ID, appt.LocationID); l != nil {
			addr, postal, city = strings.TrimSpace(l.Name+", "+l.Address), l.PostalCode, l.City
		}
	}
	v.Address = myApptAddress(addr, postal, city)
	if v.Address != "" && !v.Tele {
		v.MapURL = "https://www.openstreetmap.org/search?query=" + url.QueryEscape(v.Address)
	}
	if v.Tele && appt.State == store.AppointmentBooked {
		v.VisitURL = s.appointmentVisitLink(ctx, appt)
	}
	staff := Allow(a, PermPracticeDesk, Target{PracticeID: p.ID})
	booked := appt.State == store.AppointmentBooked && appt.Start.After(now)
	beforeCutoff := now.Add(time.Duration(p.CancelCutoffHours) * time.Hour).Before(appt.Start)
	if booked {
		v.CanCancel = staff || (p.PatientCanCancel && beforeCutoff)
		v.CanMove = staff || beforeCutoff
		switch {
		case v.CanCancel && v.CanMove:
		case !p.PatientCanCancel && v.CanMove:
			v.Note = pg.T("appts.cancel_not_offered")
		case !p.PatientCanCancel:
			v.Note = pg.T("appts.cancel_not_offered") + " " + pg.T("appts.move_cutoff", "Hours", p.CancelCutoffHours)
		default:
			v.Note = pg.T("appts.changes_cutoff", "Hours", p.CancelCutoffHours)
		}
	}
	return v
}

// myApptTel makes a tel: link of a phone number, keeping only its digits
// and a leading +, so the link can be trusted in a page.
func myApptTel(phone string) template.URL {
	var b strings.Builder
	for i, r := range strings.TrimSpace(phone) {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	if len(strings.TrimPrefix(b.String(), "+")) < 3 {
		return ""
	}
	return template.URL("tel:" + b.String())
}

// myApptAddress joins an address for one line: "12 rue X, 75011 Paris".
func myApptAddress(addr, postal, city string) string {
	tail := strings.TrimSpace(postal + " " + city)
	switch {
	case strings.TrimSpace(addr) == "":
		return tail
	case tail == "":
		return strings.TrimSpace(addr)
	}
	return strings.TrimSpace(addr) + ", " + tail
}

// appointmentVisitLink is the hook for the video visit (DESIGN §6): the
// patient's secret link to the visit of a booked teleconsultation, else "".
// It writes nothing, so mails built inside a transaction may call it.
func (s *Server) appointmentVisitLink(ctx context.Context, appt *store.Appointment) string {
	return s.visitURLFor(ctx, appt)
}

// myAppointmentsPage is the data of templates/pages/appointments.html.
type myAppointmentsPage struct {
	*Page
	Upcoming []myAppt
	Past     []myAppt
}

// handleMyAppointments lists the signed-in person's own appointments:
// upcoming ones soonest first, past ones newest first.
func (s *Server) handleMyAppointments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	list, err := s.db.FindAppointments(ctx, store.AppointmentFilter{PatientID: a.User.ID})
	if err != nil {
		s.error(w, r, err)
		return
	}
	pg := &myAppointmentsPage{Page: s.newPage(w, r, "appts.title")}
	l := s.newMyApptLoader()
	for _, appt := range list {
		p, err := l.practice(ctx, appt.PracticeID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := l.view(ctx, pg.Page, a, appt, p)
		if v.Upcoming {
			pg.Upcoming = append(pg.Upcoming, v)
		} else {
			pg.Past = append(pg.Past, v)
		}
	}
	sort.SliceStable(pg.Upcoming, func(i, j int) bool { return pg.Upcoming[i].Start.Before(pg.Upcoming[j].Start) })
	sort.SliceStable(pg.Past, func(i, j int) bool { return pg.Past[i].Start.After(pg.Past[j].Start) })
	s.render(w, r, http.StatusOK, "appointments", pg)
}

// myAppointmentPage is the data of the one-appointment pages: its page,
// the confirmation, the cancel step and the move step.
type myAppointmentPage struct {
	*Page
	Appt      myAppt
	Confirmed bool // just booked
	// Move step.
	Week         *bookWeek
	Target       string // the chosen new time (confirm step of a move)
	TargetID     string
	Taken        bool
	Alternatives []bookAlt
}

func (s *Server) myAppointmentPage(w http.ResponseWriter, r *http.Request, titleID string) (*myAppointmentPage, *store.Appointment, *store.Practice, bool) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return nil, nil, nil, false
	}
	pg := &myAppointmentPage{Page: s.newPage(w, r, titleID)}
	pg.Appt = s.newMyApptLoader().view(r.Context(), pg.Page, actorFrom(r), appt, p)
	return pg, appt, p, true
}

// handleMyAppointment shows one appointment; /appointments/{id}.ics is its
// calendar file.
func (s *Server) handleMyAppointment(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutSuffix(r.PathValue("id"), ".ics"); ok {
		r.SetPathValue("id", id)
		s.handleAppointmentICS(w, r)
		return
	}
	pg, _, _, ok := s.myAppointmentPage(w, r, "appts.detail_title")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "appointments_detail", pg)
}

// handleMyAppointmentConfirmed is the page right after booking.
func (s *Server) handleMyAppointmentConfirmed(w http.ResponseWriter, r *http.Request) {
	pg, _, _, ok := s.myAppointmentPage(w, r, "appts.confirmed_title")
	if !ok {
		return
	}
	pg.Confirmed = true
	s.render(w, r, http.StatusOK, "appointments_detail", pg)
}

// handleMyAppointmentCancelPage asks for confirmation before cancelling,
// or says why cancelling online is not offered.
func (s *Server) handleMyAppointmentCancelPage(w http.ResponseWriter, r *http.Request) {
	pg, _, _, ok := s.myAppointmentPage(w, r, "appts.cancel_title")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "appointments_cancel", pg)
}

// handleMyAppointmentCancel cancels (s.cancel checks the practice's rule
// and cut-off), then goes back to the list.
func (s *Server) handleMyAppointmentCancel(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	err := s.cancel(r.Context(), actorFrom(r), appt, p, s.clientIP(r))
	if err == nil {
		setFlash(w, "flash.appt_cancelled")
		http.Redirect(w, r, "/appointments", http.StatusSeeOther)
		return
	}
	e, known := errorFrom(err)
	if !known {
		s.error(w, r, err)
		return
	}
	pg := &myAppointmentPage{Page: s.newPage(w, r, "appts.cancel_title")}
	if fresh, ferr := s.db.FindAppointmentByID(r.Context(), appt.ID); ferr == nil {
		appt = fresh
	}
	pg.Appt = s.newMyApptLoader().view(r.Context(), pg.Page, actorFrom(r), appt, p)
	pg.Error = pg.T(e.Message, e.Args...)
	s.render(w, r, statusOf(e.Code), "appointments_cancel", pg)
}

// handleMyAppointmentMovePage shows the free starts of the same type, a
// week at a time; with ?slot= it asks to confirm the new time.
func (s *Server) handleMyAppointmentMovePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pg, appt, p, ok := s.myAppointmentPage(w, r, "appts.move_title")
	if !ok {
		return
	}
	if !pg.Appt.CanMove {
		s.render(w, r, http.StatusOK, "appointments_move", pg)
		return
	}
	typ, err := s.db.FindTypeByID(ctx, appt.TypeID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	if slotID := q.Get("slot"); slotID != "" {
		slot, err := s.db.FindSlotByID(ctx, slotID)
		if err != nil || slot.PracticeID != p.ID {
			s.error(w, r, errorf(ECodeNotFound, "error.slot_unknown"))
			return
		}
		free, err := s.bookSlotFree(ctx, p, typ, slot)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if free {
			pg.Target, pg.TargetID = s.bookWhen(pg.Lang, slot.Start, s.location(p.TimeZone)), slot.ID
		} else {
			pg.Taken, pg.Error = true, pg.T("error.slot_taken")
			pg.Alternatives = s.bookAlternatives(pg.Page, p, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start), nil)
		}
	}
	if err := s.myMoveWeek(ctx, pg, appt, p, typ, q.Get("week")); err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "appointments_move", pg)
}

func (s *Server) myMoveWeek(ctx context.Context, pg *myAppointmentPage, appt *store.Appointment, p *store.Practice, typ *store.AppointmentType, week string) error {
	base := "/appointments/" + url.PathEscape(appt.ID) + "/move?"
	var err error
	pg.Week, err = s.bookWeekOf(ctx, pg.Page, p, typ, week, func(slotID string) string {
		q := url.Values{"slot": {slotID}}
		if week != "" {
			q.Set("week", week)
		}
		return base + q.Encode()
	}, func(day schedule.Day) string {
		return base + url.Values{"week": {day.String()}}.Encode()
	})
	return err
}

// handleMyAppointmentMove moves the appointment to the posted free start in
// one atomic step (s.move); the id stays. A lost race shows the nearest
// free times as buttons.
func (s *Server) handleMyAppointmentMove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	slotID := strings.TrimSpace(r.PostFormValue("slot"))
	var err error
	if slotID == "" {
		err = fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id")
	} else {
		_, err = s.move(ctx, actorFrom(r), appt, p, slotID, s.clientIP(r))
	}
	if err == nil {
		setFlash(w, "flash.appt_moved")
		http.Redirect(w, r, "/appointments/"+url.PathEscape(appt.ID), http.StatusSeeOther)
		return
	}
	e, known := errorFrom(err)
	if !known {
		s.error(w, r, err)
		return
	}
	pg := &myAppointmentPage{Page: s.newPage(w, r, "appts.move_title")}
	if fresh, ferr := s.db.FindAppointmentByID(ctx, appt.ID); ferr == nil {
		appt = fresh
	}
	pg.Appt = s.newMyApptLoader().view(ctx, pg.Page, actorFrom(r), appt, p)
	pg.Error = pg.T(e.Message, e.Args...)
	if e.Code == ECodeSlotTaken {
		pg.Taken = true
		pg.Alternatives = s.bookAlternatives(pg.Page, p, e, nil)
	}
	if pg.Appt.CanMove {
		if typ, terr := s.db.FindTypeByID(ctx, appt.TypeID); terr == nil {
			if werr := s.myMoveWeek(ctx, pg, appt, p, typ, ""); werr != nil {
				s.error(w, r, werr)
				return
			}
		}
	}
	s.render(w, r, statusOf(e.Code), "appointments_move", pg)
}
