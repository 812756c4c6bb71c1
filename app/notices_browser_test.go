package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"daraport/store"
)

// TestNoticesBrowser: a practitioner, in French on a phone, sets her own
// reminder times, adds a webhook (the signing secret shows once) and sees
// its delivery log after a booking; every page without a console error or
// a CSP violation.
func TestNoticesBrowser(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	w := newNoticesWorld(t, time.Time{}, nil)
	ts := w.ts
	ctx := context.Background()
	fr := "fr"
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(ctx, w.pro.ID, store.UserUpdate{Locale: &fr}) }); err != nil {
		t.Fatal(err)
	}
	browserCtx := startBrowser(t, exe, 390, 844)
	p := newParticipant(t, browserCtx, "practitioner", "notices", shots)
	defer p.close()

	p.navigate(ts.URL + "/login")
	p.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("email"), w.pro.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	p.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	p.lang = "fr"
	page := "/pro/p/" + w.practice.ID + "/notices"
	p.navigate(ts.URL + page)
	p.screenshot("1-page")

	p.do("choose my own reminder times", chromedp.Click(chromedp.CSS(`input[name=mode][value=custom]`)),
		chromedp.SetValue(chromedp.ID("n-reminders"), "72h, 3h"))
	p.submit("save the reminders", chromedp.Click(chromedp.CSS(`#reminders button[type=submit]`)))
	p.expectPath(page)
	p.expectFlash(ts.text(t, "fr", "flash.saved"))
	n, err := ts.db.FindPracticeNotices(ctx, w.practice.ID)
	if err != nil || len(n.Reminders) != 2 || n.Reminders[0] != 72*time.Hour || n.Reminders[1] != 3*time.Hour {
		t.Fatalf("saved reminders %+v (%v)", n, err)
	}

	p.do("fill the webhook form", chromedp.SendKeys(chromedp.ID("w-url"), "https://hooks.example.org/cabinet"),
		chromedp.Click(chromedp.CSS(`input[name=events][value="appointment.paid"]`)))
	p.submit("add the webhook", chromedp.Click(chromedp.CSS(`#webhooks form[action$="/webhooks"] button[type=submit]`)))
	secret := p.text("code.secret")
	hooks, err := ts.db.FindWebhooks(ctx, w.practice.ID)
	if err != nil || len(hooks) != 1 || hooks[0].Secret != secret || !strings.HasPrefix(secret, "whsec_") || len(hooks[0].Events) != 4 {
		t.Fatalf("webhook %+v, secret shown %q (%v)", hooks, secret, err)
	}
	p.screenshot("2-secret")

	w.book(t, localAt(t, ts.srv.clock(), 4, 10, 0), w.visit, "", "")
	p.navigate(ts.URL + page)
	if got := p.text("table.log tbody"); !strings.Contains(got, ts.text(t, "fr", "notices.event.created")) || !strings.Contains(got, ts.text(t, "fr", "notices.state.queued")) {
		t.Errorf("delivery log shows %q", got)
	}
	if html, _ := chromedp.Run(p.step(), chromedp.Evaluate[string](`document.body.innerHTML`)); strings.Contains(html, secret) {
		t.Error("the secret is shown again")
	}
	p.screenshot("3-log")
}
