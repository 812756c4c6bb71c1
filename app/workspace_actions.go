package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// Planning changes by the practice's staff (seed 004 "Modification d'un
// planning des visites"): cancel, move, phone booking, paid/unpaid and
// no-show. Cancel, move and booking reuse s.cancel, s.move and s.book; paid,
// unpaid and no-show are conditional updates here. Each raises its
// appointment event (e-mails, webhooks, live views) and is audited.

// inviteTTL is how long a phone-booked patient's or an invited secretary's
// link to choose a password stays valid.
const inviteTTL = 7 * 24 * time.Hour

// markNoShow marks a started appointment as an unexcused absence: kept
// permanently, counted on the patient's card. Only the practice's staff; a
// future appointment is refused; a second mark is a conflict.
func (s *Server) markNoShow(ctx context.Context, a *Actor, appt *store.Appointment, p *store.Practice, ip string) error {
	if !Allow(a, PermPracticeDesk, Target{PracticeID: p.ID}) {
		return errorf(ECodeForbidden, "error.forbidden")
	}
	switch {
	case appt.State == store.AppointmentNoShow:
		return errorf(ECodeConflict, "error.ws_already_no_show")
	case appt.State != store.AppointmentBooked:
		return errorf(ECodeConflict, "error.not_booked")
	case appt.Start.After(s.clock()):
		return errorf(ECodeInvalid, "error.ws_no_show_future")
	}
	patient, err := s.db.FindUserByID(ctx, appt.PatientID)
	if err != nil {
		return err
	}
	marked := *appt
	marked.State = store.AppointmentNoShow
	ev := apptEvent{Kind: EventNoShow, Appt: &marked, Practice: p, Patient: patient, TypeName: s.typeName(ctx, appt.TypeID), ActorID: a.User.ID, ByStaff: true}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetAppointmentState(ctx, appt.ID, store.AppointmentBooked, store.AppointmentNoShow); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.ws_already_no_show")
			}
			return err
		}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "appointment.no_show", ObjectType: "appointment", ObjectID: appt.ID, IP: ip,
			Detail: "practice=" + p.ID + " patient=" + appt.PatientID})
	})
	if err != nil {
		return err
	}
	s.appointmentCommitted(ev)
	return nil
}

// setPaid marks an appointment paid (from unpaid, or from none for a
// prepayment) or back to unpaid (from paid). The update is conditional on
// the state read, so marking twice, or two people at once, gives one
// success and one conflict.
func (s *Server) setPaid(ctx context.Context, a *Actor, appt *store.Appointment, p *store.Practice, paid bool, ip string) error {
	if !Allow(a, PermPracticeDesk, Target{PracticeID: p.ID}) {
		return errorf(ECodeForbidden, "error.forbidden")
	}
	if appt.State == store.AppointmentCancelled {
		return errorf(ECodeConflict, "error.ws_cancelled")
	}
	from, to, kind := appt.PaymentState, "paid", EventPaid
	if paid && from == "paid" {
		return errorf(ECodeConflict, "error.ws_already_paid")
	}
	if paid && from != "unpaid" && from != "none" {
		return errorf(ECodeConflict, "error.ws_payment_state")
	}
	if !paid {
		if from != "paid" {
			return errorf(ECodeConflict, "error.ws_not_paid")
		}
		to, kind = "unpaid", EventUnpaid
	}
	patient, err := s.db.FindUserByID(ctx, appt.PatientID)
	if err != nil {
		return err
	}
	changed := *appt
	changed.PaymentState = to
	ev := apptEvent{Kind: kind, Appt: &changed, Practice: p, Patient: patient, TypeName: s.typeName(ctx, appt.TypeID), ActorID: a.User.ID, ByStaff: true}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetPaymentState(ctx, appt.ID, from, to); err != nil {
			if errors.Is(err, store.ErrConflict) {
				if paid {
					return errorf(ECodeConflict, "error.ws_already_paid")
				}
				return errorf(ECodeConflict, "error.ws_not_paid")
			}
			return err
		}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		action := "appointment.paid"
		if !paid {
			action = "appointment.unpaid"
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: action, ObjectType: "appointment", ObjectID: appt.ID, IP: ip,
			Detail: "practice=" + p.ID + " patient=" + appt.PatientID + " from=" + from})
	})
	if err != nil {
		return err
	}
	s.appointmentCommitted(ev)
	return nil
}

func (s *Server) visitsURL(p *store.Practice) string {
	return "/pro/p/" + url.PathEscape(p.ID) + "/visits"
}

type deskConfirmPage struct {
	*Page
	Practice *store.Practice
	Appt     wsRow
	ApptID   string
	Action   string // cancel | no-show
	Back     string
}

// handleDeskConfirm asks to confirm a change that cannot be undone:
// cancelling (the patient is e-mailed) or an unexcused absence (kept for
// good).
func (s *Server) handleDeskConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	action := r.URL.Query().Get("action")
	if action != "cancel" && action != "no-show" {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_action", "action"))
		return
	}
	loc := s.location(p.TimeZone)
	pg := s.newPage(w, r, "ws.confirm_title")
	pg.Loc = loc
	cp := &deskConfirmPage{Page: pg, Practice: p, ApptID: appt.ID, Action: action, Back: s.visitsURL(p)}
	entries, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, PatientID: appt.PatientID, From: appt.Start, To: appt.End})
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	for _, e := range entries {
		if e.ID == appt.ID {
			cp.Appt = s.wsApptRow(pg, e, now, s.today(p, now), loc)
		}
	}
	s.render(w, r, http.StatusOK, "workspace_confirm", cp)
}

func (s *Server) handleDeskCancel(w http.ResponseWriter, r *http.Request) {
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.cancel(r.Context(), actorFrom(r), appt, p, s.clientIP(r)); err != nil {
		s.deskError(w, r, err)
		return
	}
	backTo(w, r, s.visitsURL(p), "flash.ws_cancelled")
}

func (s *Server) handleDeskPaid(w http.ResponseWriter, r *http.Request)   { s.deskPaid(w, r, true) }
func (s *Server) handleDeskUnpaid(w http.ResponseWriter, r *http.Request) { s.deskPaid(w, r, false) }

func (s *Server) deskPaid(w http.ResponseWriter, r *http.Request, paid bool) {
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.setPaid(r.Context(), actorFrom(r), appt, p, paid, s.clientIP(r)); err != nil {
		s.deskError(w, r, err)
		return
	}
	flash := "flash.ws_paid"
	if !paid {
		flash = "flash.ws_unpaid"
	}
	backTo(w, r, s.visitsURL(p), flash)
}

func (s *Server) handleDeskNoShow(w http.ResponseWriter, r *http.Request) {
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.markNoShow(r.Context(), actorFrom(r), appt, p, s.clientIP(r)); err != nil {
		s.deskError(w, r, err)
		return
	}
	backTo(w, r, s.visitsURL(p), "flash.ws_no_show")
}

// ---- Move ----

type deskMovePage struct {
	*Page
	Practice *store.Practice
	Appt     wsRow
	ApptID   string
	Day      string
	Prev     string
	Next     string
	Starts   []wsStart
	Back     string
}

type wsStart struct {
	ID, Label string
}

func (s *Server) deskMovePage(w http.ResponseWriter, r *http.Request, appt *store.Appointment, p *store.Practice, dayStr string) (*deskMovePage, error) {
	ctx := r.Context()
	loc := s.location(p.TimeZone)
	now := s.clock()
	today := s.today(p, now)
	day := schedule.DayOf(appt.Start.In(loc))
	if day.Before(today) {
		day = today
	}
	if d, err := schedule.ParseDay(dayStr); err == nil && !d.Before(today) {
		day = d
	}
	typ, err := s.db.FindTypeByID(ctx, appt.TypeID)
	if err != nil {
		return nil, err
	}
	pg := s.newPage(w, r, "ws.move_title")
	pg.Loc = loc
	entries, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, States: []string{appt.State},
		From: appt.Start, To: appt.End})
	if err != nil {
		return nil, err
	}
	mp := &deskMovePage{Page: pg, Practice: p, ApptID: appt.ID, Day: day.String(), Next: day.AddDays(1).String(), Back: s.visitsURL(p)}
	if today.Before(day) {
		mp.Prev = day.AddDays(-1).String()
	}
	for _, e := range entries {
		if e.ID == appt.ID {
			mp.Appt = s.wsApptRow(pg, e, now, today, loc)
		}
	}
	starts, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, day, day, now)
	if err != nil {
		return nil, err
	}
	for _, c := range starts {
		if c.Start.After(now) {
			mp.Starts = append(mp.Starts, wsStart{ID: c.ID, Label: c.Start.In(loc).Format("15:04")})
		}
	}
	return mp, nil
}

func (s *Server) handleDeskMove(w http.ResponseWriter, r *http.Request) {
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if appt.State != store.AppointmentBooked {
		s.deskError(w, r, errorf(ECodeConflict, "error.not_booked"))
		return
	}
	mp, err := s.deskMovePage(w, r, appt, p, r.URL.Query().Get("day"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_move", mp)
}

func (s *Server) handleDeskMoveSubmit(w http.ResponseWriter, r *http.Request) {
	appt, p, err := s.deskAppointment(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	slot := strings.TrimSpace(r.PostFormValue("slot_id"))
	if slot == "" {
		s.deskError(w, r, fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id"))
		return
	}
	if _, err := s.move(r.Context(), actorFrom(r), appt, p, slot, s.clientIP(r)); err != nil {
		s.deskError(w, r, err)
		return
	}
	setFlash(w, "flash.ws_moved")
	http.Redirect(w, r, s.visitsURL(p), http.StatusSeeOther)
}

// ---- Phone booking ----

type deskBookForm struct {
	TypeID, Day, SlotID        string
	Email, Name, Reason, Phone string
	Invite                     bool
}

type deskBookPage struct {
	*Page
	Practice *store.Practice
	Types    []*store.AppointmentType
	Form     deskBookForm
	Starts   []wsStart
	Tele     bool
	Today    string
}

func (s *Server) deskBookPage(w http.ResponseWriter, r *http.Request, p *store.Practice, f deskBookForm) (*deskBookPage, error) {
	ctx := r.Context()
	loc := s.location(p.TimeZone)
	now := s.clock()
	today := s.today(p, now)
	pg := s.newPage(w, r, "ws.book_title")
	pg.Loc = loc
	types, err := s.db.FindTypes(ctx, p.ID, false)
	if err != nil {
		return nil, err
	}
	bp := &deskBookPage{Page: pg, Practice: p, Types: types, Form: f, Today: today.String()}
	var typ *store.AppointmentType
	for _, t := range types {
		if t.ID == f.TypeID {
			typ = t
		}
	}
	if typ == nil && len(types) > 0 {
		typ = types[0]
		bp.Form.TypeID = typ.ID
	}
	day := today
	if f.Day == "" && f.SlotID != "" {
		// A free slot chosen on the planning: its day.
		if sl, err := s.db.FindSlotByID(ctx, f.SlotID); err == nil && sl.PracticeID == p.ID {
			f.Day = sl.Day
		}
	}
	if d, err := schedule.ParseDay(f.Day); err == nil && !d.Before(today) {
		day = d
	}
	bp.Form.Day = day.String()
	if typ == nil {
		return bp, nil
	}
	bp.Tele = typ.Teleconsultation
	starts, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, day, day, now)
	if err != nil {
		return nil, err
	}
	for _, c := range starts {
		if c.Start.After(now) {
			bp.Starts = append(bp.Starts, wsStart{ID: c.ID, Label: c.Start.In(loc).Format("15:04")})
		}
	}
	return bp, nil
}

func (s *Server) handleDeskBook(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	bp, err := s.deskBookPage(w, r, p, deskBookForm{TypeID: q.Get("type"), Day: q.Get("day"), SlotID: q.Get("slot")})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_book", bp)
}

func (s *Server) handleDeskBookSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := deskBookForm{TypeID: v("type_id"), Day: v("day"), SlotID: v("slot_id"), Email: v("email"), Name: v("name"),
		Reason: r.PostFormValue("reason"), Phone: v("phone"), Invite: r.PostFormValue("invite") == "1"}
	fail := func(status int, field, msg string, args ...any) {
		bp, err := s.deskBookPage(w, r, p, f)
		if err != nil {
			s.error(w, r, err)
			return
		}
		bp.fail(field, msg, args...)
		s.render(w, r, status, "workspace_book", bp)
	}
	email, msg := cleanEmail(f.Email)
	if msg != "" {
		fail(http.StatusUnprocessableEntity, "email", msg)
		return
	}
	if f.SlotID == "" {
		fail(http.StatusUnprocessableEntity, "slot_id", "error.slot_unknown")
		return
	}
	a := actorFrom(r)
	patient, err := s.db.FindUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		name, msg := cleanName(f.Name)
		if msg != "" {
			fail(http.StatusUnprocessableEntity, "name", "error.ws_new_patient_name")
			return
		}
		if patient, err = s.createPhonePatient(ctx, r, p, a, email, name, f.Invite); err != nil {
			s.error(w, r, err)
			return
		}
	case err != nil:
		s.error(w, r, err)
		return
	case !patient.DisabledAt.IsZero():
		fail(http.StatusUnprocessableEntity, "email", "error.ws_patient_disabled")
		return
	}
	_, err = s.book(ctx, bookRequest{SlotID: f.SlotID, TypeID: f.TypeID, Reason: f.Reason, Phone: f.Phone, Source: "staff",
		Patient: patient, ActorID: a.User.ID, IP: s.clientIP(r)})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code != ECodeInternal {
			field := e.Field
			if field == "" {
				field = "slot_id"
			}
			fail(statusOf(e.Code), field, e.Message, e.Args...)
			return
		}
		s.error(w, r, err)
		return
	}
	// Seed 004 "Prise en charge d'un nouveau patient": in allowlist mode,
	// the patient's address is registered at once, so the next visits can
	// be booked online.
	if p.BookingMode == "allowlist" {
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			n, err := tx.AddToAllowlist(ctx, p.ID, a.User.ID, patient.Email)
			if err != nil || n == 0 {
				return err
			}
			return s.audit(ctx, tx, r, a.User.ID, "allowlist.added", "practice", p.ID, "phone_booking new=1")
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
	}
	setFlash(w, "flash.ws_booked")
	http.Redirect(w, r, s.visitsURL(p), http.StatusSeeOther)
}

// createPhonePatient makes the account of a patient booked by phone: no
// password (nobody can sign in with it until the patient chooses one from
// the invitation, or through "forgotten password"), and the optional
// invitation e-mail.
func (s *Server) createPhonePatient(ctx context.Context, r *http.Request, p *store.Practice, a *Actor, email, name string, invite bool) (*store.User, error) {
	u := &store.User{Email: email, Name: name, Locale: s.defaultLanguage(), TimeZone: p.TimeZone}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fieldErr(ECodeConflict, "error.ws_email_taken", "email")
			}
			return err
		}
		if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RolePatient}); err != nil {
			return err
		}
		if invite {
			token, err := tx.CreateEmailToken(ctx, u.ID, store.PurposeReset, inviteTTL)
			if err != nil {
				return err
			}
			m := s.mailerFor(u.Locale)
			c := m.compose("ws_patient_invite", u.Name, s.link("/reset/confirm", url.Values{"token": {token}}), "Practice", p.Name)
			if err := s.enqueue(ctx, tx, u.Email, "ws_patient_invite", c); err != nil {
				return err
			}
		}
		detail := "practice=" + p.ID
		if invite {
			detail += " invited"
		}
		return s.audit(ctx, tx, r, a.User.ID, "patient.created_by_staff", "user", u.ID, detail)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
