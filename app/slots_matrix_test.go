package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"daraport/store"
)

// slotsMatrix are the route × role rows of this capability.
func slotsMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		// The free-slot query is public: {slotsPractice} is a verified practice with a generated planning.
		{route: "GET /api/v1/practitioners/{id}/slots", perm: PermPublic, path: "/api/v1/practitioners/{slotsPractice}/slots?from={slotsFrom}&to={slotsTo}",
			want: "ok ok ok ok ok ok ok ok ok", check: checkSlotsAnswer},
		// The feed answers whoever holds its token ({feedToken}, of another
		// practice than A so the rows below, which replace A's, leave it be).
		{route: "GET /feed/{token}", perm: PermPublic, path: "/feed/{feedToken}.ics", want: "ok ok ok ok ok ok ok ok ok", check: checkFeedAnswer},
		{route: "GET /pro/p/{id}/feed", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/feed",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/feed", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/feed",
			want: "login notfound notfound ok notfound notfound notfound notfound ok", check: checkFeedCreated},
		{route: "POST /pro/p/{id}/feed/revoke", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/feed/revoke",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
	}
}

// slotsFixture adds the objects those rows need to f.ids: a third verified
// practice with weekday hours, a generated 14-day planning and a feed token.
func slotsFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	ctx := context.Background()
	pro := ts.addUser(t, "pro-c@example.org", "Cyd Practice", store.RolePractitioner, "")
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, pro.PracticeID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.HorizonDays, st.MinNoticeMinutes = 14, 0
		return tx.UpdateSettings(ctx, p.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	week := map[string][][2]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		week[d] = [][2]string{{"08:00", "20:00"}}
	}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.db.FindPracticeByID(ctx, pro.PracticeID)
	if err != nil {
		t.Fatal(err)
	}
	today := ts.srv.today(p, ts.srv.clock())
	if _, err := ts.srv.changeHours(ctx, p, today, spec, pro.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	token := "matrix-feed-token-" + store.NewID()
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.SetFeedTokenHash(ctx, p.ID, feedTokenHash(token))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ids["slotsPractice"] = p.ID
	f.ids["slotsFrom"] = today.AddDays(1).String()
	f.ids["slotsTo"] = today.AddDays(7).String()
	f.ids["feedToken"] = token
}

func checkSlotsAnswer(t *testing.T, f *matrixFixture, persona string, res response) {
	var list []apiSlot
	if err := json.Unmarshal([]byte(res.Body), &list); err != nil || len(list) != 7*48 {
		t.Errorf("slots as %s: %d starts (%v), want 7 days of 48", persona, len(list), err)
	}
}

func checkFeedAnswer(t *testing.T, f *matrixFixture, persona string, res response) {
	if ct := res.Header.Get("Content-Type"); ct != "text/calendar; charset=utf-8" || !strings.HasPrefix(res.Body, "BEGIN:VCALENDAR\r\n") {
		t.Errorf("feed as %s: Content-Type %q, body %.40q", persona, ct, res.Body)
	}
	// A wrong token is 404, whoever asks.
	c := f.ts.client(t)
	if persona != "anon" {
		c = f.clients[persona]
	}
	if got := f.ts.get(t, c, "/feed/"+f.ids["feedToken"]+"x.ics"); got.StatusCode != http.StatusNotFound {
		t.Errorf("wrong feed token as %s: status %d, want 404", persona, got.StatusCode)
	}
}

func checkFeedCreated(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode == http.StatusOK && !feedURLRe.MatchString(res.Body) {
		t.Errorf("feed creation as %s: the page does not show the new address", persona)
	}
}
