package app

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"daraport/store"
)

// Appointment notices (issue 6): the patient's e-mail for every change with
// its calendar invite, SMS, reminders, and the practice's webhooks (issue 4
// item 10). Everything here is written in the change's transaction, to the
// outbox or the reminders table; the outbox worker delivers it. So a notice
// exists if and only if its change commits, and nothing here talks to the
// network.

// noticesRoutes are the routes of appointment messages, calendar invites, reminders and webhooks (issues 4 and 6).
func (s *Server) noticesRoutes() []route {
	return append(s.reminderRoutes(), s.webhookRoutes()...)
}

// noticesOnChange writes, in the change's transaction, what the change
// causes: the patient's e-mail with its calendar invite (and an SMS for a
// booking), reminders scheduled, re-scheduled or dropped, and webhooks.
func (s *Server) noticesOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	if ev.Appt == nil || ev.Practice == nil {
		return nil
	}
	if pr := ev.notices; pr != nil {
		// Built before the transaction (noticesPrepare): only the writes
		// are left for the single writer.
		if err := tx.ScheduleReminders(ctx, ev.Appt.ID, ev.Appt.Start, s.reminderOffsets(pr.settings), true); err != nil {
			return err
		}
		for _, m := range pr.rows {
			if err := tx.Enqueue(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	// Settings, types and endpoints are read through the read pool's
	// prepared statements rather than tx: they are committed before any
	// change uses them, and this runs on the booking path's single writer.
	var settings *store.PracticeNotices
	loadSettings := func() (*store.PracticeNotices, error) {
		if settings == nil {
			var err error
			if settings, err = s.db.FindPracticeNotices(ctx, ev.Practice.ID); err != nil {
				return nil, err
			}
		}
		return settings, nil
	}
	switch ev.Kind {
	case EventCreated, EventMoved:
		if ev.Appt.State == store.AppointmentBooked {
			n, err := loadSettings()
			if err != nil {
				return err
			}
			if err := tx.ScheduleReminders(ctx, ev.Appt.ID, ev.Appt.Start, s.reminderOffsets(n), ev.Kind == EventCreated); err != nil {
				return err
			}
		}
	case EventCancelled, EventNoShow:
		if err := tx.DropReminders(ctx, ev.Appt.ID); err != nil {
			return err
		}
	}
	if !ev.Quiet && ev.Patient != nil {
		switch ev.Kind {
		case EventCreated, EventMoved, EventCancelled:
			n, err := loadSettings()
			if err != nil {
				return err
			}
			if err := s.patientNotice(ctx, tx, ev, n); err != nil {
				return err
			}
		}
	}
	return s.webhooksOnChange(ctx, tx, ev)
}

// noticePrep is what noticesPrepare built for a booking before its
// transaction: the practice's notice settings and the outbox rows (e-mail
// with invite, SMS, webhooks).
type noticePrep struct {
	settings *store.PracticeNotices
	rows     []*store.OutboxMessage
}

// noticesPrepare builds, before the transaction, everything a new booking
// will write but the reminders: composing the e-mail, the invite and the
// webhook bodies is most of the notices' cost, and the writer is the one
// resource every booking shares. It only reads committed data (settings,
// types, endpoints), as noticesOnChange does. ev.Appt must have its id.
func (s *Server) noticesPrepare(ctx context.Context, ev *apptEvent) error {
	if ev.Kind != EventCreated || ev.Appt == nil || ev.Practice == nil || ev.Appt.ID == "" || ev.Appt.State != store.AppointmentBooked {
		return nil
	}
	n, err := s.db.FindPracticeNotices(ctx, ev.Practice.ID)
	if err != nil {
		return err
	}
	pr := &noticePrep{settings: n}
	now := s.clock()
	if !ev.Quiet && ev.Patient != nil {
		if pr.rows, err = s.buildPatientNotice(ctx, *ev, n, ev.Appt.Sequence, now); err != nil {
			return err
		}
	}
	hooks, err := s.buildWebhooks(ctx, *ev, now)
	if err != nil {
		return err
	}
	pr.rows = append(pr.rows, hooks...)
	ev.notices = pr
	return nil
}

// patientNotice writes the patient's e-mail for a booking, move or
// cancellation, with its calendar invite, and the SMS of a booking.
func (s *Server) patientNotice(ctx context.Context, tx *store.Tx, ev apptEvent, n *store.PracticeNotices) error {
	seq := ev.Appt.Sequence // as inserted, for a booking
	if ev.Kind != EventCreated {
		// ev.Appt is the caller's copy: the stored sequence was just bumped.
		var err error
		if seq, err = tx.AppointmentSequence(ctx, ev.Appt.ID); err != nil {
			return err
		}
	}
	rows, err := s.buildPatientNotice(ctx, ev, n, seq, tx.Now())
	if err != nil {
		return err
	}
	for _, m := range rows {
		if err := tx.Enqueue(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// buildPatientNotice makes the outbox rows of patientNotice without writing
// them: the e-mail with its invite and, for a booking, the SMS.
func (s *Server) buildPatientNotice(ctx context.Context, ev apptEvent, n *store.PracticeNotices, seq int, now time.Time) ([]*store.OutboxMessage, error) {
	kind, method := "", methodRequest
	switch ev.Kind {
	case EventCreated:
		kind = "appointment_confirmed"
	case EventMoved:
		kind = "appointment_moved"
	case EventCancelled:
		kind, method = "appointment_cancelled", methodCancel
		if ev.ByStaff {
			kind = "appointment_cancelled_by_practice"
		}
	}
	a, p, patient := ev.Appt, ev.Practice, ev.Patient
	typ := s.noticeType(ctx, a.TypeID)
	m := s.mailerFor(patient.Locale)
	place := s.noticePlace(ctx, m.lang, a, p, typ)
	args := s.noticeArgs(m.lang, a, p, typ, place)
	link := s.link("/appointments/"+url.PathEscape(a.ID), nil)
	if method == methodCancel {
		link = s.link("/p/"+url.PathEscape(p.ID), nil) // "Book another time"
	}
	c := m.compose(kind, patient.Name, link, args...)
	ics, err := s.inviteCalendar(invite{Method: method, Appt: a, Sequence: seq, Practice: p, Patient: patient,
		Place: place, Lang: m.lang, Now: now})
	if err != nil {
		return nil, err
	}
	mail, err := s.buildMail(patient.Email, kind, c, ics, nil)
	if err != nil {
		return nil, err
	}
	rows := []*store.OutboxMessage{mail}
	if ev.Kind == EventCreated {
		if sms := s.buildSMS(n, a, m.lang, "sms.appointment_confirmed", args...); sms != nil {
			rows = append(rows, sms)
		}
	}
	return rows, nil
}

// noticeType returns the appointment's type, or a bare one when it is gone.
func (s *Server) noticeType(ctx context.Context, id string) *store.AppointmentType {
	t, err := s.db.FindTypeByID(ctx, id)
	if err != nil {
		return &store.AppointmentType{ID: id}
	}
	return t
}

// noticeArgs are the catalogue arguments of every appointment message:
// When (practice time, with its zone), Practice, Type, Address. Address is
// the practice's (or the location's) address, or for a teleconsultation the
// visit link when it exists, else the word "Teleconsultation". The reason
// is never among them: it is health data.
func (s *Server) noticeArgs(lang string, a *store.Appointment, p *store.Practice, typ *store.AppointmentType, place string) []any {
	loc := s.location(p.TimeZone)
	when := formatDateTime(lang, a.Start, loc) + " (" + p.TimeZone + ")"
	return []any{"When", when, "Practice", p.Name, "Type", typ.Name, "Address", place}
}

// noticePlace is where the appointment happens, as the messages and the
// invite's LOCATION say it.
func (s *Server) noticePlace(ctx context.Context, lang string, a *store.Appointment, p *store.Practice, typ *store.AppointmentType) string {
	if typ.Teleconsultation {
		if v := s.appointmentVisitLink(ctx, a); v != "" {
			return v
		}
		return s.i18n.T(lang, "appts.tele")
	}
	if a.LocationID != "" {
		if loc := s.newMyApptLoader().location(ctx, p.ID, a.LocationID); loc != nil {
			return myApptAddress(loc.Name+", "+loc.Address, loc.PostalCode, loc.City)
		}
	}
	return myApptAddress(p.Address, p.PostalCode, p.City)
}

// enqueueSMS writes an SMS to the appointment's mobile number when the
// practice enabled SMS and the patient gave one (the number asked for
// teleconsultations). It is held when no gateway is configured.
func (s *Server) enqueueSMS(ctx context.Context, tx *store.Tx, n *store.PracticeNotices, a *store.Appointment, lang, id string, args ...any) error {
	if m := s.buildSMS(n, a, lang, id, args...); m != nil {
		return tx.Enqueue(ctx, m)
	}
	return nil
}

// buildSMS makes the outbox row of enqueueSMS, or nil when none is due.
func (s *Server) buildSMS(n *store.PracticeNotices, a *store.Appointment, lang, id string, args ...any) *store.OutboxMessage {
	if n == nil || !n.SMSEnabled {
		return nil
	}
	to, ok := cleanPhone(a.Phone)
	if !ok {
		return nil
	}
	state := store.OutboxQueued
	if s.cfg.SMS.URL == "" {
		state = store.OutboxHeld
	}
	body := s.i18n.T(lang, id, append(args, "Brand", s.cfg.Brand.Name)...)
	return &store.OutboxMessage{Kind: "sms", To: to, Locale: lang, Template: strings.TrimPrefix(id, "sms."),
		Subject: s.i18n.T(lang, "notices.sms_subject"), TextBody: body, State: state}
}

// reminderOffsets are the practice's reminder offsets, else the installation's.
func (s *Server) reminderOffsets(n *store.PracticeNotices) []time.Duration {
	if n != nil && n.Reminders != nil {
		return n.Reminders
	}
	out := make([]time.Duration, 0, len(s.cfg.Reminders.Before))
	for _, d := range s.cfg.Reminders.Before {
		out = append(out, d.Duration)
	}
	return out
}

// sendReminders is the reminders job (every minute): it claims due
// reminders in batches, each batch one transaction that writes the outbox
// messages and marks the reminders done together, so a reminder is sent
// once even if the job runs twice or the server stops in between. A
// reminder whose time passed while the server was down is still sent if the
// appointment is still ahead (only the latest of several); never for a past,
// cancelled or moved-away time.
func (s *Server) sendReminders(ctx context.Context, now time.Time) error {
	const batch = 200
	for {
		var n int
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			due, err := tx.DueReminders(ctx, batch)
			if err != nil {
				return err
			}
			n = len(due)
			c := newReminderCache()
			for _, r := range due {
				if err := s.sendReminder(ctx, tx, c, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n < batch {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// sendReminder enqueues one reminder, or skips it when its time is no
// longer the appointment's, and marks it done in tx.
func (s *Server) sendReminder(ctx context.Context, tx *store.Tx, c *reminderCache, r *store.Reminder) error {
	state := store.ReminderSkipped
	a, err := tx.FindAppointmentByID(ctx, r.AppointmentID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil && a.State == store.AppointmentBooked && a.Start.Equal(r.TargetStart) && a.Start.After(tx.Now()) {
		if !r.Superseded {
			if err := s.enqueueReminder(ctx, tx, c, a); err != nil {
				return err
			}
			state = store.ReminderSent
		}
	}
	return tx.FinishReminder(ctx, r.ID, state)
}

// reminderCache holds, for one batch of reminders, the practices,
// patients, types and settings already read: a burst of reminders shares
// few of them. It lives inside one write transaction, so nothing in it can
// change underneath.
type reminderCache struct {
	practices map[string]*store.Practice
	users     map[string]*store.User
	types     map[string]*store.AppointmentType
	notices   map[string]*store.PracticeNotices
}

func newReminderCache() *reminderCache {
	return &reminderCache{practices: map[string]*store.Practice{}, users: map[string]*store.User{},
		types: map[string]*store.AppointmentType{}, notices: map[string]*store.PracticeNotices{}}
}

// cached returns m[id], loading it once with load.
func cached[T any](m map[string]T, id string, load func() (T, error)) (T, error) {
	if v, ok := m[id]; ok {
		return v, nil
	}
	v, err := load()
	if err == nil {
		m[id] = v
	}
	return v, err
}

// enqueueReminder writes the reminder e-mail (and SMS) of a.
func (s *Server) enqueueReminder(ctx context.Context, tx *store.Tx, c *reminderCache, a *store.Appointment) error {
	p, err := cached(c.practices, a.PracticeID, func() (*store.Practice, error) { return tx.FindPracticeByID(ctx, a.PracticeID) })
	if err != nil {
		return err
	}
	patient, err := cached(c.users, a.PatientID, func() (*store.User, error) { return tx.FindUserByID(ctx, a.PatientID) })
	if err != nil {
		return err
	}
	n, err := cached(c.notices, p.ID, func() (*store.PracticeNotices, error) { return tx.FindPracticeNotices(ctx, p.ID) })
	if err != nil {
		return err
	}
	typ, _ := cached(c.types, a.TypeID, func() (*store.AppointmentType, error) { return s.noticeType(ctx, a.TypeID), nil })
	m := s.mailerFor(patient.Locale)
	args := s.noticeArgs(m.lang, a, p, typ, s.noticePlace(ctx, m.lang, a, p, typ))
	kind, link := "reminder", s.link("/appointments/"+url.PathEscape(a.ID), nil)
	if typ.Teleconsultation {
		kind = "reminder_tele"
		if v := s.appointmentVisitLink(ctx, a); v != "" {
			link = v
		}
	}
	if err := s.enqueue(ctx, tx, patient.Email, kind, m.compose(kind, patient.Name, link, args...)); err != nil {
		return err
	}
	return s.enqueueSMS(ctx, tx, n, a, m.lang, "sms."+kind, append(args, "URL", link)...)
}
