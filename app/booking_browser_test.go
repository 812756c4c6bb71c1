package app

// A real headless Chromium on a 390×844 phone viewport walks the booking
// pages as a patient does, in French and in English: sign in, choose a
// teleconsultation, pick a time, type a reason and a mobile number, confirm;
// see it in red as unpaid in "My appointments"; move it; cancel it. Every
// page must answer 2xx in the chosen language, without a console error, a
// JavaScript exception, a failed asset or a CSP violation (the participant
// helpers of browser_test.go check this). Screenshots of each step go to
// $DARAPORT_SCREENSHOTS (else a temporary directory), named
// <lang>-book-NN-<step>.png.

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"daraport/store"
)

func TestBrowserBookingJourney(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	defer stop()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	for _, lang := range []string{"fr", "en"} {
		t.Run(lang, func(t *testing.T) { bookingJourney(t, browserCtx, shots, lang) })
	}
}

func bookingJourney(t *testing.T, browserCtx context.Context, shots, lang string) {
	began := time.Now()
	cat := loadTestCatalog(t, lang)
	w := newBookWorld(t)
	ts := w.ts
	ctx := context.Background()
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		return tx.UpdateUser(ctx, w.a.ID, store.UserUpdate{Locale: &lang})
	}); err != nil {
		t.Fatal(err)
	}

	user := newParticipant(t, browserCtx, "patient", lang, shots)
	defer user.close()
	user.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	shot := func(step string) { user.screenshot("book-" + step) }

	// Sign in; the booking page is where the patient lands.
	user.navigate(ts.URL + "/login?next=" + url.QueryEscape("/p/"+w.pid+"/book"))
	user.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), w.a.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	user.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	user.lang = lang
	user.expectPath("/p/" + w.pid + "/book")
	if got := user.text("main h1"); got != cat.msg(t, "book.type_heading") {
		t.Fatalf("step 1 heading %q", got)
	}
	shot("01-types")

	// Step 1 → 2: the teleconsultation.
	user.submit("choose the teleconsultation", chromedp.Click(chromedp.ID("type-"+w.tele.ID)))
	if got := user.text("main h1"); got != cat.msg(t, "book.time_heading") {
		t.Fatalf("step 2 heading %q", got)
	}
	shot("02-week")
	// Step 2 → 3: the first free time of the day after tomorrow (beyond the
	// 24-hour cut-off, so it can be moved and cancelled online).
	p := w.practice(t)
	today := ts.srv.today(p, ts.srv.clock())
	user.openDay(today.AddDays(2).String())
	user.submit("pick a time", chromedp.Click(chromedp.CSS("#day-"+today.AddDays(2).String()+" .bk-times a")))
	if got := user.text("main h1"); got != cat.msg(t, "book.confirm_heading") {
		t.Fatalf("step 3 heading %q", got)
	}
	reason := "Fièvre <b>depuis</b> 3 jours"
	if lang == "en" {
		reason = "Fever <b>for</b> 3 days"
	}
	user.do("type the reason and the mobile number",
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.SendKeys(chromedp.ID("phone"), "+33 6 12 34 56 78"),
	)
	shot("03-confirm")
	user.submit("confirm", chromedp.Click(chromedp.ID("book-submit")))
	loc, err := chromedp.Run(user.step(), chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	id, ok := strings.CutSuffix(strings.TrimPrefix(u.Path, "/appointments/"), "/confirmed")
	if !ok || id == "" {
		t.Fatalf("after confirming: at %s", loc)
	}
	booked := w.appointment(t, id)
	if booked.Reason != reason+" — ☎ +33612345678" || booked.PaymentState != "unpaid" || booked.PatientID != w.a.ID {
		t.Fatalf("booked: reason %q payment %q", booked.Reason, booked.PaymentState)
	}
	if got := user.text("main h1"); got != cat.msg(t, "appts.confirmed_heading") {
		t.Errorf("confirmation heading %q", got)
	}
	if got := user.text("#visit-pending"); got != cat.msg(t, "appts.visit_pending") {
		t.Errorf("video placeholder says %q", got)
	}
	if got := user.text(".appt-reason"); got != booked.Reason {
		t.Errorf("the page shows the reason as %q, want %q (escaped text)", got, booked.Reason)
	}
	shot("04-confirmed")

	// My appointments: the teleconsultation in red, unpaid.
	user.navigate(ts.URL + "/appointments")
	card := "#appt-" + id
	if got := user.text(card + " .appt-unpaid-label"); got != cat.msg(t, "appts.unpaid") {
		t.Errorf("unpaid label %q", got)
	}
	border, err := chromedp.Run(user.step(), chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector("`+card+`")).borderTopColor`))
	if err != nil || border != "rgb(164, 22, 26)" {
		t.Errorf("the unpaid teleconsultation's border is %q (err %v), want red", border, err)
	}
	shot("05-list-unpaid")

	// Move it: the move page, a later time, confirm.
	user.submit("open move", chromedp.Click(chromedp.CSS(card+` a[href$="/move"]`)))
	user.expectPath("/appointments/" + id + "/move")
	shot("06-move-week")
	later := "#day-" + today.AddDays(4).String()
	user.openDay(today.AddDays(4).String())
	user.submit("pick a new time", chromedp.Click(chromedp.CSS(later+" .bk-times li:nth-child(3) a")))
	shot("07-move-confirm")
	user.submit("confirm the move", chromedp.Click(chromedp.ID("move-submit")))
	user.expectPath("/appointments/" + id)
	user.expectFlash(cat.msg(t, "flash.appt_moved"))
	moved := w.appointment(t, id)
	if moved.Start.Equal(booked.Start) || moved.State != store.AppointmentBooked {
		t.Errorf("not moved: %v → %v", booked.Start, moved.Start)
	}
	if got := user.text("main time"); got != ts.srv.bookWhen(lang, moved.Start, w.practiceTZ) {
		t.Errorf("the page shows %q after the move", got)
	}
	shot("08-moved")

	// Cancel it, from the list, with the confirmation step.
	user.navigate(ts.URL + "/appointments")
	user.submit("open cancel", chromedp.Click(chromedp.CSS(card+` a[href$="/cancel"]`)))
	if got := user.text("main h1"); got != cat.msg(t, "appts.cancel_heading") {
		t.Errorf("cancel heading %q", got)
	}
	shot("09-cancel-confirm")
	user.submit("confirm the cancellation", chromedp.Click(chromedp.ID("cancel-submit")))
	user.expectPath("/appointments")
	user.expectFlash(cat.msg(t, "flash.appt_cancelled"))
	if w.appointment(t, id).State != store.AppointmentCancelled {
		t.Error("not cancelled")
	}
	deco, err := chromedp.Run(user.step(), chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector("`+card+` .appt-when")).textDecorationLine`))
	if err != nil || deco != "line-through" {
		t.Errorf("the cancelled appointment is not struck (%q, %v)", deco, err)
	}
	shot("10-cancelled")

	// Nothing overflows the phone's width on these pages.
	for _, path := range []string{"/p/" + w.pid + "/book?type=" + w.tele.ID, "/appointments", "/appointments/" + id} {
		user.navigate(ts.URL + path)
		wide, err := chromedp.Run(user.step(), chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil || wide > 390 {
			t.Errorf("%s is %d px wide on a 390 px phone (err %v)", path, wide, err)
		}
	}
	user.checkConsole("end of journey")
	t.Logf("%s booking journey took %v", lang, time.Since(began).Round(time.Millisecond))
}

// openDay unfolds a day of the week of free times (a <details>), as a
// person does by tapping its summary, unless it is open already.
func (p *participant) openDay(iso string) {
	p.t.Helper()
	sel := "#day-" + iso
	open, err := chromedp.Run(p.step(), chromedp.Evaluate[bool](`document.querySelector("`+sel+`").open`))
	if err != nil {
		p.fail("read "+sel, err)
	}
	if !open {
		p.do("open "+sel, chromedp.Click(chromedp.CSS(sel+" > summary")))
	}
}
