package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// appointmentsRoutes are the appointment API (DESIGN §5).
func (s *Server) appointmentsRoutes() []route {
	return []route{
		{method: "POST", path: "/api/v1/appointments", perm: PermSignedIn, h: s.handleAPIBook},
		{method: "GET", path: "/api/v1/appointments", perm: PermSignedIn, h: s.handleAPIAppointments},
		{method: "GET", path: "/api/v1/appointments/{id}", perm: PermSignedIn, h: s.handleAPIAppointment},
		{method: "POST", path: "/api/v1/appointments/{id}/cancel", perm: PermSignedIn, h: s.handleAPICancel},
		{method: "POST", path: "/api/v1/appointments/{id}/move", perm: PermSignedIn, h: s.handleAPIMove},
	}
}

// apiAppointment is DESIGN §5's appointment payload.
type apiAppointment struct {
	ID             string `json:"id"`
	PractitionerID string `json:"practitioner_id"`
	PatientID      string `json:"patient_id"`
	TypeID         string `json:"type_id"`
	Start          string `json:"start"`
	End            string `json:"end"`
	State          string `json:"state"`
	PaymentState   string `json:"payment_state"`
	Reason         string `json:"reason"`
	Phone          string `json:"phone,omitempty"`
	LocationID     string `json:"location_id,omitempty"`
	Source         string `json:"source"`
	VisitURL       string `json:"visit_url,omitempty"`
}

// apiAppointment is the payload as the practice (staff, webhooks) sees it:
// visit_url is the staff's way into the video room. The patient's own
// secret link is only ever given to the patient (apiAppointmentFor): with
// it, anyone could take the patient's seat.
func (s *Server) apiAppointment(a *store.Appointment, zone string) apiAppointment {
	loc := s.location(zone)
	out := apiAppointment{ID: a.ID, PractitionerID: a.PracticeID, PatientID: a.PatientID, TypeID: a.TypeID,
		Start: a.Start.In(loc).Format(time.RFC3339), End: a.End.In(loc).Format(time.RFC3339), State: a.State,
		PaymentState: a.PaymentState, Reason: a.Reason, Phone: a.Phone, LocationID: a.LocationID, Source: a.Source}
	if s.visitURLFor(context.Background(), a) != "" {
		out.VisitURL = s.link(visitStaffPath(a.ID), nil)
	}
	return out
}

// apiAppointmentFor is the payload for viewer: the patient gets their own
// visit link, anyone else the staff's.
func (s *Server) apiAppointmentFor(viewer *Actor, a *store.Appointment, zone string) apiAppointment {
	out := s.apiAppointment(a, zone)
	if viewer != nil && viewer.User != nil && viewer.User.ID == a.PatientID {
		out.VisitURL = s.visitURLFor(context.Background(), a)
	}
	return out
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(ECodeBadRequest, "error.bad_json")
	}
	return nil
}

func (s *Server) handleAPIBook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SlotID  string         `json:"slot_id"`
		TypeID  string         `json:"type_id"`
		Reason  string         `json:"reason"`
		Phone   string         `json:"phone"`
		Answers map[string]any `json:"answers"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	answers, err := s.intakeFromAPI(r.Context(), body.TypeID, body.Answers)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	// A burst (a thousand patients on the same morning's slots) is served
	// a few at a time rather than all at once: the same work without a
	// thousand goroutines fighting over the read pool and the scheduler.
	// Taken once the body is read, so slow clients cannot hold it, and
	// given back as soon as the booking only waits (bookRequest.Idle).
	select {
	case s.bookGate <- struct{}{}:
	case <-r.Context().Done():
		s.error(w, r, r.Context().Err())
		return
	}
	release := sync.OnceFunc(func() { <-s.bookGate })
	appt, err := func() (*store.Appointment, error) {
		defer release()
		return s.book(r.Context(), bookRequest{SlotID: body.SlotID, TypeID: body.TypeID, Reason: body.Reason, Phone: body.Phone,
			Key: truncate(r.Header.Get("Idempotency-Key"), 100), Patient: a.User, ActorID: a.User.ID, IP: s.clientIP(r), Answers: answers,
			Idle: release})
	}()
	if err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.db.FindPracticeByID(r.Context(), appt.PracticeID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/appointments/"+url.PathEscape(appt.ID))
	writeJSON(w, http.StatusCreated, s.apiAppointmentFor(actorFrom(r), appt, p.TimeZone))
}

// canSee tells whether the actor may see an appointment: its patient, or the
// staff of its practice (and admins).
func canSee(a *Actor, appt *store.Appointment) bool {
	return appt.PatientID == a.User.ID || Allow(a, PermPracticeDesk, Target{PracticeID: appt.PracticeID})
}

// loadAppointment finds an appointment the actor may see; anything else is a
// 404, and an attempt on another's appointment is audited.
func (s *Server) loadAppointment(w http.ResponseWriter, r *http.Request) (*store.Appointment, *store.Practice, bool) {
	ctx := r.Context()
	a := actorFrom(r)
	appt, err := s.db.FindAppointmentByID(ctx, r.PathValue("id"))
	if err == nil && !canSee(a, appt) {
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, a.User.ID, "appointment.denied", "appointment", appt.ID, r.Method+" "+r.Pattern)
		})
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return nil, nil, false
	}
	p, err := s.db.FindPracticeByID(ctx, appt.PracticeID)
	if err != nil {
		s.error(w, r, err)
		return nil, nil, false
	}
	return appt, p, true
}

func (s *Server) handleAPIAppointment(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.apiAppointmentFor(actorFrom(r), appt, p.TimeZone))
}

// handleAPIAppointments lists the caller's own appointments, or with
// ?practice_id= the practice's (staff), newest first; limit pages them.
func (s *Server) handleAPIAppointments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	limit, offset, err := pageParams(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := store.AppointmentFilter{PatientID: a.User.ID}
	if pid := r.URL.Query().Get("practice_id"); pid != "" {
		if !Allow(a, PermPracticeDesk, Target{PracticeID: pid}) {
			s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
			return
		}
		f = store.AppointmentFilter{PracticeID: pid}
	}
	list, err := s.db.FindAppointments(ctx, f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	zones := map[string]string{}
	out := make([]apiAppointment, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		appt := list[i]
		if _, ok := zones[appt.PracticeID]; !ok {
			p, err := s.db.FindPracticeByID(ctx, appt.PracticeID)
			if err != nil {
				s.error(w, r, err)
				return
			}
			zones[appt.PracticeID] = p.TimeZone
		}
		out = append(out, s.apiAppointmentFor(actorFrom(r), appt, zones[appt.PracticeID]))
	}
	if limit == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	page, next := paginate(out, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"appointments": page, "next": next})
}

// cancel cancels a booked appointment: the patient only if the practice
// allows it and before its cut-off; the practice's staff at any time.
func (s *Server) cancel(ctx context.Context, a *Actor, appt *store.Appointment, p *store.Practice, ip string) error {
	staff := Allow(a, PermPracticeDesk, Target{PracticeID: p.ID})
	if !staff {
		if !p.PatientCanCancel {
			return phoneErr(ECodeForbidden, "error.cancel_not_allowed", p.SecretaryPhone)
		}
		if s.clock().Add(time.Duration(p.CancelCutoffHours) * time.Hour).After(appt.Start) {
			return phoneErr(ECodeConflict, "error.cancel_too_late", p.SecretaryPhone, "Hours", p.CancelCutoffHours)
		}
	}
	if appt.State != store.AppointmentBooked {
		return errorf(ECodeConflict, "error.not_booked")
	}
	patient, err := s.db.FindUserByID(ctx, appt.PatientID)
	if err != nil {
		return err
	}
	cancelled := *appt
	cancelled.State = store.AppointmentCancelled
	ev := apptEvent{Kind: EventCancelled, Appt: &cancelled, Practice: p, Patient: patient, TypeName: s.typeName(ctx, appt.TypeID),
		ActorID: a.User.ID, ByStaff: staff && a.User.ID != appt.PatientID}
	err = s.db.Batch(ctx, func(tx *store.Tx) error {
		if err := tx.SetAppointmentState(ctx, appt.ID, store.AppointmentBooked, store.AppointmentCancelled); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.not_booked")
			}
			return err
		}
		if _, err := tx.ReleaseSlots(ctx, appt.ID); err != nil {
			return err
		}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "appointment.cancelled", ObjectType: "appointment", ObjectID: appt.ID, IP: ip})
	})
	if err == nil {
		s.appointmentCommitted(ev)
	}
	return err
}

func (s *Server) typeName(ctx context.Context, typeID string) string {
	if t, err := s.db.FindTypeByID(ctx, typeID); err == nil {
		return t.Name
	}
	return ""
}

func (s *Server) handleAPICancel(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	if err := s.cancel(r.Context(), actorFrom(r), appt, p, s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	appt, err := s.db.FindAppointmentByID(r.Context(), appt.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiAppointmentFor(actorFrom(r), appt, p.TimeZone))
}

// move gives a booked appointment another free start in one atomic step:
// the new slots are claimed and the old ones released in one transaction, so
// the patient never holds both nor neither. The id stays.
func (s *Server) move(ctx context.Context, a *Actor, appt *store.Appointment, p *store.Practice, slotID, ip string) (*store.Appointment, error) {
	staff := Allow(a, PermPracticeDesk, Target{PracticeID: p.ID})
	if appt.State != store.AppointmentBooked {
		return nil, errorf(ECodeConflict, "error.not_booked")
	}
	if !staff && s.clock().Add(time.Duration(p.CancelCutoffHours)*time.Hour).After(appt.Start) {
		return nil, phoneErr(ECodeConflict, "error.move_too_late", p.SecretaryPhone, "Hours", p.CancelCutoffHours)
	}
	typ, err := s.db.FindTypeByID(ctx, appt.TypeID)
	if err != nil {
		return nil, err
	}
	slot, err := s.db.FindSlotByID(ctx, slotID)
	if err != nil || slot.PracticeID != p.ID {
		return nil, fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id")
	}
	now := s.clock()
	notice := time.Duration(p.MinNoticeMinutes) * time.Minute
	if staff {
		notice = 0
	}
	if !slot.Start.After(now.Add(notice)) {
		return nil, fieldErr(ECodeInvalid, "error.slot_too_soon", "slot_id")
	}
	if s.today(p, now).AddDays(p.HorizonDays).Start(s.location(p.TimeZone)).Before(slot.Start) {
		return nil, fieldErr(ECodeInvalid, "error.slot_beyond", "slot_id")
	}
	patient, err := s.db.FindUserByID(ctx, appt.PatientID)
	if err != nil {
		return nil, err
	}
	need := schedule.SlotsNeeded(typ.Minutes, typ.BufferAfter, p.SlotMinutes)
	moved := *appt
	moved.Start, moved.End, moved.LocationID = slot.Start, slot.Start.Add(time.Duration(typ.Minutes)*time.Minute), slot.LocationID
	ev := apptEvent{Kind: EventMoved, Appt: &moved, Old: appt, Practice: p, Patient: patient, TypeName: typ.Name,
		ActorID: a.User.ID, ByStaff: staff && a.User.ID != appt.PatientID}
	err = s.db.Batch(ctx, func(tx *store.Tx) error {
		if _, err := tx.ReleaseSlots(ctx, appt.ID); err != nil {
			return err
		}
		ids, err := claimableRun(ctx, tx, p.ID, slot.ID, need)
		if err != nil {
			return err
		}
		// Conditional on the start this move was decided from: of two
		// people moving it at once, the second gets a conflict.
		if err := tx.MoveAppointmentFrom(ctx, appt.ID, appt.Start.Unix(), slot.LocationID, moved.Start.Unix(), moved.End.Unix()); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.appointment_changed")
			}
			return err
		}
		if err := tx.BookSlots(ctx, p.ID, appt.ID, ids); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errSlotTaken
			}
			return err
		}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "appointment.moved", ObjectType: "appointment", ObjectID: appt.ID, IP: ip})
	})
	if errors.Is(err, errSlotTaken) {
		return nil, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start)
	}
	if err != nil {
		return nil, err
	}
	s.appointmentCommitted(ev)
	return s.db.FindAppointmentByID(ctx, appt.ID)
}

func (s *Server) handleAPIMove(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	var body struct {
		SlotID string `json:"slot_id"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	if strings.TrimSpace(body.SlotID) == "" {
		s.error(w, r, fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id"))
		return
	}
	moved, err := s.move(r.Context(), actorFrom(r), appt, p, body.SlotID, s.clientIP(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiAppointmentFor(actorFrom(r), moved, p.TimeZone))
}
