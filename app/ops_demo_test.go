package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"daraport/store"
)

// TestDemoFill seeds the demo in German: two practitioners with hours,
// visit types and a week of appointments, a secretary, patients, and a
// teleconsultation whose video room is open now.
func TestDemoFill(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Brand.DefaultLanguage = "de" })
	ctx := context.Background()
	accounts, err := SeedDemo(ctx, ts.db, ts.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v, err := ts.srv.FillDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo filled in %s", time.Since(start).Round(time.Millisecond))
	now := ts.srv.clock()
	roles := map[string]int{}
	for _, a := range accounts {
		roles[a.Role]++
	}
	if roles[store.RolePractitioner] != 2 || roles[store.RoleSecretary] != 1 || roles[store.RolePatient] < 1 || roles[store.RoleAdmin] != 1 {
		t.Fatalf("accounts %v", roles)
	}
	for _, email := range []string{"dr.martin@demo.daraport.test", "dr.garcia@demo.daraport.test"} {
		u, err := ts.db.FindUserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := ts.db.Memberships(ctx, u.ID)
		var pid string
		for _, m := range ms {
			if m.Role == store.RolePractitioner {
				pid = m.PracticeID
			}
		}
		types, err := ts.db.FindTypes(ctx, pid, false)
		if err != nil || len(types) != 3 {
			t.Fatalf("%s: %d types, %v", email, len(types), err)
		}
		tele := false
		for _, typ := range types {
			tele = tele || typ.Teleconsultation
			if typ.Name == "Consultation" {
				t.Errorf("type names are not in the demo's language (de): %q", typ.Name)
			}
		}
		if !tele {
			t.Errorf("%s offers no teleconsultation", email)
		}
		week, err := ts.db.FindAppointments(ctx, store.AppointmentFilter{PracticeID: pid, From: now, To: now.Add(8 * 24 * time.Hour)})
		if err != nil || len(week) < 20 {
			t.Fatalf("%s: %d appointments in the coming week, %v", email, len(week), err)
		}
		days := map[string]bool{}
		for _, a := range week {
			days[a.Start.Format(time.DateOnly)] = true
		}
		if len(days) < 5 {
			t.Errorf("%s: appointments on %d days only", email, len(days))
		}
	}
	a, err := ts.db.FindAppointmentByID(ctx, v.AppointmentID)
	if err != nil {
		t.Fatal(err)
	}
	opens := a.Start.Add(-ts.cfg.Visit.OpenBefore.Duration)
	closes := a.End.Add(ts.cfg.Visit.CloseAfter.Duration)
	if now.Before(opens) || !now.Before(closes) || a.State != "booked" {
		t.Fatalf("teleconsultation %s–%s (%s): its room is not open at %s", a.Start, a.End, a.State, now)
	}
	if v.Patient != "patient@demo.daraport.test" || v.Pro != "dr.garcia@demo.daraport.test" {
		t.Fatalf("visit accounts %+v", v)
	}
	w := ts.srv.DemoWelcome(accounts, v)
	for _, want := range []string{"Daraport-Demo", "Behandler", "Passwort: " + demoPassword, "Videosprechstunde", v.Patient} {
		if !strings.Contains(w, want) {
			t.Errorf("welcome lacks %q:\n%s", want, w)
		}
	}
	again, err := ts.srv.FillDemo(ctx)
	if err != nil || again.AppointmentID != v.AppointmentID {
		t.Fatalf("second fill: %+v %v", again, err)
	}
}
