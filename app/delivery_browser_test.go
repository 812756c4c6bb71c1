package app

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"daraport/store"
)

// TestBrowserDeliveryAdmin: the admin, on a phone-sized screen, sees a
// failed message with its error, retries it, and sends a test e-mail.
func TestBrowserDeliveryAdmin(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	k := newSMTPSink(t, func(k *smtpSink) { k.keep = true })
	ts := newTestServer(t, useSink(k))
	adminUser := ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	failed := ts.enqueueMail(t, &store.OutboxMessage{To: "Ann Example <ann@example.org>", Subject: "Votre rendez-vous est confirmé", TextBody: "x", State: store.OutboxHeld})
	if _, err := ts.db.ClaimOutboxByID(t.Context(), failed.ID, deliveryLease); err != nil {
		t.Fatal(err)
	}
	if err := ts.db.Update(t.Context(), func(tx *store.Tx) error {
		return tx.RecordOutboxAttempt(t.Context(), failed.ID, store.OutboxResult{State: store.OutboxFailed, Error: "rcpt: SMTP error 550: 5.1.1 mailbox unavailable"})
	}); err != nil {
		t.Fatal(err)
	}
	ts.enqueueMail(t, &store.OutboxMessage{To: "bob@example.org", Subject: "Rappel", TextBody: "y"})
	ts.runWorker(t)

	browser := startBrowser(t, exe, 390, 844)
	admin := newParticipant(t, browser, "admin", "en", shots)
	defer admin.close()
	admin.navigate(ts.URL + "/login")
	admin.do("fill in the sign-in form", chromedp.SendKeys(chromedp.ID("email"), adminUser.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	admin.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	admin.navigate(ts.URL + "/admin/outbox")
	if got := admin.text(".panel.bad p"); !strings.Contains(got, "1") {
		t.Errorf("failed banner %q", got)
	}
	admin.screenshot("delivery-outbox")
	admin.submit("retry now", chromedp.Click(chromedp.CSS(`form[action="/admin/outbox/`+failed.ID+`/retry"] button`)))
	admin.expectFlash(ts.text(t, "en", "flash.delivery_retried"))
	ts.waitState(t, failed.ID, store.OutboxSent)
	admin.navigate(ts.URL + "/admin/outbox")
	admin.do("open the test e-mail form", chromedp.Click(chromedp.CSS("#delivery-test summary")))
	admin.screenshot("delivery-test-form")
	admin.submit("send a test e-mail", chromedp.Click(chromedp.CSS(`#delivery-test button[type=submit]`)))
	if got := admin.text("#test-result"); got != ts.text(t, "en", "delivery.test.ok", "To", "admin@example.org") {
		t.Errorf("test e-mail result %q", got)
	}
	admin.screenshot("delivery-test-result")
	if n := k.count.Load(); n != 3 {
		t.Errorf("%d messages accepted, want 3", n)
	}
	t.Logf("screenshots in %s", shots)
}
