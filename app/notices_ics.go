package app

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/emersion/go-ical"

	"daraport/store"
)

// Calendar invites (issue 6 item 4). Each confirmation, move and
// cancellation e-mail carries one: METHOD:REQUEST for a booking or a move,
// METHOD:CANCEL for a cancellation, always UID <appointment id>@daraport
// (the same UID as the .ics download, so calendar apps update one event),
// SEQUENCE from the appointment (bumped in the database by every move and
// state change).
//
// Unlike the download (UTC), invites give DTSTART/DTEND in the practice's
// zone with its TZID and a VTIMEZONE built from Go's tzdata: the event then
// stays at the practice's wall-clock time in every calendar, and the
// VTIMEZONE lists the real transitions around the appointment, so clients
// that do not know the zone (or know an older rule) still get it right.

// invite is what one invitation says.
type invite struct {
	Method   string // ical.MethodRequest or "CANCEL"
	Appt     *store.Appointment
	Sequence int
	Practice *store.Practice
	Patient  *store.User
	Place    string // address, visit link, or "Teleconsultation"
	Lang     string
	Now      time.Time
}

const (
	methodRequest = "REQUEST"
	methodCancel  = "CANCEL"
)

// inviteCalendar encodes the invitation as a full VCALENDAR text.
func (s *Server) inviteCalendar(in invite) (string, error) {
	loc := s.location(in.Practice.TimeZone)
	start, end := in.Appt.Start.In(loc), in.Appt.End.In(loc)
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, "-//Daraport//Appointment//EN")
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	cal.Props.SetText(ical.PropMethod, in.Method)
	cal.Children = append(cal.Children, vtimezone(loc, start, end))

	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, in.Appt.ID+"@daraport")
	ev.Props.SetDateTime(ical.PropDateTimeStamp, in.Now.UTC())
	ev.Props.SetDateTime(ical.PropLastModified, in.Now.UTC())
	ev.Props.SetDateTime(ical.PropDateTimeStart, start)
	ev.Props.SetDateTime(ical.PropDateTimeEnd, end)
	seq := ical.NewProp(ical.PropSequence)
	seq.Value = strconv.Itoa(in.Sequence)
	ev.Props.Set(seq)
	// The summary names the practice only: the type and the reason may be
	// health data, and calendars are often shared.
	ev.Props.SetText(ical.PropSummary, s.i18n.T(in.Lang, "appts.ics_summary", "Practice", icsText(in.Practice.Name)))
	link := s.link("/appointments/"+url.PathEscape(in.Appt.ID), nil)
	ev.Props.SetText(ical.PropDescription, s.i18n.T(in.Lang, "notices.ics_description", "URL", link))
	if in.Place != "" {
		ev.Props.SetText(ical.PropLocation, icsText(in.Place))
	}
	if u, err := url.Parse(link); err == nil {
		ev.Props.SetURI(ical.PropURL, u)
	}
	status := ical.EventConfirmed
	if in.Method == methodCancel {
		status = ical.EventCancelled
	}
	ev.Props.SetText(ical.PropStatus, string(status))
	ev.Props.SetText(ical.PropClass, "PRIVATE")
	ev.Props.SetText(ical.PropTransparency, "OPAQUE")

	from := fromAddress(s.cfg.SMTP.From)
	org := ical.NewProp(ical.PropOrganizer)
	org.Params.Set(ical.ParamCommonName, icsParam(in.Practice.Name))
	org.Value = "mailto:" + icsText(from)
	ev.Props.Set(org)
	if in.Patient != nil {
		att := ical.NewProp(ical.PropAttendee)
		att.Params.Set(ical.ParamCommonName, icsParam(in.Patient.Name))
		att.Params.Set(ical.ParamRole, "REQ-PARTICIPANT")
		att.Params.Set(ical.ParamParticipationStatus, "ACCEPTED")
		att.Params.Set(ical.ParamRSVP, "FALSE")
		att.Value = "mailto:" + icsText(in.Patient.Email)
		ev.Props.Set(att)
	}
	cal.Children = append(cal.Children, ev.Component)
	b, err := encodeCalendar(cal)
	return string(b), err
}

// fromAddresses caches the parsed smtp.from (the ORGANIZER's address).
var fromAddresses sync.Map

func fromAddress(from string) string {
	if v, ok := fromAddresses.Load(from); ok {
		return v.(string)
	}
	addr := "no-reply@localhost"
	if a, err := mail.ParseAddress(from); err == nil {
		addr = a.Address
	}
	fromAddresses.Store(from, addr)
	return addr
}

// icsText drops control characters (CR, LF, …) from a value: the encoder
// refuses them, and a line break must never start a new property.
func icsText(v string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
}

// icsParam makes a parameter value (a CN): no control characters and no
// double quote, which a parameter cannot carry even quoted (RFC 5545 §3.2).
func icsParam(v string) string {
	return strings.TrimSpace(strings.ReplaceAll(icsText(v), `"`, "'"))
}

// vtimezones caches VTIMEZONE components per zone and year range: they are
// the same for every invite of a practice.
var vtimezones sync.Map // "zone\x00from\x00to" → *ical.Component

// vtimezone builds the VTIMEZONE of loc covering start..end: the
// observance in force on 1 January of the year before start, then every
// transition up to 1 January after the end's year, taken from Go's tzdata
// (time.Time.ZoneBounds), so the offsets are the real ones of those years.
func vtimezone(loc *time.Location, start, end time.Time) *ical.Component {
	fromYear, toYear := start.Year()-1, end.Year()+1
	key := fmt.Sprintf("%s\x00%d\x00%d", loc.String(), fromYear, toYear)
	if c, ok := vtimezones.Load(key); ok {
		return c.(*ical.Component)
	}
	from := time.Date(fromYear, time.January, 1, 0, 0, 0, 0, loc)
	to := time.Date(toYear, time.January, 1, 0, 0, 0, 0, loc)
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, loc.String())
	// The observance in force at from: its onset is from itself (an onset
	// at or before every time the calendar mentions).
	name, off := from.Zone()
	tz.Children = append(tz.Children, observance(from.IsDST(), name, off, off, from))
	t := from
	for {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.Before(to) {
			break
		}
		_, before := next.Add(-time.Second).Zone()
		name, after := next.Zone()
		// DTSTART of an observance is the onset in the local time in force
		// just before it (RFC 5545 §3.6.5): 02:00 for Paris in March.
		tz.Children = append(tz.Children, observance(next.IsDST(), name, before, after, next.UTC().Add(time.Duration(before)*time.Second)))
		t = next
	}
	vtimezones.Store(key, tz)
	return tz
}

// observance is one STANDARD or DAYLIGHT component; onset's wall clock
// (whatever its location) is written as a local date-time.
func observance(dst bool, name string, from, to int, onset time.Time) *ical.Component {
	kind := ical.CompTimezoneStandard
	if dst {
		kind = ical.CompTimezoneDaylight
	}
	c := ical.NewComponent(kind)
	p := ical.NewProp(ical.PropDateTimeStart)
	p.Value = onset.Format("20060102T150405")
	c.Props.Set(p)
	for _, o := range []struct {
		name string
		secs int
	}{{ical.PropTimezoneOffsetFrom, from}, {ical.PropTimezoneOffsetTo, to}} {
		p := ical.NewProp(o.name)
		p.Value = utcOffset(o.secs)
		c.Props.Set(p)
	}
	if name != "" && !strings.ContainsAny(name, "+-") {
		c.Props.SetText(ical.PropTimezoneName, name)
	}
	return c
}

// utcOffset formats seconds east of UTC as an iCalendar UTC-OFFSET (+0100, -0330, +002230).
func utcOffset(secs int) string {
	sign := "+"
	if secs < 0 {
		sign, secs = "-", -secs
	}
	v := fmt.Sprintf("%s%02d%02d", sign, secs/3600, secs/60%60)
	if secs%60 != 0 {
		v += fmt.Sprintf("%02d", secs%60)
	}
	return v
}
