package app

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"daraport/store"
)

// hoursMatrix are the route × role rows of this capability. Generation runs
// once per practice, so its rows act on throw-away practices only the admin
// may manage; the hours form saves a version far in the future, which
// leaves practice A's planning as it is.
func hoursMatrix() []matrixRow {
	later := time.Now().AddDate(1, 6, 0).Format("2006-01-02")
	form := url.Values{"from": {later}, "h.main.mon.0.from": {"09:00"}, "h.main.mon.0.to": {"12:00"},
		"h.main.mon.1.from": {"14:00"}, "h.main.mon.1.to": {"18:00"}}
	return []matrixRow{
		//                                                                                                        anon  patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /pro/p/{id}/hours", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/hours", want: "login notfound notfound ok notfound notfound notfound notfound ok", check: checkHoursPage},
		{route: "POST /pro/p/{id}/hours", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/hours", form: form,
			want: "login notfound notfound ok notfound notfound notfound notfound ok", check: checkHoursSaved},
		{route: "GET /pro/p/{id}/planning", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/planning", want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "POST /pro/p/{id}/planning/generate", perm: PermPracticeAdmin, path: "/pro/p/{hoursGenPage}/planning/generate",
			want: "login notfound notfound notfound notfound notfound notfound notfound ok"},
		{route: "GET /pro/p/{id}/planning/runs/{run}", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/planning/runs/{hoursRun}",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		{route: "GET /admin/planning", perm: PermAdmin, path: "/admin/planning", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "POST /admin/planning/roll", perm: PermAdmin, path: "/admin/planning/roll", want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /api/v1/practices/{id}/hours", perm: PermPracticeAdmin, path: "/api/v1/practices/{practiceA}/hours",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
		// An empty body is refused (400) once the guard lets the request in.
		{route: "PUT /api/v1/practices/{id}/hours", perm: PermPracticeAdmin, path: "/api/v1/practices/{practiceA}/hours",
			want: "login notfound notfound invalid notfound notfound notfound notfound invalid"},
		{route: "POST /api/v1/practices/{id}/planning/generate", perm: PermPracticeAdmin, path: "/api/v1/practices/{hoursGenAPI}/planning/generate",
			want: "login notfound notfound notfound notfound notfound notfound notfound ok"},
		{route: "GET /api/v1/practices/{id}/planning/runs/{run}", perm: PermPracticeAdmin, path: "/api/v1/practices/{practiceA}/planning/runs/{hoursRun}",
			want: "login notfound notfound ok notfound notfound notfound notfound ok"},
	}
}

func checkHoursPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode == 200 && !strings.Contains(res.Body, `name="h.main.mon.0.from"`) {
		t.Errorf("hours page as %s: no hours table", persona)
	}
}

func checkHoursSaved(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode == 200 && !pageHas(res.Body, f.ts.text(t, "en", "hours_result.heading")) {
		t.Errorf("hours form as %s: no result page", persona)
	}
}

// hoursFixture adds the objects those rows need to f.ids: two throw-away
// practices with hours (one generated through the page, one through the
// API) and a finished run of practice A.
func hoursFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	ctx := context.Background()
	week := map[string][][2]string{"mon": {{"09:00", "12:00"}}, "tue": {{"09:00", "12:00"}}}
	spec, err := parseSpec(hoursSpec{"": week})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hoursGenPage", "hoursGenAPI"} {
		p := &store.Practice{Name: "Cabinet " + name, TimeZone: "Europe/Paris", Status: store.PracticePending}
		if err := ts.db.Update(ctx, func(tx *store.Tx) error { return tx.CreatePractice(ctx, p) }); err != nil {
			t.Fatal(err)
		}
		p = mustPractice(t, ts, p.ID)
		if _, err := ts.srv.changeHours(ctx, p, ts.srv.today(p, ts.srv.clock()), spec, f.users["admin"].ID); err != nil {
			t.Fatal(err)
		}
		f.ids[name] = p.ID
	}
	run := &store.PlanningRun{Kind: "initial", PracticeID: f.ids["practiceA"]}
	if err := ts.db.StartRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	run.State, run.Progress, run.Detail = "failed", 100, "refused: no hours"
	if err := ts.db.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	f.ids["hoursRun"] = run.ID
}
