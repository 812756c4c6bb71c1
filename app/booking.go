package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// Booking: every rule is checked inside the claim, and the claim (check the
// slots are free, flip them, write the appointment, its e-mail and its audit
// entry) is one transaction run through group commit (store.DB.Batch): a
// race has one winner; the others get "this time was just taken" with the
// nearest alternatives.

// bookRequest is what a patient (or the staff for a patient) asks for.
type bookRequest struct {
	SlotID  string
	TypeID  string
	Reason  string
	Phone   string
	Key     string // idempotency key: the same key finds the same booking
	Source  string // online | staff
	Patient *store.User
	ActorID string
	IP      string
	Answers map[string]any // intake answers, already validated (parseIntake / intakeFromAPI)
	// Idle, if set, is called once before the booking only waits (for
	// the claim that went first, or for its own commit): the API gate
	// bounds the requests doing work, not those waiting.
	Idle func()
}

// idle calls req.Idle once, if set.
func (req *bookRequest) idle() {
	if f := req.Idle; f != nil {
		req.Idle = nil
		f()
	}
}

const maxReason = 500

var mobileRe = regexp.MustCompile(`^\+?[0-9][0-9 .\-()]{5,24}$`)

// cleanPhone validates an international mobile number and returns it as
// +digits. Numbers without a country code are refused: the practice may be
// abroad from the patient.
func cleanPhone(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if !mobileRe.MatchString(v) || !strings.HasPrefix(v, "+") {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range v[1:] {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.Len() - 1
	if d < 8 || d > 15 || v[1] == '0' {
		return "", false
	}
	return b.String(), true
}

// slotTaken is the answer to a lost race or an unavailable slot, with the
// nearest free starts of the same type.
func (s *Server) slotTaken(ctx context.Context, p *store.Practice, minutes, buffer int, around time.Time) *Error {
	e := errorf(ECodeSlotTaken, "error.slot_taken")
	alts := []map[string]string{}
	loc := s.location(p.TimeZone)
	starts, err := s.nearbyStarts(ctx, p, minutes, buffer, schedule.DayOf(around.In(loc)))
	if err == nil {
		// Nearest first, at most five: the starts are in time order, so
		// walk outwards from where the lost one would be.
		at := around.Unix()
		hi := sort.Search(len(starts), func(i int) bool { return starts[i].Start.Unix() >= at })
		lo := hi - 1
		for len(alts) < 5 && (lo >= 0 || hi < len(starts)) {
			var c schedule.Cell
			if hi >= len(starts) || (lo >= 0 && at-starts[lo].Start.Unix() <= starts[hi].Start.Unix()-at) {
				c, lo = starts[lo], lo-1
			} else {
				c, hi = starts[hi], hi+1
			}
			alts = append(alts, map[string]string{"id": c.ID, "start": c.Start.In(loc).Format(time.RFC3339),
				"end": c.Start.Add(time.Duration(minutes) * time.Minute).In(loc).Format(time.RFC3339)})
		}
	}
	e.Details = map[string]any{"alternatives": alts}
	return e
}

// nearbyStarts returns the free starts around a day (the day before to two
// days after), shared for a second between the losers of a race on the same
// day: a hundred patients who lost the same slot need not read the planning
// a hundred times. A start taken within that second is refused again when
// booked, with fresh alternatives. The slice is shared: callers only read it.
func (s *Server) nearbyStarts(ctx context.Context, p *store.Practice, minutes, buffer int, day schedule.Day) ([]schedule.Cell, error) {
	key := fmt.Sprintf("%s|%d|%d|%s", p.ID, minutes, buffer, day)
	now := s.clock()
	if v, ok := s.nearby.Load(key); ok {
		if c := v.(nearbyEntry); now.Sub(c.at) < time.Second {
			return c.cells, nil
		}
	}
	cells, err := s.freeStarts(ctx, p, minutes, buffer, day.AddDays(-1), day.AddDays(2), now)
	if err != nil {
		return nil, err
	}
	s.nearby.Store(key, nearbyEntry{at: now, cells: cells})
	return cells, nil
}

type nearbyEntry struct {
	at    time.Time
	cells []schedule.Cell
}

// phoneErr is an error whose message tells the practice's phone number, or
// its "_nophone" variant when the practice gave none.
func phoneErr(code, msg, phone string, args ...any) *Error {
	if strings.TrimSpace(phone) == "" {
		return errorf(code, msg+"_nophone", args...)
	}
	return errorf(code, msg, append(args, "Phone", phone)...)
}

func fieldErr(code, msg, field string) *Error {
	e := errorf(code, msg)
	e.Field = field
	return e
}

// book makes an appointment, or answers why not.
func (s *Server) book(ctx context.Context, req bookRequest) (*store.Appointment, error) {
	if req.Source == "" {
		req.Source = "online"
	}
	// Slot, practice and type in one read: under a race most requests are
	// refused right after it.
	slot, p, typ, err := s.db.FindBookingTarget(ctx, req.SlotID, req.TypeID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id")
		}
		return nil, err
	}
	if p.Status != store.PracticeVerified {
		return nil, fieldErr(ECodeInvalid, "error.slot_unknown", "slot_id")
	}
	if typ == nil || typ.Archived() {
		return nil, fieldErr(ECodeInvalid, "error.type_unknown", "type_id")
	}
	reason, phone, err := bookingReason(p, typ, req.Reason, req.Phone)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	loc := s.location(p.TimeZone)
	minNotice := time.Duration(p.MinNoticeMinutes) * time.Minute
	if req.Source == "staff" {
		minNotice = 0
	}
	switch {
	case !slot.Start.After(now):
		return nil, fieldErr(ECodeInvalid, "error.slot_past", "slot_id")
	case slot.Start.Before(now.Add(minNotice)):
		return nil, fieldErr(ECodeInvalid, "error.slot_too_soon", "slot_id")
	case s.today(p, now).AddDays(p.HorizonDays).Start(loc).Before(slot.Start):
		return nil, fieldErr(ECodeInvalid, "error.slot_beyond", "slot_id")
	}
	// A slot already held is refused on this read, without queueing for the
	// writer: in a race most losers arrive after the winner committed. The
	// claim below checks again, atomically, for those that get through.
	if slot.State != store.SlotFree && req.Key == "" {
		return nil, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start)
	}
	need := schedule.SlotsNeeded(typ.Minutes, typ.BufferAfter, p.SlotMinutes)
	payment := "none"
	if typ.Teleconsultation && typ.Price > 0 {
		payment = "unpaid"
	}
	a := &store.Appointment{PracticeID: p.ID, PatientID: req.Patient.ID, TypeID: typ.ID, LocationID: slot.LocationID,
		Start: slot.Start, End: slot.Start.Add(time.Duration(typ.Minutes) * time.Minute), Reason: reason, Phone: phone,
		PaymentState: payment, Source: req.Source, IdempotencyKey: req.Key}
	var existing string
	a.ID, a.State = store.NewID(), store.AppointmentBooked
	ev := apptEvent{Kind: EventCreated, Appt: a, Practice: p, Patient: req.Patient, TypeName: typ.Name, ActorID: req.ActorID, ByStaff: req.Source == "staff"}
	// One claim at a time per slot. Under a race the others wait for its
	// outcome instead of queueing claims for the one writer that could
	// only fail: if it booked the slot they lost, and are told so with
	// alternatives; if it failed (its patient's own rules) the next one
	// claims. The writer's transaction stays the arbiter; this only saves
	// it work. A retry carrying an idempotency key never waits: its answer
	// may be its own earlier booking.
	flight, err := s.claimTurn(ctx, slot.ID, req.Key != "", req.idle)
	if err != nil {
		return nil, err
	}
	if flight == nil && req.Key == "" {
		return nil, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start)
	}
	won := false
	if flight != nil {
		defer func() { s.claimDone(slot.ID, flight, won) }()
		// The notices are built before the claim, outside the writer.
		if err := s.appointmentPrepare(ctx, &ev); err != nil {
			return nil, err
		}
	}
	req.idle()
	err = s.db.Batch(ctx, func(tx *store.Tx) error {
		if req.Key != "" {
			id, err := tx.FindAppointmentByKey(ctx, req.Patient.ID, req.Key)
			if err == nil {
				existing = id
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		// The time first: under a race most claims stop here.
		ids, err := claimableRun(ctx, tx, p.ID, slot.ID, need)
		if err != nil {
			return err
		}
		if req.Source == "online" {
			if banned, err := tx.Banned(ctx, p.ID, req.Patient.ID); err != nil {
				return err
			} else if banned {
				return errorf(ECodeForbidden, "error.banned")
			}
			if p.BookingMode == "allowlist" {
				ok, err := tx.OnAllowlist(ctx, p.ID, req.Patient.Email)
				if err != nil {
					return err
				}
				if !ok {
					return phoneErr(ECodeForbidden, "error.not_on_allowlist", p.SecretaryPhone)
				}
			}
			if !typ.NewPatients {
				known, err := tx.KnownPatient(ctx, p.ID, req.Patient.ID)
				if err != nil {
					return err
				}
				if !known {
					return fieldErr(ECodeForbidden, "error.type_existing_only", "type_id")
				}
			}
			if p.MaxFuturePerPatient > 0 {
				n, err := tx.CountFutureAppointments(ctx, p.ID, req.Patient.ID)
				if err != nil {
					return err
				}
				if n >= p.MaxFuturePerPatient {
					return errorf(ECodeConflict, "error.too_many_future", "Count", p.MaxFuturePerPatient)
				}
			}
		}
		if err := tx.CreateAppointment(ctx, a); err != nil {
			return err
		}
		if err := tx.BookSlots(ctx, p.ID, a.ID, ids); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errSlotTaken
			}
			return err
		}
		// The intake answers are part of the booking: stored encrypted in
		// the same claim, or not at all.
		if err := s.saveIntake(ctx, tx, a.ID, req.Answers); err != nil {
			return err
		}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: req.ActorID, Action: "appointment.booked", ObjectType: "appointment", ObjectID: a.ID,
			IP: req.IP, Detail: "source=" + req.Source})
	})
	if errors.Is(err, errSlotTaken) {
		return nil, s.slotTaken(ctx, p, typ.Minutes, typ.BufferAfter, slot.Start)
	}
	if err != nil {
		return nil, err
	}
	if existing != "" {
		return s.db.FindAppointmentByID(ctx, existing)
	}
	won = true
	s.appointmentCommitted(ev)
	return a, nil
}

// claimFlight is a claim on its way for a slot (see book).
type claimFlight struct {
	done chan struct{}
	won  bool // written before done is closed
}

// claimTurn waits until this request may claim slotID: it returns the
// flight it now leads, or nil when the claim that went first booked the
// slot. noWait returns at once with a flight only if none was on its way.
// idle is called before waiting.
func (s *Server) claimTurn(ctx context.Context, slotID string, noWait bool, idle func()) (*claimFlight, error) {
	for {
		f := &claimFlight{done: make(chan struct{})}
		v, busy := s.claiming.LoadOrStore(slotID, f)
		if !busy {
			return f, nil
		}
		if noWait {
			return nil, nil
		}
		other := v.(*claimFlight)
		idle()
		select {
		case <-other.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if other.won {
			return nil, nil
		}
	}
}

// claimDone ends the flight f on slotID and wakes those waiting on it.
func (s *Server) claimDone(slotID string, f *claimFlight, won bool) {
	f.won = won
	s.claiming.CompareAndDelete(slotID, f)
	close(f.done)
}

// bookingReason is the appointment's reason and phone from what the
// patient typed: free text, or in "table" mode the type's name; for a
// teleconsultation the mobile number (validated, international) goes with
// the reason as seed 004 does, so whoever reads the planning can call.
func bookingReason(p *store.Practice, typ *store.AppointmentType, rawReason, rawPhone string) (reason, phone string, err error) {
	reason = strings.TrimSpace(rawReason)
	if p.ReasonMode == "table" {
		reason = typ.Name
	}
	if utf8.RuneCountInString(reason) > maxReason {
		return "", "", fieldErr(ECodeInvalid, "error.reason_long", "reason")
	}
	if !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return "", "", fieldErr(ECodeInvalid, "error.reason_invalid", "reason")
	}
	if typ.Teleconsultation {
		var ok bool
		if phone, ok = cleanPhone(rawPhone); !ok {
			return "", "", fieldErr(ECodeInvalid, "error.phone", "phone")
		}
		if reason != "" {
			reason += " — "
		}
		reason += "☎ " + phone
	}
	return reason, phone, nil
}

// claimableRun returns the ids of the need slots starting at firstID, in tx, or
// errSlotTaken when they are not all free (or not there).
func claimableRun(ctx context.Context, tx *store.Tx, practiceID, firstID string, need int) ([]string, error) {
	run, err := tx.SlotRun(ctx, practiceID, firstID, need)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errSlotTaken
		}
		return nil, err
	}
	ids := make([]string, len(run))
	for i, sl := range run {
		if sl.State != store.SlotFree {
			return nil, errSlotTaken
		}
		ids[i] = sl.ID
	}
	return ids, nil
}

// errSlotTaken marks a lost claim inside the transaction; book turns it into
// the answer with alternatives once the transaction is over.
var errSlotTaken = errors.New("slot taken")

// mailAppointment enqueues an appointment e-mail to the patient in tx: no
// medical detail in the subject, the time in the practice's zone.
func (s *Server) mailAppointment(ctx context.Context, tx *store.Tx, kind string, patient *store.User, p *store.Practice, typeName string, a *store.Appointment) error {
	m := s.mailerFor(patient.Locale)
	loc := s.location(p.TimeZone)
	when := formatDateTime(m.lang, a.Start, loc) + " (" + p.TimeZone + ")"
	c := m.compose(kind, patient.Name, s.link("/appointments/"+url.PathEscape(a.ID), nil),
		"When", when, "Practice", p.Name, "Type", typeName, "Address", strings.TrimSpace(fmt.Sprintf("%s, %s %s", p.Address, p.PostalCode, p.City)))
	return s.enqueue(ctx, tx, patient.Email, kind, c)
}
