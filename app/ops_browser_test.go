package app

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"daraport/store"
)

// TestBrowserSystemPage signs in as the admin in Chromium, opens the system
// page, backs up from it and checks (and photographs) the result: a page
// without console, CSP or catalogue problems, on a phone-sized screen.
func TestBrowserSystemPage(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	browserCtx := startBrowser(t, exe, 390, 844)
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	if err := ts.srv.roll(context.Background(), ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	admin := newParticipant(t, browserCtx, "admin", "en", shots)
	defer admin.close()
	admin.navigate(ts.URL + "/login")
	admin.do("fill the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
	)
	admin.submit("admin sign-in", chromedp.Click(chromedp.ID("login-submit")))
	admin.navigate(ts.URL + "/admin/system")
	if got := admin.text("#last-backup"); !strings.Contains(got, ts.text(t, "en", "ops.system.no_backup")) {
		t.Fatalf("before any backup: %q", got)
	}
	admin.screenshot("system-before")
	admin.submit("back up now", chromedp.Click(chromedp.CSS(`form[action="/admin/system/backup"] button`)))
	admin.expectPath("/admin/system")
	got := admin.text("#last-backup")
	if strings.Contains(got, ts.text(t, "en", "ops.system.no_backup")) || !strings.Contains(got, "KiB") {
		t.Fatalf("after a backup: %q", got)
	}
	if sys := admin.text("#system"); !strings.Contains(sys, ts.text(t, "en", "ops.system.tls_off")) {
		t.Fatalf("system page: %q", sys)
	}
	admin.screenshot("system-after")
}
