package app

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/emersion/go-ical"

	"daraport/store"
)

// The "Add to my calendar" file of one appointment (GET
// /appointments/{id}.ics): an iCalendar document with one event, METHOD
// PUBLISH, UID <id>@daraport (the same UID as the invitations e-mailed for
// it, so a calendar app updates rather than duplicates), and SEQUENCE from
// the appointment.
//
// Times are written in UTC (DTSTART:20260309T083000Z): an instant is exact
// whatever the DST rules on either side, needs no VTIMEZONE, and every
// calendar app shows it in its user's zone. The reason for the visit is
// health data and is never put in the file; the summary names the practice
// only.

// handleAppointmentICS answers the calendar file of an appointment the
// caller may see (404 otherwise, audited by loadAppointment).
func (s *Server) handleAppointmentICS(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	a := actorFrom(r)
	lang := s.requestLanguage(r, a.User.Locale)
	body, err := s.appointmentCalendar(r, lang, appt, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="appointment.ics"`)
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// appointmentCalendar builds the iCalendar document of appt.
func (s *Server) appointmentCalendar(r *http.Request, lang string, appt *store.Appointment, p *store.Practice) ([]byte, error) {
	ctx := r.Context()
	l := s.newMyApptLoader()
	t := l.typ(ctx, appt.TypeID)
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, "-//Daraport//Appointment//EN")
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	cal.Props.SetText(ical.PropMethod, "PUBLISH")
	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, appt.ID+"@daraport")
	ev.Props.SetDateTime(ical.PropDateTimeStamp, s.clock().UTC())
	ev.Props.SetDateTime(ical.PropLastModified, appt.UpdatedAt.UTC())
	ev.Props.SetDateTime(ical.PropDateTimeStart, appt.Start.UTC())
	ev.Props.SetDateTime(ical.PropDateTimeEnd, appt.End.UTC())
	seq := ical.NewProp(ical.PropSequence)
	seq.Value = strconv.Itoa(appt.Sequence)
	ev.Props.Set(seq)
	ev.Props.SetText(ical.PropSummary, s.i18n.T(lang, "appts.ics_summary", "Practice", p.Name))
	if t.Teleconsultation {
		ev.Props.SetText(ical.PropLocation, s.i18n.T(lang, "appts.tele"))
	} else {
		addr := myApptAddress(p.Address, p.PostalCode, p.City)
		if appt.LocationID != "" {
			if loc := l.location(ctx, p.ID, appt.LocationID); loc != nil {
				addr = myApptAddress(loc.Name+", "+loc.Address, loc.PostalCode, loc.City)
			}
		}
		if addr != "" {
			ev.Props.SetText(ical.PropLocation, addr)
		}
	}
	status := ical.EventConfirmed
	if appt.State == store.AppointmentCancelled {
		status = ical.EventCancelled
	}
	ev.Props.SetText(ical.PropStatus, string(status))
	ev.Props.SetText(ical.PropClass, "PRIVATE")
	ev.Props.SetText(ical.PropTransparency, "OPAQUE")
	if u, err := url.Parse(s.link("/appointments/"+url.PathEscape(appt.ID), nil)); err == nil {
		ev.Props.SetURI(ical.PropURL, u)
	}
	cal.Children = append(cal.Children, ev.Component)
	return encodeCalendar(cal)
}
