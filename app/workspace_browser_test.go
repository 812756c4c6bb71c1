package app

// A real headless Chromium runs the front desk as seed 004 describes it, in
// French: the practitioner affiliates a secretary chosen among the patients
// (she registered and booked first), then leaves the planning open; in a
// second browser context the secretary books a teleconsultation taken by
// phone for a new patient, moves it to the next day, marks it paid, marks
// the current visit as an unexcused absence and bans a patient, who then
// cannot book. The practitioner's planning shows each change without a
// reload (Server-Sent Events), in the right colours (computed styles:
// today bronze, the following days green, absences red). Screenshots of
// each step go to $DARAPORT_SCREENSHOTS (else a temporary directory), named
// fr-ws-NN-<who>-<step>.png.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"daraport/store"
)

// Computed colours of the planning rows' left border (workspace.css, from
// app.css's --bronze, --green and --bad).
const (
	colourBronze = "rgb(168, 107, 50)"
	colourGreen  = "rgb(47, 125, 50)"
	colourRed    = "rgb(164, 22, 26)"
)

func TestBrowserWorkspaceJourney(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	browserCtx := startBrowser(t, exe, 1280, 900)
	cat := loadTestCatalog(t, "fr")

	w := newWSWorld(t)
	ts := w.ts
	ctx := context.Background()
	// Sara registered as a patient and booked with the practice (seed 004).
	sara := ts.addUser(t, "sara@example.org", "Sara Secrétaire", store.RolePatient, "")
	w.bookDirect(t, sara, w.consult, w.startAt(t, w.consult, 3, "09:00").ID, "", "")
	// Anna's visit at 09:00 tomorrow; the clock then moves to 09:10 of
	// that day: it is the current visit, to be marked absent.
	current := w.bookDirect(t, w.a, w.consult, w.startAt(t, w.consult, 1, "09:00").ID, "", "")
	w.moveClockTo(t, 1, 9, 10)
	fr := "fr"
	for _, id := range []string{w.pro.ID, sara.ID} {
		if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(ctx, id, store.UserUpdate{Locale: &fr}) }); err != nil {
			t.Fatal(err)
		}
	}

	step := 0
	shot := func(p *participant, what string) {
		step++
		p.screenshot(fmt.Sprintf("ws-%02d-%s-%s", step, p.who, what))
	}
	signIn := func(p *participant, u *testUser) {
		p.navigate(ts.URL + "/login")
		p.do("sign in", chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), u.Password))
		p.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	}

	// The practitioner affiliates Sara, chosen in the list of patients.
	pro := newParticipant(t, browserCtx, "pro", "fr", shots)
	defer pro.close()
	signIn(pro, w.pro)
	pro.navigate(ts.URL + w.base + "/secretaries")
	pro.do("choose Sara", chromedp.SetValue(chromedp.ID("user_id"), sara.ID))
	shot(pro, "secretaries")
	pro.submit("affiliate Sara", chromedp.Click(chromedp.CSS(`form:has(#user_id) button[type=submit]`)))
	pro.expectFlash(cat.msg(t, "flash.ws_secretary_added"))

	// The planning stays open in the practitioner's browser; a marker on
	// the window shows it is never reloaded.
	pro.navigate(ts.URL + w.base + "/visits")
	if _, err := chromedp.Run(pro.step(), chromedp.Evaluate[int](`window.__noReload = 1`)); err != nil {
		pro.fail("mark the window", err)
	}
	pro.waitJS("the planning is live", `document.querySelector("[data-live-status]").dataset.state === "live"`)
	if got := pro.cssOf("#appt-"+current.ID, "border-left-color"); got != colourBronze {
		t.Errorf("the current visit's colour is %s, want bronze %s", got, colourBronze)
	}
	shot(pro, "planning-live")

	// The secretary books a teleconsultation taken by phone for a new patient.
	sec := newParticipant(t, browserCtx, "secretary", "fr", shots)
	defer sec.close()
	signIn(sec, sara)
	sec.navigate(ts.URL + w.base + "/book?type=" + w.tele.ID)
	slot := w.startAt(t, w.tele, 1, "11:00")
	sec.do("fill the phone booking",
		chromedp.SetValue(chromedp.ID("slot_id"), slot.ID),
		chromedp.SendKeys(chromedp.ID("email"), "noe.nouveau@example.org"),
		chromedp.SendKeys(chromedp.ID("name"), "Noé Nouveau"),
		chromedp.Click(chromedp.CSS(`input[name=invite]`)),
		chromedp.SendKeys(chromedp.ID("reason"), "Renouvellement"),
		chromedp.SendKeys(chromedp.ID("phone"), "+33 6 11 22 33 44"),
	)
	shot(sec, "book-by-phone")
	sec.submit("book by phone", chromedp.Click(chromedp.CSS(`main form[method=post] button[type=submit]`)))
	sec.expectPath(w.base + "/visits")
	sec.expectFlash(cat.msg(t, "flash.ws_booked"))
	noe, err := ts.db.FindUserByEmail(ctx, "noe.nouveau@example.org")
	if err != nil {
		t.Fatalf("the new patient: %v", err)
	}
	list, err := ts.db.FindAppointments(ctx, store.AppointmentFilter{PatientID: noe.ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("the phone appointment: %v %d", err, len(list))
	}
	appt := list[0]
	sel := "#appt-" + appt.ID
	pro.waitJS("the phone booking appears without reload", fmt.Sprintf(`!!document.querySelector(%q)`, sel))
	pro.checkNoReload()
	if got := pro.cssOf(sel, "border-left-color"); got != colourBronze {
		t.Errorf("today's new visit is %s, want bronze %s", got, colourBronze)
	}
	if txt := pro.text(sel); !strings.Contains(txt, "Noé Nouveau") || !strings.Contains(txt, cat.msg(t, "ws.pay.unpaid")) {
		t.Errorf("the new row says %q", txt)
	}
	shot(pro, "after-booking")

	// She moves it to tomorrow 10:00.
	tomorrow := w.startAt(t, w.tele, 2, "10:00")
	sec.navigate(ts.URL + w.base + "/appointments/" + appt.ID + "/move?day=" + tomorrow.Start.In(w.practiceTZ).Format("2006-01-02"))
	sec.do("choose tomorrow 10:00", chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=slot_id][value=%q]`, tomorrow.ID))))
	shot(sec, "move")
	sec.submit("move", chromedp.Click(chromedp.CSS(`main form[method=post] button[type=submit]`)))
	sec.expectFlash(cat.msg(t, "flash.ws_moved"))
	pro.waitJS("the move appears (green, tomorrow)", fmt.Sprintf(`(document.querySelector(%q) || {}).className === "ws-row ws-row-later"`, sel))
	pro.checkNoReload()
	if got := pro.cssOf(sel, "border-left-color"); got != colourGreen {
		t.Errorf("tomorrow's visit is %s, want green %s", got, colourGreen)
	}
	if txt := pro.text(sel); !strings.HasPrefix(txt, "10:00–10:15") {
		t.Errorf("the moved row says %q", txt)
	}
	shot(pro, "after-move")

	// She marks it paid (a prepayment).
	sec.submit("mark paid", chromedp.Click(chromedp.CSS(sel+" button.ws-paid")))
	sec.expectFlash(cat.msg(t, "flash.ws_paid"))
	pro.waitJS("the payment appears", fmt.Sprintf(`!!document.querySelector(%q + " button.ws-unpaid")`, sel))
	pro.checkNoReload()
	if txt := pro.text(sel); strings.Contains(txt, cat.msg(t, "ws.pay.unpaid")) || !strings.Contains(txt, cat.msg(t, "ws.pay.paid")) {
		t.Errorf("the paid row says %q", txt)
	}
	shot(pro, "after-paid")

	// She marks the current visit as an unexcused absence.
	cur := "#appt-" + current.ID
	sec.submit("ask to mark the absence", chromedp.Click(chromedp.CSS(cur+" a.ws-noshow")))
	shot(sec, "confirm-absence")
	sec.submit("confirm the absence", chromedp.Click(chromedp.ID("confirm-submit")))
	sec.expectFlash(cat.msg(t, "flash.ws_no_show"))
	pro.waitJS("the absence appears in red", fmt.Sprintf(`(document.querySelector(%q) || {}).className === "ws-row ws-row-alert"`, cur))
	pro.checkNoReload()
	if got := pro.cssOf(cur, "border-left-color"); got != colourRed {
		t.Errorf("the absence is %s, want red %s", got, colourRed)
	}
	if txt := pro.text(cur); !strings.Contains(txt, "ABSENCE INJUSTIFIÉE") {
		t.Errorf("the absent row says %q", txt)
	}
	shot(pro, "after-no-show")
	shot(sec, "planning")

	// She bans Anna from the patient card; Anna then cannot book.
	sec.navigate(ts.URL + w.base + "/patients/" + w.a.ID)
	sec.do("give the reason", chromedp.SendKeys(chromedp.ID("reason"), "Propos injurieux au secrétariat"))
	sec.submit("ban", chromedp.Click(chromedp.CSS(`form[action$="/ban"] button[type=submit]`)))
	sec.expectFlash(cat.msg(t, "flash.ws_banned"))
	shot(sec, "banned")
	body, _ := json.Marshal(map[string]string{"slot_id": w.startAt(t, w.consult, 3, "15:00").ID, "type_id": w.consult.ID})
	res := ts.api(t, "POST", "/api/v1/appointments", ts.token(t, w.a), bytes.NewReader(body))
	if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, `"code":"forbidden"`) {
		t.Errorf("the banned patient books: %d %s", res.StatusCode, res.Body)
	}
	pro.checkNoReload()

	// The day sheet prints without the site's header, menu and buttons.
	pro.navigate(ts.URL + w.base + "/sheet")
	if _, err := chromedp.Call(pro.step(), emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		pro.fail("emulate print", err)
	}
	for _, sel := range []string{"header.top", "form.ws-tools"} {
		if got := pro.cssOf(sel, "display"); got != "none" {
			t.Errorf("printed, %s shows (display %s)", sel, got)
		}
	}
	if got := pro.cssOf("table.ws-sheet", "display"); got != "table" {
		t.Errorf("printed, the sheet's table is %q", got)
	}
	shot(pro, "day-sheet-print")
	pro.checkConsole("end")
	sec.checkConsole("end")
}

// waitJS polls a JavaScript condition in the page until it holds.
func (p *participant) waitJS(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ok, err := chromedp.Run(p.step(), chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.fail("wait: "+what, fmt.Errorf("%q never held (last error %v)", cond, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cssOf returns a computed style property of the first element matching sel.
func (p *participant) cssOf(sel, prop string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.step(), chromedp.Evaluate[string](fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).getPropertyValue(%q)`, sel, prop)))
	if err != nil {
		p.fail("computed style of "+sel, err)
	}
	return v
}

// checkNoReload fails when the page was reloaded since the marker was set.
func (p *participant) checkNoReload() {
	p.t.Helper()
	v, err := chromedp.Run(p.step(), chromedp.Evaluate[bool](`window.__noReload === 1`))
	if err != nil || !v {
		p.t.Errorf("%s: the planning page was reloaded (or the marker is gone): %v", p.who, err)
	}
}
