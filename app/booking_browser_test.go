package app

// A real headless Chromium on a 390×844 phone viewport walks the booking
// pages as a new patient does, in French and in English: register on
// /register (the page solves its captcha), confirm the address from the
// verification e-mail (an administrator reads it in the outbox viewer), sign
// in, give consent; find the practitioner ("Dr Élodie Dupré") on the home
// page by typing part of the name without accents, open the practitioner's
// page and tap "Book"; choose a teleconsultation, pick a time, type a reason
// and a mobile number, confirm; see it in red as unpaid in "My
// appointments"; move it; cancel it. Every page must answer 2xx in the
// chosen language, without a console error, a JavaScript exception, a
// failed asset or a CSP violation (the participant helpers of
// browser_test.go check this). Screenshots of each step go to
// $DARAPORT_SCREENSHOTS (else a temporary directory), named
// <lang>-book-NN-<step>.png.

import (
	"context"
	"fmt"
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
	browserCtx := startBrowser(t, exe, 390, 844)
	for _, lang := range []string{"fr", "en"} {
		t.Run(lang, func(t *testing.T) { bookingJourney(t, browserCtx, shots, lang) })
	}
}

// bookPractitionerName is the practitioner the patient looks for, typed
// without accents and in part (bookSearch).
const bookPractitionerName = "Dr Élodie Dupré"

// bookSearch is what the patient types in the directory's name field.
var bookSearch = map[string]string{"fr": "elodie dup", "en": "dupre"}

func bookingJourney(t *testing.T, browserCtx context.Context, shots, lang string) {
	began := time.Now()
	cat := loadTestCatalog(t, lang)
	w := newBookWorld(t)
	ts := w.ts
	ctx := context.Background()
	// The practice of the world, renamed with accents; it stays verified,
	// with its planning and its teleconsultation.
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		return tx.UpdatePracticeName(ctx, w.pid, bookPractitionerName, "Europe/Paris")
	}); err != nil {
		t.Fatal(err)
	}

	user := newParticipant(t, browserCtx, "patient", lang, shots)
	defer user.close()
	user.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	shot := func(step string) { user.screenshot("book-" + step) }

	// A new patient registers, confirms the address, signs in and consents.
	email := "noemie." + lang + "@example.org"
	patient := bookRegisterPatient(t, ts, browserCtx, user, cat, shots, lang, "Noémie Léger", email)

	// The directory: part of the name, without accents.
	user.navigate(ts.URL + "/")
	user.do("type part of the name in the directory search", chromedp.SendKeys(chromedp.ID("dir-q"), bookSearch[lang]))
	shot("05-search")
	user.submit("search the directory", chromedp.Click(chromedp.CSS(`form.dir-search button[type=submit]`)))
	user.expectPath("/")
	if got := user.value("#dir-q"); got != bookSearch[lang] {
		t.Errorf("the search field holds %q after searching, want %q", got, bookSearch[lang])
	}
	if n, err := chromedp.Run(user.step(), chromedp.Evaluate[int](`document.querySelectorAll("#results .dir-card").length`)); err != nil || n != 1 {
		t.Fatalf("searching %q found %d practitioners (err %v), want 1", bookSearch[lang], n, err)
	}
	result := "#results .dir-card h3 a"
	if got := user.text(result); got != bookPractitionerName {
		t.Fatalf("searching %q found %q, want %q", bookSearch[lang], got, bookPractitionerName)
	}
	shot("06-results")
	user.submit("open the practitioner", chromedp.Click(chromedp.CSS(result)))
	user.expectPath("/p/" + w.pid)
	if got := user.text("main h1"); got != bookPractitionerName {
		t.Errorf("the practitioner page's heading is %q", got)
	}
	book := `main .prac-head ~ p.actions a.button[href="/p/` + w.pid + `/book"]`
	if got := user.text(book); got != cat.msg(t, "practitioner.book") {
		t.Errorf("the book button says %q", got)
	}
	shot("07-practitioner")
	user.submit("book", chromedp.Click(chromedp.CSS(book)))
	user.expectPath("/p/" + w.pid + "/book")
	if got := user.text("main h1"); got != cat.msg(t, "book.type_heading") {
		t.Fatalf("step 1 heading %q", got)
	}
	shot("08-types")

	// Step 1 → 2: the teleconsultation.
	user.submit("choose the teleconsultation", chromedp.Click(chromedp.ID("type-"+w.tele.ID)))
	if got := user.text("main h1"); got != cat.msg(t, "book.time_heading") {
		t.Fatalf("step 2 heading %q", got)
	}
	shot("09-week")
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
	shot("10-confirm")
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
	if booked.Reason != reason+" — ☎ +33612345678" || booked.PaymentState != "unpaid" || booked.PatientID != patient.ID {
		t.Fatalf("booked: reason %q payment %q", booked.Reason, booked.PaymentState)
	}
	if got := user.text("main h1"); got != cat.msg(t, "appts.confirmed_heading") {
		t.Errorf("confirmation heading %q", got)
	}
	// The video visit's secret link (issue 7).
	if got := user.text(".appt-visit a.button"); got != cat.msg(t, "appts.visit_join") {
		t.Errorf("video visit button says %q", got)
	}
	if href, err := chromedp.Run(user.step(), chromedp.Evaluate[string](`document.querySelector(".appt-visit a.button").href`)); err != nil || href != ts.srv.visitLink(id) {
		t.Errorf("video visit button links %q (err %v), want %q", href, err, ts.srv.visitLink(id))
	}
	if got := user.text(".appt-reason"); got != booked.Reason {
		t.Errorf("the page shows the reason as %q, want %q (escaped text)", got, booked.Reason)
	}
	shot("11-confirmed")

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
	shot("12-list-unpaid")

	// Move it: the move page, a later time, confirm.
	user.submit("open move", chromedp.Click(chromedp.CSS(card+` a[href$="/move"]`)))
	user.expectPath("/appointments/" + id + "/move")
	shot("13-move-week")
	later := "#day-" + today.AddDays(4).String()
	user.openDay(today.AddDays(4).String())
	user.submit("pick a new time", chromedp.Click(chromedp.CSS(later+" .bk-times li:nth-child(3) a")))
	shot("14-move-confirm")
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
	shot("15-moved")

	// Cancel it, from the list, with the confirmation step.
	user.navigate(ts.URL + "/appointments")
	user.submit("open cancel", chromedp.Click(chromedp.CSS(card+` a[href$="/cancel"]`)))
	if got := user.text("main h1"); got != cat.msg(t, "appts.cancel_heading") {
		t.Errorf("cancel heading %q", got)
	}
	shot("16-cancel-confirm")
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
	shot("17-cancelled")

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

// bookRegisterPatient is the registration of browser_test.go's journey, on
// the participant's phone viewport and in ts: user registers on /register in
// lang (chosen from the page's menu) once the page has solved its captcha;
// the administrator of the book world reads the verification link in the
// outbox viewer; user confirms, signs in and gives consent, and lands on
// the home page greeted by name. It returns the new account.
func bookRegisterPatient(t *testing.T, ts *testServer, browserCtx context.Context, user *participant, cat testCatalog,
	shots, lang, name, email string) *store.User {
	t.Helper()
	password := "a long and quiet river " + lang
	shot := func(step string) { user.screenshot("book-" + step) }

	user.navigate(ts.URL + "/register")
	user.chooseLanguage(lang)
	user.expectPath("/register")
	user.do("fill the registration form",
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("email2"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("password2"), password),
	)
	user.do("wait for the captcha to be solved",
		chromedp.WaitReady(chromedp.CSS(`fieldset.captcha[data-solved="true"]`)),
		chromedp.WaitEnabled(chromedp.ID("register-submit")),
	)
	shot("01-register")
	user.submit("register", chromedp.Click(chromedp.ID("register-submit")))
	if done, want := user.text("main .panel[role=status]"), cat.msg(t, "register.done", "Email", email); !strings.Contains(done, want) {
		t.Fatalf("after registering the page says %q, want %q", done, want)
	}
	shot("02-register-done")

	// The administrator (of newBookWorld) reads the verification e-mail.
	admin := newParticipant(t, browserCtx, "admin", lang, shots)
	defer admin.close()
	admin.navigate(ts.URL + "/login")
	admin.do("admin signs in",
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	admin.submit("admin sign-in", chromedp.Click(chromedp.ID("login-submit")))
	admin.navigate(ts.URL + "/admin/outbox")
	admin.do("filter the outbox by the new address", chromedp.SendKeys(chromedp.ID("to"), email))
	admin.submit("outbox filter", chromedp.Submit(chromedp.ID("to")))
	if subject, want := admin.text("a.outbox-subject"), cat.msg(t, "mail.verify.subject", "Brand", ts.cfg.Brand.Name); subject != want {
		t.Errorf("newest message to %s has subject %q, want %q", email, subject, want)
	}
	admin.submit("open the newest message", chromedp.Click(chromedp.CSS("a.outbox-subject")))
	links, err := chromedp.Run(admin.step(), chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#mail-body a")).map(a => a.href)`))
	if err != nil {
		t.Fatalf("read the links of #mail-body: %v", err)
	}
	var link string
	for _, l := range links {
		if u, err := url.Parse(l); err == nil && u.Path == "/verify" && u.Query().Get("token") != "" && strings.HasPrefix(l, ts.URL+"/") {
			link = l
			break
		}
	}
	if link == "" {
		t.Fatalf("no verification link to %s in #mail-body; links: %q", ts.URL, links)
	}
	admin.screenshot("book-03-outbox-message")
	admin.checkConsole("outbox")

	// The patient confirms the address, signs in and gives consent.
	user.navigate(link)
	user.expectPath("/verify")
	user.submit("confirm the address", chromedp.Click(chromedp.ID("verify-submit")))
	user.expectPath("/login")
	user.expectFlash(cat.msg(t, "flash.verified"))
	user.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	user.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	user.expectPath("/consent")
	var ticks []chromedp.Action[chromedp.Void]
	for _, it := range consentItems {
		if it.Required {
			ticks = append(ticks, chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[type=checkbox][name="consent_%s"]`, it.ID))))
		}
	}
	user.do("tick the required consents", ticks...)
	user.do("fill date of birth, postal code and city",
		chromedp.SetValue(chromedp.ID("birth_date"), "1990-05-17"),
		chromedp.SendKeys(chromedp.ID("postal_code"), "06000"),
		chromedp.SendKeys(chromedp.ID("city"), "Nice"),
	)
	shot("04-consent")
	user.submit("give consent", chromedp.Click(chromedp.ID("consent-submit")))
	user.expectPath("/")
	if hello, want := user.text(".who .hello"), cat.msg(t, "nav.hello", "Name", name); hello != want {
		t.Errorf("header greets %q, want %q", hello, want)
	}
	u, err := ts.db.FindUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("the registered patient: %v", err)
	}
	return u
}
