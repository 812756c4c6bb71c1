package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"daraport/store"
)

// waitEnv is seriesEnv where patient holds an appointment at freed (to be
// cancelled), patient2 joined the waitlist first (with a later appointment
// of the type: an earlier time suits them), then patient3.
type waitEnv struct {
	*seriesEnv
	freedAt  time.Time
	freed    *store.Appointment
	p2C, p3C *http.Client
}

func newWaitEnv(t *testing.T) *waitEnv {
	t.Helper()
	e := &waitEnv{seriesEnv: newSeriesEnv(t, 30)}
	mon := e.nextMonday()
	e.freedAt = e.at(t, mon, "10:00")
	e.freed = e.book(t, e.patient, e.freedAt)
	e.book(t, e.patient2, e.at(t, mon.AddDays(7), "10:00")) // patient2's later visit
	e.p2C, e.p3C = e.ts.clientLang(t, "en"), e.ts.clientLang(t, "fr")
	e.ts.login(t, e.p2C, e.patient2)
	e.ts.login(t, e.p3C, e.patient3)
	for _, c := range []*http.Client{e.p2C, e.p3C} {
		res := e.ts.post(t, c, "/p/"+e.p.ID+"/waitlist", url.Values{"type": {e.typ.ID}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("join: %d %s", res.StatusCode, mainOf(res.Body))
		}
		e.ts.clock.Advance(time.Millisecond) // a clear order of arrival
	}
	return e
}

// cancelFreed cancels patient's appointment as the patient does.
func (e *waitEnv) cancelFreed(t *testing.T) {
	t.Helper()
	if err := e.ts.srv.cancel(context.Background(), &Actor{User: e.patient.User}, e.freed, e.p, ""); err != nil {
		t.Fatal(err)
	}
}

// offerOf returns u's live offer (there must be one).
func (e *waitEnv) offerOf(t *testing.T, u *testUser) *store.Offer {
	t.Helper()
	list, err := e.ts.db.PatientOffers(context.Background(), u.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("%s has %d live offers: %v", u.Email, len(list), err)
	}
	return list[0]
}

func (e *waitEnv) offers(t *testing.T, u *testUser) int {
	t.Helper()
	return e.ts.rows(t, "waitlist_offers", "patient_id = ?", u.ID)
}

func (e *waitEnv) offerMails(t *testing.T, u *testUser) int {
	t.Helper()
	return e.ts.rows(t, "outbox", "to_addr = ? AND template = 'waitlist_offer'", u.Email)
}

func (e *waitEnv) freedState(t *testing.T) string {
	t.Helper()
	return e.slotAt(t, e.freedAt).State
}

// runExpiry runs the job as cron would.
func (e *waitEnv) runExpiry(t *testing.T) {
	t.Helper()
	if err := e.ts.srv.expireOffers(context.Background(), e.ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
}

func TestWaitlistCancelOffersFirstWaiter(t *testing.T) {
	e := newWaitEnv(t)
	e.cancelFreed(t)
	o := e.offerOf(t, e.patient2)
	if !o.Start.Equal(e.freedAt) || len(o.SlotIDs) != 2 {
		t.Fatalf("offer %+v", o)
	}
	if e.offerMails(t, e.patient2) != 1 || e.offerMails(t, e.patient3) != 0 || e.offers(t, e.patient3) != 0 {
		t.Fatal("the first waiter, and only them, is offered the time")
	}
	if e.offerMails(t, e.patient) != 0 {
		t.Fatal("the patient who cancelled was offered their own time")
	}
	m := e.ts.lastMail(t, e.patient2.Email)
	if m.Subject != e.ts.text(t, "en", "mail.waitlist_offer.subject") || !strings.Contains(mailLink(t, m), "/waitlist/offers/"+o.ID) {
		t.Fatalf("mail %q %q", m.Subject, m.TextBody)
	}
	// The hold: two hours at most, both slots held, and booking sees it taken.
	if d := o.ExpiresAt.Sub(e.ts.srv.clock()); d > waitlistHold || d < waitlistHold-time.Minute {
		t.Fatalf("hold of %s", d)
	}
	if st := e.freedState(t); st != store.SlotHeld {
		t.Fatalf("freed slot is %s", st)
	}
	_, err := e.ts.srv.book(context.Background(), bookRequest{SlotID: e.slotAt(t, e.freedAt).ID, TypeID: e.typ.ID, Patient: e.patient3.User, ActorID: e.patient3.ID})
	if ae, ok := err.(*Error); !ok || ae.Code != ECodeSlotTaken {
		t.Fatalf("booking a held slot: %v", err)
	}
	// The free-start search does not show it either.
	starts, err := e.ts.srv.freeStarts(context.Background(), e.p, e.typ.Minutes, 0, e.nextMonday(), e.nextMonday(), e.ts.srv.clock())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range starts {
		if c.Start.Equal(e.freedAt) || c.Start.Equal(e.freedAt.Add(-15*time.Minute)) {
			t.Fatalf("held time offered as free: %s", c.Start)
		}
	}
}

func TestWaitlistExpiryDeclineAndRelease(t *testing.T) {
	e := newWaitEnv(t)
	e.cancelFreed(t)
	first := e.offerOf(t, e.patient2)

	// The job before the hold is over does nothing.
	e.runExpiry(t)
	if e.offers(t, e.patient3) != 0 {
		t.Fatal("offer passed on before its hold ended")
	}
	// Hold over: the next waiter gets it.
	e.ts.clock.Advance(waitlistHold + time.Minute)
	e.runExpiry(t)
	if o, _ := e.ts.db.FindOffer(context.Background(), e.patient2.ID, first.ID); o.State != store.OfferExpired {
		t.Fatalf("first offer is %s", o.State)
	}
	second := e.offerOf(t, e.patient3)
	if second.ChainID != first.ChainID || e.offerMails(t, e.patient3) != 1 || e.freedState(t) != store.SlotHeld {
		t.Fatalf("second offer %+v", second)
	}
	// patient2 can no longer accept the expired offer.
	res := e.ts.post(t, e.p2C, "/waitlist/offers/"+first.ID+"/accept", nil)
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, e.ts.text(t, "en", "error.offer_gone")) {
		t.Fatalf("expired accept: %d", res.StatusCode)
	}
	// patient3 declines: nobody is left (patient2 had it already), the
	// time is free for everyone again.
	res = e.ts.post(t, e.p3C, "/waitlist/offers/"+second.ID+"/decline", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d", res.StatusCode)
	}
	if st := e.freedState(t); st != store.SlotFree {
		t.Fatalf("after the last decline the slot is %s", st)
	}
	if n := e.ts.rows(t, "waitlist_offers", "state = 'offered'"); n != 0 {
		t.Fatalf("%d live offers left", n)
	}
	// Both still wait (for another time).
	if n := e.ts.rows(t, "waitlist"); n != 2 {
		t.Fatalf("%d waitlist entries", n)
	}
	// And anyone can book it now.
	e.book(t, e.patient, e.freedAt)
}

func TestWaitlistDeclinePassesOn(t *testing.T) {
	e := newWaitEnv(t)
	e.cancelFreed(t)
	first := e.offerOf(t, e.patient2)
	res := e.ts.post(t, e.p2C, "/waitlist/offers/"+first.ID+"/decline", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d", res.StatusCode)
	}
	e.offerOf(t, e.patient3)
	if e.freedState(t) != store.SlotHeld {
		t.Fatal("slot not held for the next waiter")
	}
	// Declining twice is refused, and leaves the next offer alone.
	if res := e.ts.post(t, e.p2C, "/waitlist/offers/"+first.ID+"/decline", nil); res.StatusCode != http.StatusConflict {
		t.Fatalf("second decline: %d", res.StatusCode)
	}
}

func TestWaitlistAccept(t *testing.T) {
	e := newWaitEnv(t)
	e.cancelFreed(t)
	o := e.offerOf(t, e.patient2)

	// Another patient cannot see, accept or decline it: 404.
	for _, path := range []string{"/waitlist/offers/" + o.ID, "/waitlist/offers/" + o.ID + "/accept", "/waitlist/offers/" + o.ID + "/decline"} {
		var res response
		if strings.HasSuffix(path, o.ID) {
			res = e.ts.get(t, e.p3C, path)
		} else {
			res = e.ts.post(t, e.p3C, path, nil)
		}
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("%s by another patient: %d", path, res.StatusCode)
		}
	}
	if res := e.ts.api(t, "POST", "/api/v1/waitlist/offers/"+o.ID+"/accept", e.ts.token(t, e.patient3), nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("API accept by another patient: %d", res.StatusCode)
	}
	if e.freedState(t) != store.SlotHeld {
		t.Fatal("the offer changed")
	}
	// The offer's page, then one click.
	page := e.ts.get(t, e.p2C, "/waitlist/offers/"+o.ID)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Body, `id="offer-accept"`) {
		t.Fatalf("offer page: %d %s", page.StatusCode, mainOf(page.Body))
	}
	res := e.ts.post(t, e.p2C, "/waitlist/offers/"+o.ID+"/accept", url.Values{"reason": {"Earlier please"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/appointments/") {
		t.Fatalf("accept: %d %s", res.StatusCode, mainOf(res.Body))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(res.Header.Get("Location"), "/appointments/"), "/confirmed")
	a, err := e.ts.db.FindAppointmentByID(context.Background(), id)
	if err != nil || a.PatientID != e.patient2.ID || !a.Start.Equal(e.freedAt) || a.State != store.AppointmentBooked || a.Reason != "Earlier please" {
		t.Fatalf("appointment %+v %v", a, err)
	}
	if sl := e.slotAt(t, e.freedAt); sl.State != store.SlotBooked || sl.AppointmentID != id {
		t.Fatalf("slot %+v", sl)
	}
	if sl := e.slotAt(t, e.freedAt.Add(15*time.Minute)); sl.State != store.SlotBooked || sl.AppointmentID != id {
		t.Fatalf("second slot %+v", sl)
	}
	// Confirmed by e-mail like any booking; patient2 waits no more.
	if m := e.ts.lastMail(t, e.patient2.Email); m.Template != "appointment_confirmed" {
		t.Fatalf("last mail %s", m.Template)
	}
	if n := e.ts.rows(t, "waitlist", "patient_id = ?", e.patient2.ID); n != 0 {
		t.Fatal("entry kept after accepting")
	}
	// Accepting again is refused.
	if res := e.ts.post(t, e.p2C, "/waitlist/offers/"+o.ID+"/accept", nil); res.StatusCode != http.StatusConflict {
		t.Fatalf("second accept: %d", res.StatusCode)
	}
}

func TestWaitlistMoveOffersOldTime(t *testing.T) {
	e := newWaitEnv(t)
	later := e.at(t, e.nextMonday().AddDays(3), "15:00")
	if _, err := e.ts.srv.move(context.Background(), &Actor{User: e.patient.User}, e.freed, e.p, e.slotAt(t, later).ID, ""); err != nil {
		t.Fatal(err)
	}
	if o := e.offerOf(t, e.patient2); !o.Start.Equal(e.freedAt) {
		t.Fatalf("offer at %s, want the old time %s", o.Start, e.freedAt)
	}
}

func TestWaitlistOnlyEarlierAndNeverPast(t *testing.T) {
	e := newWaitEnv(t)
	ctx := context.Background()
	// patient2 leaves; patient3 now only wants times up to the day before
	// the freed one: nobody suits, the time stays free.
	for _, en := range mustWaitlist(t, e.ts, e.patient2) {
		if err := e.ts.srv.leaveWaitlist(ctx, &Actor{User: e.patient2.User}, en.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, en := range mustWaitlist(t, e.ts, e.patient3) {
		if err := e.ts.srv.leaveWaitlist(ctx, &Actor{User: e.patient3.User}, en.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := e.ts.srv.parseBefore(e.p, e.nextMonday().AddDays(-1).String())
	if _, err := e.ts.srv.joinWaitlist(ctx, &Actor{User: e.patient3.User}, e.p, e.typ.ID, before, ""); err != nil {
		t.Fatal(err)
	}
	e.cancelFreed(t)
	if e.offers(t, e.patient3) != 0 || e.freedState(t) != store.SlotFree {
		t.Fatal("a time after the patient's date was offered")
	}

	// A time about to start is never offered: staff cancel a visit that
	// starts in 15 minutes while patient2 waits for any time.
	if _, err := e.ts.srv.joinWaitlist(ctx, &Actor{User: e.patient2.User}, e.p, e.typ.ID, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	soon := e.book(t, e.patient, e.at(t, e.nextMonday().AddDays(1), "09:00"))
	e.ts.clock.Advance(soon.Start.Sub(e.ts.srv.clock()) - 15*time.Minute)
	staff := &Actor{User: e.sec.User, Memberships: []store.Membership{{UserID: e.sec.ID, Role: store.RoleSecretary, PracticeID: e.p.ID}}}
	if err := e.ts.srv.cancel(ctx, staff, soon, e.p, ""); err != nil {
		t.Fatal(err)
	}
	if e.offers(t, e.patient2) != 0 {
		t.Fatal("a time starting in 15 minutes was offered")
	}
	// A past slot: the hold of an offer always ends before the time starts,
	// so the job never passes on a time that has begun.
	e.ts.clock.Advance(time.Hour)
	e.runExpiry(t)
	if n := e.ts.rows(t, "waitlist_offers"); n != 0 {
		t.Fatalf("%d offers", n)
	}
}

func TestWaitlistJoinAndLeave(t *testing.T) {
	e := newWaitEnv(t)
	// The booking page links to it; the join page shows the type.
	page := e.ts.get(t, e.p2C, "/p/"+e.p.ID+"/book?type="+e.typ.ID)
	if !strings.Contains(page.Body, `href="/p/`+e.p.ID+`/waitlist?type=`+e.typ.ID+`"`) {
		t.Fatalf("booking page has no waitlist link: %s", mainOf(page.Body))
	}
	// Twice for one type is refused; a bad date too; a type of another practice is 404.
	res := e.ts.post(t, e.p2C, "/p/"+e.p.ID+"/waitlist", url.Values{"type": {e.typ.ID}})
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, e.ts.text(t, "en", "error.waitlist_already")) {
		t.Fatalf("twice: %d", res.StatusCode)
	}
	c := e.ts.clientLang(t, "en")
	e.ts.login(t, c, e.patient)
	res = e.ts.post(t, c, "/p/"+e.p.ID+"/waitlist", url.Values{"type": {e.typ.ID}, "before": {"yesterday"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, e.ts.text(t, "en", "error.waitlist_before")) {
		t.Fatalf("bad date: %d", res.StatusCode)
	}
	res = e.ts.post(t, c, "/p/"+e.p.ID+"/waitlist", url.Values{"type": {e.typ.ID}, "before": {e.today.AddDays(-2).String()}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("past date: %d", res.StatusCode)
	}
	if res := e.ts.post(t, c, "/p/"+e.p.ID+"/waitlist", url.Values{"type": {"nope"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown type: %d", res.StatusCode)
	}
	if n := e.ts.rows(t, "waitlist", "patient_id = ?", e.patient.ID); n != 0 {
		t.Fatal("bad input wrote an entry")
	}
	// My waitlist lists it; another patient cannot remove it; its owner can.
	list := e.ts.get(t, e.p2C, "/waitlist")
	entries := mustWaitlist(t, e.ts, e.patient2)
	if list.StatusCode != http.StatusOK || len(entries) != 1 || !strings.Contains(list.Body, `id="wait-`+entries[0].ID+`"`) {
		t.Fatalf("list: %d", list.StatusCode)
	}
	if res := e.ts.post(t, e.p3C, "/waitlist/"+entries[0].ID+"/leave", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("leave by another: %d", res.StatusCode)
	}
	if res := e.ts.post(t, e.p2C, "/waitlist/"+entries[0].ID+"/leave", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("leave: %d", res.StatusCode)
	}
	if n := e.ts.rows(t, "waitlist", "patient_id = ?", e.patient2.ID); n != 0 {
		t.Fatal("entry kept")
	}
	// The API: join, list, leave.
	tok := e.ts.token(t, e.patient)
	body, _ := json.Marshal(map[string]string{"practitioner_id": e.p.ID, "type_id": e.typ.ID, "before": e.today.AddDays(10).String()})
	res = e.ts.api(t, "POST", "/api/v1/waitlist", tok, strings.NewReader(string(body)))
	var entry apiWaitlistEntry
	if res.StatusCode != http.StatusCreated || json.Unmarshal([]byte(res.Body), &entry) != nil || entry.Before == "" {
		t.Fatalf("API join: %d %s", res.StatusCode, res.Body)
	}
	res = e.ts.api(t, "GET", "/api/v1/waitlist", tok, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, entry.ID) {
		t.Fatalf("API list: %d %s", res.StatusCode, res.Body)
	}
	if res := e.ts.api(t, "DELETE", "/api/v1/waitlist/"+entry.ID, e.ts.token(t, e.patient3), nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("API leave by another: %d", res.StatusCode)
	}
	if res := e.ts.api(t, "DELETE", "/api/v1/waitlist/"+entry.ID, tok, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("API leave: %d", res.StatusCode)
	}
}

func mustWaitlist(t *testing.T, ts *testServer, u *testUser) []*store.WaitlistEntry {
	t.Helper()
	list, err := ts.db.PatientWaitlist(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestWaitlistAbsenceDuringHold: an absence entered while a time is held
// wins: the patient cannot accept it, and when the offer ends the slots
// are blocked, not free.
func TestWaitlistAbsenceDuringHold(t *testing.T) {
	e := newWaitEnv(t)
	ctx := context.Background()
	e.cancelFreed(t)
	o := e.offerOf(t, e.patient2)
	err := e.ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateBlock(ctx, &store.Block{PracticeID: e.p.ID, Start: e.freedAt.Add(-time.Hour), End: e.freedAt.Add(time.Hour), Reason: "Away"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res := e.ts.post(t, e.p2C, "/waitlist/offers/"+o.ID+"/accept", nil)
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("accept inside an absence: %d", res.StatusCode)
	}
	if n := e.ts.rows(t, "appointments", "patient_id = ? AND starts_at = ?", e.patient2.ID, e.freedAt.Unix()); n != 0 {
		t.Fatal("booked inside an absence")
	}
	res = e.ts.post(t, e.p2C, "/waitlist/offers/"+o.ID+"/decline", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d", res.StatusCode)
	}
	if st := e.freedState(t); st != store.SlotBlocked {
		t.Fatalf("slot after the hold is %s, want blocked", st)
	}
	if e.offers(t, e.patient3) != 0 {
		t.Fatal("a blocked time was offered to the next waiter")
	}
}
