package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// The waitlist (issue 4, item 8): a patient asks to be told when an
// earlier time of a type frees up. When an appointment is cancelled or
// moved, the freed time is offered, in the same transaction, to the first
// waiting patient (first come, first served) it suits: its slots go to the
// state "held", so booking skips them like any taken slot without ever
// reading the offers, and the patient is e-mailed a link. They accept in
// one click (the claim books the held slots) or decline; when they decline
// or the hold expires (job waitlist.expire), the next waiting patient gets
// it; when nobody is left the slots are free for everyone again.

const (
	// waitlistHold is how long a freed time is held for one patient...
	waitlistHold = 2 * time.Hour
	// ...but at most half the time left before its start (minus the
	// practice's minimum notice), and not at all under waitlistMinHold:
	// a time too close is left free for everyone.
	waitlistMinHold = 10 * time.Minute
	// waitlistMaxEntries stops one patient from waiting everywhere.
	waitlistMaxEntries = 20
)

func (s *Server) waitlistRoutes() []route {
	return []route{
		{method: "GET", path: "/p/{id}/waitlist", perm: PermSignedIn, h: s.handleWaitlistJoinPage},
		{method: "POST", path: "/p/{id}/waitlist", perm: PermSignedIn, h: s.handleWaitlistJoin},
		{method: "GET", path: "/waitlist", perm: PermSignedIn, h: s.handleWaitlistMine},
		{method: "POST", path: "/waitlist/{id}/leave", perm: PermSignedIn, h: s.handleWaitlistLeave},
		{method: "GET", path: "/waitlist/offers/{id}", perm: PermSignedIn, h: s.handleOfferPage},
		{method: "POST", path: "/waitlist/offers/{id}/accept", perm: PermSignedIn, h: s.handleOfferAccept},
		{method: "POST", path: "/waitlist/offers/{id}/decline", perm: PermSignedIn, h: s.handleOfferDecline},
		{method: "GET", path: "/api/v1/waitlist", perm: PermSignedIn, h: s.handleAPIWaitlist},
		{method: "POST", path: "/api/v1/waitlist", perm: PermSignedIn, h: s.handleAPIWaitlistJoin},
		{method: "DELETE", path: "/api/v1/waitlist/{id}", perm: PermSignedIn, h: s.handleAPIWaitlistLeave},
		{method: "POST", path: "/api/v1/waitlist/offers/{id}/accept", perm: PermSignedIn, h: s.handleAPIOfferAccept},
		{method: "POST", path: "/api/v1/waitlist/offers/{id}/decline", perm: PermSignedIn, h: s.handleAPIOfferDecline},
	}
}

// waitlistOnChange offers the time a cancellation or a move freed.
func (s *Server) waitlistOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	var freed *store.Appointment
	switch ev.Kind {
	case EventCancelled:
		freed = ev.Appt
	case EventMoved:
		freed = ev.Old
	default:
		return nil
	}
	if freed == nil || ev.Practice == nil {
		return nil
	}
	if waiting, err := tx.AnyoneWaiting(ctx, ev.Practice.ID); err != nil || !waiting {
		return err
	}
	// The freed run: the appointment and the buffer after it.
	end := freed.End
	if typ, err := tx.FindTypeByID(ctx, freed.TypeID); err == nil {
		end = freed.Start.Add(time.Duration(schedule.SlotsNeeded(typ.Minutes, typ.BufferAfter, ev.Practice.SlotMinutes)*ev.Practice.SlotMinutes) * time.Minute)
	}
	// The patient who gave the time up is not offered it back.
	return s.offerFreed(ctx, tx, ev.Practice, freed.Start, end, freed.LocationID, "", map[string]bool{freed.PatientID: true})
}

// offerFreed offers time freed in [from, to) at a location to the first
// waiting patient it suits, holding its slots. chainID ("" for newly freed
// time) links the offers of the same time: nobody is offered it twice.
// Nothing happens when nobody waits or the time is too close.
func (s *Server) offerFreed(ctx context.Context, tx *store.Tx, p *store.Practice, from, to time.Time, locationID, chainID string, skip map[string]bool) error {
	now := s.clock()
	notice := time.Duration(p.MinNoticeMinutes) * time.Minute
	if from.Sub(now)-notice < 2*waitlistMinHold {
		return nil // past or too close: never offered
	}
	waiting, err := tx.Waiting(ctx, p.ID)
	if err != nil || len(waiting) == 0 {
		return err
	}
	live, err := tx.LiveOfferPatients(ctx, p.ID)
	if err != nil {
		return err
	}
	if chainID != "" {
		done, err := tx.ChainPatients(ctx, chainID)
		if err != nil {
			return err
		}
		for id := range done {
			skip[id] = true
		}
	}
	// The freed slots and enough after them for the longest waited-for type.
	types := map[string]*store.AppointmentType{}
	maxNeed := 1
	for _, e := range waiting {
		if _, ok := types[e.TypeID]; ok {
			continue
		}
		t, err := tx.FindTypeByID(ctx, e.TypeID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return err
		}
		types[e.TypeID] = t
		maxNeed = max(maxNeed, schedule.SlotsNeeded(t.Minutes, t.BufferAfter, p.SlotMinutes))
	}
	all, err := tx.FindSlots(ctx, p.ID, from, to.Add(time.Duration(maxNeed*p.SlotMinutes)*time.Minute))
	if err != nil {
		return err
	}
	var slots []store.Slot
	for _, sl := range all {
		if sl.LocationID == locationID {
			slots = append(slots, sl)
		}
	}
	for _, e := range waiting {
		typ := types[e.TypeID]
		if skip[e.PatientID] || live[e.PatientID] || typ == nil || typ.Archived() || typ.PracticeID != p.ID {
			continue
		}
		if banned, err := tx.Banned(ctx, p.ID, e.PatientID); err != nil {
			return err
		} else if banned {
			continue
		}
		earliest, err := tx.EarliestBooked(ctx, e.PatientID, e.TypeID)
		if err != nil {
			return err
		}
		need := schedule.SlotsNeeded(typ.Minutes, typ.BufferAfter, p.SlotMinutes)
		for i := range slots {
			st := slots[i].Start
			if !st.Before(to) {
				break
			}
			if st.Sub(now)-notice < 2*waitlistMinHold || (!e.Before.IsZero() && !st.Before(e.Before)) || (!earliest.IsZero() && !st.Before(earliest)) {
				continue
			}
			ids := freeRun(slots[i:], need)
			if ids == nil {
				continue
			}
			return s.makeOffer(ctx, tx, p, e, typ, slots[i], ids, chainID, now)
		}
	}
	return nil
}

// freeRun returns the ids of the first need slots of run when they are
// free and follow one another, else nil.
func freeRun(run []store.Slot, need int) []string {
	if len(run) < need {
		return nil
	}
	ids := make([]string, need)
	for j := 0; j < need; j++ {
		if run[j].State != store.SlotFree || (j > 0 && !run[j].Start.Equal(run[j-1].End)) {
			return nil
		}
		ids[j] = run[j].ID
	}
	return ids
}

// makeOffer holds the slots for the waiting patient and e-mails the offer.
func (s *Server) makeOffer(ctx context.Context, tx *store.Tx, p *store.Practice, e *store.WaitlistEntry, typ *store.AppointmentType,
	first store.Slot, ids []string, chainID string, now time.Time) error {
	hold := min(waitlistHold, (first.Start.Sub(now)-time.Duration(p.MinNoticeMinutes)*time.Minute)/2)
	o := &store.Offer{ChainID: chainID, EntryID: e.ID, PracticeID: p.ID, PatientID: e.PatientID, TypeID: typ.ID, LocationID: first.LocationID,
		SlotIDs: ids, Start: first.Start, End: first.Start.Add(time.Duration(typ.Minutes) * time.Minute), ExpiresAt: now.Add(hold).Truncate(time.Second)}
	if err := tx.HoldSlots(ctx, p.ID, ids); err != nil {
		return err
	}
	if err := tx.CreateOffer(ctx, o); err != nil {
		return err
	}
	patient, err := tx.FindUserByID(ctx, e.PatientID)
	if err != nil {
		return err
	}
	m := s.mailerFor(patient.Locale)
	loc := s.location(p.TimeZone)
	c := m.compose("waitlist_offer", patient.Name, s.link("/waitlist/offers/"+url.PathEscape(o.ID), nil),
		"Practice", p.Name, "When", formatDateTime(m.lang, o.Start, loc)+" ("+p.TimeZone+")", "Type", typ.Name,
		"Until", formatDateTime(m.lang, o.ExpiresAt, loc)+" ("+p.TimeZone+")")
	if err := s.enqueue(ctx, tx, patient.Email, "waitlist_offer", c); err != nil {
		return err
	}
	return tx.Audit(ctx, &store.AuditEntry{Action: "waitlist.offered", ObjectType: "waitlist_offer", ObjectID: o.ID,
		Detail: fmt.Sprintf("practice=%s chain=%s", p.ID, o.ChainID)})
}

// endOffer closes a live offer (declined or expired), frees its slots and
// offers the same time to the next waiting patient, in tx.
func (s *Server) endOffer(ctx context.Context, tx *store.Tx, o *store.Offer, state string) error {
	if err := tx.SetOfferState(ctx, o.ID, state, ""); err != nil {
		return err
	}
	if _, err := tx.UnholdSlots(ctx, o.PracticeID, o.SlotIDs); err != nil {
		return err
	}
	p, err := tx.FindPracticeByID(ctx, o.PracticeID)
	if err != nil {
		return err
	}
	to := o.Start.Add(time.Duration(len(o.SlotIDs)*p.SlotMinutes) * time.Minute)
	// An absence entered meanwhile blocks the slots it covers.
	if _, err := tx.ReapplyBlocks(ctx, p.ID, o.Start, to); err != nil {
		return err
	}
	return s.offerFreed(ctx, tx, p, o.Start, to, o.LocationID, o.ChainID, map[string]bool{})
}

// expireOffers ends the offers whose hold is over and passes their time on
// (the job waitlist.expire, every minute). Idempotent: an offer ended
// already is not live any more.
func (s *Server) expireOffers(ctx context.Context, now time.Time) error {
	for {
		n := 0
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			list, err := tx.ExpiredOffers(ctx, now, 50)
			if err != nil {
				return err
			}
			n = len(list)
			for _, o := range list {
				if err := s.endOffer(ctx, tx, o, store.OfferExpired); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n < 50 {
			return err
		}
	}
}

// declineOffer ends the patient's offer and passes the time on.
func (s *Server) declineOffer(ctx context.Context, a *Actor, id, ip string) error {
	return s.db.Update(ctx, func(tx *store.Tx) error {
		o, err := tx.FindOffer(ctx, a.User.ID, id)
		if err != nil {
			return err
		}
		if o.State != store.OfferOffered {
			return errorf(ECodeConflict, "error.offer_gone")
		}
		if err := s.endOffer(ctx, tx, o, store.OfferDeclined); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "waitlist.declined", ObjectType: "waitlist_offer", ObjectID: o.ID, IP: ip})
	})
}

// acceptOffer books the held time for the patient: the held slots become
// free and are claimed at once in the same transaction, so nobody else can
// take them in between.
func (s *Server) acceptOffer(ctx context.Context, a *Actor, id, reason, phone, ip string) (*store.Appointment, error) {
	var appt *store.Appointment
	var ev apptEvent
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		o, err := tx.FindOffer(ctx, a.User.ID, id)
		if err != nil {
			return err
		}
		if o.State != store.OfferOffered || !s.clock().Before(o.ExpiresAt) {
			return errorf(ECodeConflict, "error.offer_gone")
		}
		p, err := tx.FindPracticeByID(ctx, o.PracticeID)
		if err != nil {
			return err
		}
		typ, err := tx.FindTypeByID(ctx, o.TypeID)
		if err != nil {
			return err
		}
		reason = strings.TrimSpace(reason)
		if p.ReasonMode == "table" {
			reason = typ.Name
		}
		if utf8.RuneCountInString(reason) > maxReason {
			return fieldErr(ECodeInvalid, "error.reason_long", "reason")
		}
		if !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
			return fieldErr(ECodeInvalid, "error.reason_invalid", "reason")
		}
		cleaned := ""
		if typ.Teleconsultation {
			var ok bool
			if cleaned, ok = cleanPhone(phone); !ok {
				return fieldErr(ECodeInvalid, "error.phone", "phone")
			}
			if reason != "" {
				reason += " — "
			}
			reason += "☎ " + cleaned
		}
		if banned, err := tx.Banned(ctx, p.ID, a.User.ID); err != nil {
			return err
		} else if banned {
			return errorf(ECodeForbidden, "error.banned")
		}
		if p.MaxFuturePerPatient > 0 {
			n, err := tx.CountFutureAppointments(ctx, p.ID, a.User.ID)
			if err != nil {
				return err
			}
			if n >= p.MaxFuturePerPatient {
				return errorf(ECodeConflict, "error.too_many_future", "Count", p.MaxFuturePerPatient)
			}
		}
		if n, err := tx.UnholdSlots(ctx, p.ID, o.SlotIDs); err != nil {
			return err
		} else if n != len(o.SlotIDs) {
			return errorf(ECodeConflict, "error.offer_gone")
		}
		// An absence entered during the hold wins: its slots become
		// blocked and the claim below fails.
		if _, err := tx.ReapplyBlocks(ctx, p.ID, o.Start, o.Start.Add(time.Duration(len(o.SlotIDs)*p.SlotMinutes)*time.Minute)); err != nil {
			return err
		}
		payment := "none"
		if typ.Teleconsultation && typ.Price > 0 {
			payment = "unpaid"
		}
		appt = &store.Appointment{PracticeID: p.ID, PatientID: a.User.ID, TypeID: typ.ID, LocationID: o.LocationID, Start: o.Start,
			End: o.Start.Add(time.Duration(typ.Minutes) * time.Minute), Reason: reason, Phone: cleaned, PaymentState: payment, Source: "online"}
		if err := tx.CreateAppointment(ctx, appt); err != nil {
			return err
		}
		if err := tx.BookSlots(ctx, p.ID, appt.ID, o.SlotIDs); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.offer_gone")
			}
			return err
		}
		if err := tx.SetOfferState(ctx, o.ID, store.OfferAccepted, appt.ID); err != nil {
			return err
		}
		// The patient got an earlier time: they wait no more.
		if err := tx.RemoveWaitlistEntry(ctx, o.EntryID); err != nil {
			return err
		}
		ev = apptEvent{Kind: EventCreated, Appt: appt, Practice: p, Patient: a.User, TypeName: typ.Name, ActorID: a.User.ID}
		if err := s.appointmentChanged(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "appointment.booked", ObjectType: "appointment", ObjectID: appt.ID,
			IP: ip, Detail: "source=waitlist offer=" + o.ID})
	})
	if err != nil {
		return nil, err
	}
	s.appointmentCommitted(ev)
	return appt, nil
}

// joinWaitlist puts the patient on the practice's waitlist for a type,
// optionally only for times before before (zero: any).
func (s *Server) joinWaitlist(ctx context.Context, a *Actor, p *store.Practice, typeID string, before time.Time, ip string) (*store.WaitlistEntry, error) {
	typ, err := s.bookActiveType(ctx, p, typeID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fieldErr(ECodeInvalid, "error.type_unknown", "type_id")
		}
		return nil, err
	}
	if !before.IsZero() && !before.After(s.clock()) {
		return nil, fieldErr(ECodeInvalid, "error.waitlist_before", "before")
	}
	mine, err := s.db.PatientWaitlist(ctx, a.User.ID)
	if err != nil {
		return nil, err
	}
	if len(mine) >= waitlistMaxEntries {
		return nil, errorf(ECodeConflict, "error.waitlist_full", "Count", waitlistMaxEntries)
	}
	e := &store.WaitlistEntry{PracticeID: p.ID, PatientID: a.User.ID, TypeID: typ.ID, Before: before}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if banned, err := tx.Banned(ctx, p.ID, a.User.ID); err != nil {
			return err
		} else if banned {
			return errorf(ECodeForbidden, "error.banned")
		}
		if p.BookingMode == "allowlist" {
			ok, err := tx.OnAllowlist(ctx, p.ID, a.User.Email)
			if err != nil {
				return err
			}
			if !ok {
				return phoneErr(ECodeForbidden, "error.not_on_allowlist", p.SecretaryPhone)
			}
		}
		if !typ.NewPatients {
			known, err := tx.KnownPatient(ctx, p.ID, a.User.ID)
			if err != nil {
				return err
			}
			if !known {
				return fieldErr(ECodeForbidden, "error.type_existing_only", "type_id")
			}
		}
		if err := tx.AddToWaitlist(ctx, e); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.waitlist_already")
			}
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "waitlist.joined", ObjectType: "waitlist", ObjectID: e.ID, IP: ip,
			Detail: "practice=" + p.ID})
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// leaveWaitlist removes the patient's entry (404 for anyone else's).
func (s *Server) leaveWaitlist(ctx context.Context, a *Actor, id, ip string) error {
	return s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.RemoveFromWaitlist(ctx, a.User.ID, id); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "waitlist.left", ObjectType: "waitlist", ObjectID: id, IP: ip})
	})
}

// parseBefore reads the optional "before" date (a local day of the
// practice, included) as the instant the wanted times must start before.
func (s *Server) parseBefore(p *store.Practice, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	d, err := schedule.ParseDay(v)
	if err != nil {
		return time.Time{}, fieldErr(ECodeInvalid, "error.waitlist_before", "before")
	}
	return d.AddDays(1).Start(s.location(p.TimeZone)), nil
}

// Pages.

type waitlistJoinPage struct {
	*Page
	Practice *store.Practice
	Type     *store.AppointmentType
	Before   string
}

func (s *Server) waitlistJoinData(w http.ResponseWriter, r *http.Request, typeID string) (*waitlistJoinPage, bool) {
	p, ok := s.bookPractice(w, r)
	if !ok {
		return nil, false
	}
	typ, err := s.bookActiveType(r.Context(), p, typeID)
	if err != nil {
		s.error(w, r, err) // an unknown type is a plain 404
		return nil, false
	}
	return &waitlistJoinPage{Page: s.newPage(w, r, "waitlist.join_title"), Practice: p, Type: typ}, true
}

func (s *Server) handleWaitlistJoinPage(w http.ResponseWriter, r *http.Request) {
	pg, ok := s.waitlistJoinData(w, r, r.URL.Query().Get("type"))
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "waitlist_join", pg)
}

func (s *Server) handleWaitlistJoin(w http.ResponseWriter, r *http.Request) {
	pg, ok := s.waitlistJoinData(w, r, r.PostFormValue("type"))
	if !ok {
		return
	}
	pg.Before = strings.TrimSpace(r.PostFormValue("before"))
	before, err := s.parseBefore(pg.Practice, pg.Before)
	if err == nil {
		_, err = s.joinWaitlist(r.Context(), actorFrom(r), pg.Practice, pg.Type.ID, before, s.clientIP(r))
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			if e.Field == "before" {
				pg.fail("before", e.Message, e.Args...)
			} else {
				pg.Error = pg.T(e.Message, e.Args...)
			}
			s.render(w, r, statusOf(e.Code), "waitlist_join", pg)
			return
		}
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.waitlist_joined")
	http.Redirect(w, r, "/waitlist", http.StatusSeeOther)
}

type waitlistMinePage struct {
	*Page
	Entries []waitlistEntryView
	Offers  []offerView
}

type waitlistEntryView struct {
	ID, Practice, PracticeID, Type, Before, Since string
}

type offerView struct {
	ID, Practice, Type, When, Until, State string
	Tele, TableMode, Live                  bool
}

func (s *Server) handleWaitlistMine(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	pg := &waitlistMinePage{Page: s.newPage(w, r, "waitlist.mine_title")}
	entries, err := s.db.PatientWaitlist(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, e := range entries {
		v := waitlistEntryView{ID: e.ID, PracticeID: e.PracticeID, Type: s.typeName(ctx, e.TypeID), Since: pg.Date(e.CreatedAt)}
		if p, err := s.db.FindPracticeByID(ctx, e.PracticeID); err == nil {
			v.Practice = p.Name
			if !e.Before.IsZero() {
				v.Before = formatDate(pg.Lang, e.Before.Add(-time.Hour), s.location(p.TimeZone))
			}
		}
		pg.Entries = append(pg.Entries, v)
	}
	offers, err := s.db.PatientOffers(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, o := range offers {
		v, err := s.offerView(ctx, pg.Page, o)
		if err != nil {
			s.error(w, r, err)
			return
		}
		pg.Offers = append(pg.Offers, v)
	}
	s.render(w, r, http.StatusOK, "waitlist_mine", pg)
}

func (s *Server) offerView(ctx context.Context, pg *Page, o *store.Offer) (offerView, error) {
	p, err := s.db.FindPracticeByID(ctx, o.PracticeID)
	if err != nil {
		return offerView{}, err
	}
	typ, err := s.db.FindTypeByID(ctx, o.TypeID)
	if err != nil {
		return offerView{}, err
	}
	loc := s.location(p.TimeZone)
	return offerView{ID: o.ID, Practice: p.Name, Type: typ.Name, When: formatDateTime(pg.Lang, o.Start, loc) + " (" + p.TimeZone + ")",
		Until: formatDateTime(pg.Lang, o.ExpiresAt, loc) + " (" + p.TimeZone + ")", State: o.State, Tele: typ.Teleconsultation,
		TableMode: p.ReasonMode == "table", Live: o.State == store.OfferOffered && s.clock().Before(o.ExpiresAt)}, nil
}

func (s *Server) handleWaitlistLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.leaveWaitlist(r.Context(), actorFrom(r), r.PathValue("id"), s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.waitlist_left")
	http.Redirect(w, r, "/waitlist", http.StatusSeeOther)
}

type offerPage struct {
	*Page
	Offer         offerView
	Reason, Phone string
}

func (s *Server) offerPageData(w http.ResponseWriter, r *http.Request) (*offerPage, bool) {
	a := actorFrom(r)
	o, err := s.db.FindOffer(r.Context(), a.User.ID, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	pg := &offerPage{Page: s.newPage(w, r, "waitlist.offer_title")}
	if pg.Offer, err = s.offerView(r.Context(), pg.Page, o); err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return pg, true
}

func (s *Server) handleOfferPage(w http.ResponseWriter, r *http.Request) {
	pg, ok := s.offerPageData(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "waitlist_offer", pg)
}

func (s *Server) handleOfferAccept(w http.ResponseWriter, r *http.Request) {
	pg, ok := s.offerPageData(w, r)
	if !ok {
		return
	}
	pg.Reason, pg.Phone = r.PostFormValue("reason"), r.PostFormValue("phone")
	appt, err := s.acceptOffer(r.Context(), actorFrom(r), r.PathValue("id"), pg.Reason, pg.Phone, s.clientIP(r))
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code != ECodeNotFound {
			if e.Field != "" {
				pg.fail(e.Field, e.Message, e.Args...)
			} else {
				pg.Error = pg.T(e.Message, e.Args...)
			}
			s.render(w, r, statusOf(e.Code), "waitlist_offer", pg)
			return
		}
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/appointments/"+url.PathEscape(appt.ID)+"/confirmed", http.StatusSeeOther)
}

func (s *Server) handleOfferDecline(w http.ResponseWriter, r *http.Request) {
	if err := s.declineOffer(r.Context(), actorFrom(r), r.PathValue("id"), s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.waitlist_declined")
	http.Redirect(w, r, "/waitlist", http.StatusSeeOther)
}

// API.

type apiWaitlistEntry struct {
	ID             string `json:"id"`
	PractitionerID string `json:"practitioner_id"`
	TypeID         string `json:"type_id"`
	Before         string `json:"before,omitempty"`
	CreatedAt      string `json:"created_at"`
}

type apiOffer struct {
	ID             string `json:"id"`
	PractitionerID string `json:"practitioner_id"`
	TypeID         string `json:"type_id"`
	Start          string `json:"start"`
	End            string `json:"end"`
	ExpiresAt      string `json:"expires_at"`
}

func (s *Server) handleAPIWaitlist(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	entries, err := s.db.PatientWaitlist(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	offers, err := s.db.PatientOffers(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := struct {
		Entries []apiWaitlistEntry `json:"entries"`
		Offers  []apiOffer         `json:"offers"`
	}{Entries: []apiWaitlistEntry{}, Offers: []apiOffer{}}
	for _, e := range entries {
		v := apiWaitlistEntry{ID: e.ID, PractitionerID: e.PracticeID, TypeID: e.TypeID, CreatedAt: e.CreatedAt.Format(time.RFC3339)}
		if !e.Before.IsZero() {
			v.Before = e.Before.Format(time.RFC3339)
		}
		out.Entries = append(out.Entries, v)
	}
	for _, o := range offers {
		out.Offers = append(out.Offers, apiOffer{ID: o.ID, PractitionerID: o.PracticeID, TypeID: o.TypeID, Start: o.Start.Format(time.RFC3339),
			End: o.End.Format(time.RFC3339), ExpiresAt: o.ExpiresAt.Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIWaitlistJoin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PractitionerID string `json:"practitioner_id"`
		TypeID         string `json:"type_id"`
		Before         string `json:"before"` // YYYY-MM-DD, included
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.db.FindPracticeByID(r.Context(), body.PractitionerID)
	if err != nil || p.Status != store.PracticeVerified {
		s.error(w, r, fieldErr(ECodeInvalid, "error.practice_unknown", "practitioner_id"))
		return
	}
	before, err := s.parseBefore(p, body.Before)
	if err != nil {
		s.error(w, r, err)
		return
	}
	e, err := s.joinWaitlist(r.Context(), actorFrom(r), p, body.TypeID, before, s.clientIP(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	v := apiWaitlistEntry{ID: e.ID, PractitionerID: e.PracticeID, TypeID: e.TypeID, CreatedAt: e.CreatedAt.Format(time.RFC3339)}
	if !e.Before.IsZero() {
		v.Before = e.Before.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleAPIWaitlistLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.leaveWaitlist(r.Context(), actorFrom(r), r.PathValue("id"), s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAPIOfferAccept(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Phone  string `json:"phone"`
	}
	if r.ContentLength != 0 {
		if err := readJSON(r, &body); err != nil {
			s.error(w, r, err)
			return
		}
	}
	appt, err := s.acceptOffer(r.Context(), actorFrom(r), r.PathValue("id"), body.Reason, body.Phone, s.clientIP(r))
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

func (s *Server) handleAPIOfferDecline(w http.ResponseWriter, r *http.Request) {
	if err := s.declineOffer(r.Context(), actorFrom(r), r.PathValue("id"), s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
