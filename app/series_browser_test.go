package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSeriesWaitlistTokens walks items 7–9 in headless Chromium on
// a phone: the secretary books a series from the practice's series page;
// a waiting patient, offered a cancelled time, sees it in their waitlist,
// books it in one click, then creates and revokes an API token. Every page
// runs without a console error or CSP violation (participant checks).
func TestBrowserSeriesWaitlistTokens(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	browserCtx := startBrowser(t, exe, 390, 844)
	e := newWaitEnv(t)
	ts := e.ts
	cat := loadTestCatalog(t, "en")

	signIn := func(p *participant, u *testUser) {
		p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		p.navigate(ts.URL + "/login")
		p.do("type the credentials", chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), u.Password))
		p.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	}

	// The secretary books four weekly visits for patient3.
	sec := newParticipant(t, browserCtx, "secretary", "en", shots)
	defer sec.close()
	signIn(sec, e.sec)
	sec.navigate(ts.URL + "/pro/p/" + e.p.ID + "/series")
	if got := sec.text("main h1"); got != cat.msg(t, "series.heading") {
		t.Fatalf("series heading %q", got)
	}
	mon := e.nextMonday()
	sec.do("fill the series form",
		chromedp.SendKeys(chromedp.ID("patient_email"), e.patient3.Email),
		chromedp.SetValue(chromedp.ID("date"), mon.String()),
		chromedp.SetValue(chromedp.ID("time"), "14:30"),
		chromedp.SetValue(chromedp.ID("count"), "4"),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=free]`)),
	)
	sec.screenshot("series-01-form")
	sec.submit("book the series", chromedp.Click(chromedp.CSS(`form[action$="/series"] button[type=submit]`)))
	if got := sec.text("#series-result h2"); got != cat.msg(t, "series.booked", "Count", "4") {
		t.Fatalf("series result %q", got)
	}
	if n, err := chromedp.Run(sec.step(), chromedp.Evaluate[int](`document.querySelectorAll(".series-booked li").length`)); err != nil || n != 4 {
		t.Fatalf("%d booked dates listed (%v)", n, err)
	}
	sec.screenshot("series-02-booked")
	if n := ts.rows(t, "appointments", "patient_id = ? AND series_id <> ''", e.patient3.ID); n != 4 {
		t.Fatalf("%d appointments in the series", n)
	}

	// A cancellation frees a time; patient2, first on the list, books it.
	e.cancelFreed(t)
	o := e.offerOf(t, e.patient2)
	pat := newParticipant(t, browserCtx, "patient2", "en", shots)
	defer pat.close()
	signIn(pat, e.patient2)
	pat.navigate(ts.URL + "/appointments")
	pat.submit("open my waitlist", chromedp.Click(chromedp.ID("waitlist-link")))
	pat.expectPath("/waitlist")
	pat.screenshot("waitlist-01-mine")
	pat.submit("open the offer", chromedp.Click(chromedp.CSS(`#offer-`+o.ID+` a.button`)))
	pat.expectPath("/waitlist/offers/" + o.ID)
	if got := pat.text("main h1"); got != cat.msg(t, "waitlist.offer_heading") {
		t.Fatalf("offer heading %q", got)
	}
	pat.screenshot("waitlist-02-offer")
	pat.submit("book the offered time", chromedp.Click(chromedp.ID("offer-accept")))
	loc, err := chromedp.Run(pat.step(), chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/confirmed") {
		t.Fatalf("after accepting: at %s (%v)", loc, err)
	}
	pat.screenshot("waitlist-03-booked")
	if e.freedState(t) != "booked" {
		t.Fatal("the offered slot is not booked")
	}

	// An API token from the profile: shown once, works, revoked, stops.
	pat.navigate(ts.URL + "/account")
	pat.submit("open API tokens", chromedp.Click(chromedp.CSS(`a[href="/account/tokens"]`)))
	pat.do("name the token", chromedp.SendKeys(chromedp.ID("name"), "My script"))
	pat.submit("create the token", chromedp.Click(chromedp.CSS(`form[action="/account/tokens"] button[type=submit]`)))
	secret := pat.value("#token-value")
	pat.screenshot("tokens-01-created")
	if res := ts.api(t, "GET", "/api/v1/me", secret, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("new token: %d", res.StatusCode)
	}
	pat.submit("revoke the token", chromedp.Click(chromedp.CSS(`form[action$="/revoke"] button`)))
	pat.expectFlash(cat.msg(t, "flash.token_revoked"))
	pat.screenshot("tokens-02-revoked")
	if res := ts.api(t, "GET", "/api/v1/me", secret, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", res.StatusCode)
	}
}
