package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"daraport/app/schedule"
	"daraport/store"
)

var feedURLRe = regexp.MustCompile(`(http://[^"<\s]+/feed/[A-Za-z0-9_-]{43}\.ics)`)

// createFeed asks for a new feed address on the page and returns it.
func createFeed(t *testing.T, ts *testServer, c *http.Client, practiceID string) string {
	t.Helper()
	res := ts.post(t, c, "/pro/p/"+practiceID+"/feed", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create feed: status %d", res.StatusCode)
	}
	m := feedURLRe.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no feed address in the page:\n%s", mainOf(res.Body))
	}
	if !strings.Contains(res.Body, `href="webcal://`+strings.TrimPrefix(m[1], "http://")+`"`) {
		t.Errorf("no webcal:// link for %s", m[1])
	}
	return m[1]
}

// fetchFeed GETs a feed address (absolute, from the page) anonymously.
func fetchFeed(t *testing.T, ts *testServer, feedURL string) response {
	t.Helper()
	u, err := url.Parse(feedURL)
	if err != nil {
		t.Fatal(err)
	}
	return ts.get(t, ts.client(t), u.Path)
}

func decodeFeed(t *testing.T, body string) *ical.Calendar {
	t.Helper()
	cal, err := ical.NewDecoder(strings.NewReader(body)).Decode()
	if err != nil {
		t.Fatalf("the feed is not iCalendar: %v\n%s", err, body)
	}
	return cal
}

func TestFeedLifecycle(t *testing.T) {
	ts, p, pro := planningFixture(t)
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	loc := ts.srv.location(p.TimeZone)
	day := nextWorkday(ts.srv.today(p, ts.srv.clock()))
	typeID := addTypeRow(t, ts, p.ID, "Consultation", 30, 0, false)
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	start, _ := schedule.Local(day, 9*60+30, loc)
	const reason = "Persistent chest pain"
	appt := bookAt(t, ts, p, patient, typeID, reason, start, start.Add(30*time.Minute))
	// A cancelled appointment stays out of the feed.
	later, _ := schedule.Local(day, 14*60, loc)
	gone := bookAt(t, ts, p, patient, typeID, "", later, later.Add(30*time.Minute))
	blockStart, _ := schedule.Local(day.AddDays(1), 0, loc)
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE appointments SET state = 'cancelled' WHERE id = ?", gone.ID); err != nil {
			return err
		}
		_, err := tx.CreateBlock(ctx, &store.Block{PracticeID: p.ID, Start: blockStart, End: blockStart.Add(24 * time.Hour), Reason: "Congress"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "") // past the first-run gate
	c := ts.clientLang(t, "en")
	ts.login(t, c, pro)
	page := ts.get(t, c, "/pro/p/"+p.ID+"/feed")
	if page.StatusCode != http.StatusOK || !pageHas(page.Body, ts.text(t, "en", "feed.inactive")) || feedURLRe.MatchString(page.Body) {
		t.Fatalf("page before creation: status %d", page.StatusCode)
	}

	feed := createFeed(t, ts, c, p.ID)
	if !strings.HasPrefix(feed, ts.cfg.Server.BaseURL+"/feed/") {
		t.Fatalf("feed address %s is not built from server.base_url", feed)
	}
	// The address is shown once: the page does not show it again, and the
	// database holds only its hash.
	page = ts.get(t, c, "/pro/p/"+p.ID+"/feed")
	token := strings.TrimSuffix(feed[strings.LastIndex(feed, "/")+1:], ".ics")
	if strings.Contains(page.Body, token) || !pageHas(page.Body, ts.text(t, "en", "feed.active")) {
		t.Fatal("the page shows the address again, or does not say it is active")
	}
	if n := ts.rows(t, "practices", "feed_token_hash = ?", feedTokenHash(token)); n != 1 {
		t.Fatalf("%d practices hold the token's hash", n)
	}
	if n := ts.rows(t, "practices", "feed_token_hash = ?", token); n != 0 {
		t.Fatal("the token itself is stored")
	}

	res := fetchFeed(t, ts, feed)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("feed: status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/calendar; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if strings.Contains(res.Body, reason) || strings.Contains(res.Body, "chest") {
		t.Fatal("the feed shows the appointment's reason")
	}
	cal := decodeFeed(t, res.Body)
	for prop, want := range map[string]string{ical.PropVersion: "2.0", "X-WR-CALNAME": p.Name} {
		if got, _ := cal.Props.Text(prop); got != want {
			t.Errorf("%s = %q, want %q", prop, got, want)
		}
	}
	if pid, _ := cal.Props.Text(ical.PropProductID); pid == "" {
		t.Error("no PRODID")
	}
	events := map[string]ical.Event{}
	for _, ev := range cal.Events() {
		uid, _ := ev.Props.Text(ical.PropUID)
		events[uid] = ev
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want the appointment and the absence", len(events))
	}
	ev, found := events[appt.ID+"@daraport"]
	if !found {
		t.Fatalf("no event with UID %s@daraport", appt.ID)
	}
	if got, err := ev.DateTimeStart(time.UTC); err != nil || !got.Equal(appt.Start) {
		t.Errorf("DTSTART %v (%v), want %v", got, err, appt.Start)
	}
	if got, err := ev.DateTimeEnd(time.UTC); err != nil || !got.Equal(appt.End) {
		t.Errorf("DTEND %v (%v), want %v", got, err, appt.End)
	}
	if v := ev.Props.Get(ical.PropDateTimeStart).Value; !strings.HasSuffix(v, "Z") {
		t.Errorf("DTSTART %q is not in UTC", v)
	}
	summary, _ := ev.Props.Text(ical.PropSummary)
	if summary != "Consultation — Pat Patient" {
		t.Errorf("SUMMARY %q", summary)
	}
	if st, _ := ev.Status(); st != ical.EventConfirmed {
		t.Errorf("STATUS %q", st)
	}
	if ev.Props.Get(ical.PropDateTimeStamp) == nil {
		t.Error("no DTSTAMP")
	}
	var block ical.Event
	for uid, e := range events {
		if uid != appt.ID+"@daraport" {
			block = e
		}
	}
	if s, _ := block.Props.Text(ical.PropSummary); s != "Absence — Congress" {
		t.Errorf("absence SUMMARY %q", s)
	}
	if tr, _ := block.Props.Text(ical.PropTransparency); tr != "OPAQUE" {
		t.Errorf("absence TRANSP %q", tr)
	}

	// Replacing the address: the old one is 404 at once, the new one works.
	feed2 := createFeed(t, ts, c, p.ID)
	if feed2 == feed {
		t.Fatal("the address did not change")
	}
	if res := fetchFeed(t, ts, feed); res.StatusCode != http.StatusNotFound {
		t.Fatalf("old address after replacement: status %d", res.StatusCode)
	}
	if res := fetchFeed(t, ts, feed2); res.StatusCode != http.StatusOK {
		t.Fatalf("new address: status %d", res.StatusCode)
	}

	// Revoking: 404, like any unknown address.
	res = ts.post(t, c, "/pro/p/"+p.ID+"/feed/revoke", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: status %d", res.StatusCode)
	}
	page = ts.get(t, c, res.Header.Get("Location"))
	if !pageHas(page.Body, ts.text(t, "en", "flash.feed_revoked")) || !pageHas(page.Body, ts.text(t, "en", "feed.inactive")) {
		t.Fatal("the page does not say the address was revoked")
	}
	revoked := fetchFeed(t, ts, feed2)
	unknown := ts.get(t, ts.client(t), "/feed/"+strings.Repeat("A", 43)+".ics")
	if revoked.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound || revoked.Body != unknown.Body {
		t.Fatalf("revoked %d and unknown %d addresses differ:\n%s\n%s", revoked.StatusCode, unknown.StatusCode, revoked.Body, unknown.Body)
	}
	if res := ts.get(t, ts.client(t), strings.TrimSuffix(strings.TrimPrefix(feed2, ts.URL), ".ics")); res.StatusCode != http.StatusNotFound {
		t.Fatalf("address without .ics: status %d", res.StatusCode)
	}

	// Every change is audited, never with the token.
	for action, n := range map[string]int{"feed.created": 1, "feed.replaced": 1, "feed.revoked": 1} {
		if got := ts.rows(t, "audit", "action = ? AND object_id = ?", action, p.ID); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}
	if n := ts.rows(t, "audit", "detail LIKE ?", "%"+token+"%"); n != 0 {
		t.Error("the audit log holds a token")
	}
}

func TestFeedEmptyAndRateLimited(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	pro := ts.addUser(t, "pro@example.org", "Paula Pro", store.RolePractitioner, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, pro)
	feed := createFeed(t, ts, c, pro.PracticeID)
	// No planning, no appointment: still a valid calendar.
	res := fetchFeed(t, ts, feed)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("empty feed: status %d", res.StatusCode)
	}
	if cal := decodeFeed(t, res.Body); len(cal.Children) != 0 {
		t.Fatalf("%d components in an empty feed", len(cal.Children))
	}
	// One address cannot be hammered.
	limited := 0
	for i := 0; i < 40; i++ {
		if fetchFeed(t, ts, feed).StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("40 requests in a row were never limited")
	}
}

func TestFeedFoldsLongLines(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("Consultation approfondie — é ", 8)
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, "-//Test//EN")
	cal.Props.SetText(ical.PropVersion, "2.0")
	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, "x@daraport")
	ev.Props.SetDateTime(ical.PropDateTimeStamp, time.Unix(0, 0).UTC())
	ev.Props.SetText(ical.PropSummary, name)
	cal.Children = append(cal.Children, ev.Component)
	out, err := encodeCalendar(cal)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 75 || !utf8.ValidString(l) {
			t.Fatalf("line of %d octets (valid UTF-8: %v): %q", len(l), utf8.ValidString(l), l)
		}
	}
	back := decodeFeed(t, string(out))
	if got, _ := back.Events()[0].Props.Text(ical.PropSummary); got != name {
		t.Fatalf("SUMMARY after folding %q", got)
	}
}
