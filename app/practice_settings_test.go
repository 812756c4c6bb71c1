package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// settingsEnv is a server with a signed-in practitioner (verified
// practice), their API token, and the page path base.
type settingsEnv struct {
	ts    *testServer
	pro   *testUser
	c     *http.Client
	token string
	base  string
}

func newSettingsEnv(t *testing.T) *settingsEnv {
	t.Helper()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "") // the first-run setup is done
	pro := ts.addUser(t, "pro@example.org", "Dr Alice Martin", store.RolePractitioner, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, pro)
	return &settingsEnv{ts: ts, pro: pro, c: c, token: ts.token(t, pro), base: "/pro/p/" + pro.PracticeID}
}

// settingsValidForm is a complete, valid settings form.
func settingsValidForm() url.Values {
	return url.Values{
		"name": {"Cabinet du Dr Martin"}, "time_zone": {"Europe/Paris"},
		"specialties":   {"Cardiologue\r\nÉchographie cardiaque\r\n\r\n"},
		"diplomas":      {"DES de cardiologie\nDIU d'échographie"},
		"payment_means": {"card", "cash"}, "payment_other": {"Lydia"},
		"transport": {"Bus 12, arrêt Garibaldi"}, "access": {"lift", "ground_floor"}, "languages": {"en", "fr"},
		"horizon_days": {"180"}, "visit_types": {"Consultations & échographies <adultes>"}, "convention_sector": {"2"},
		"vitale": {"yes"}, "patient_can_cancel": {"yes"}, "cancel_cutoff_hours": {"48"}, "slot_minutes": {"20"},
		"min_notice_minutes": {"120"}, "max_future_per_patient": {"0"},
		"address": {"12 rue de la République"}, "postal_code": {"06000"}, "city": {"Nice"}, "country": {"FR"},
		"secretary_phone": {"+33 4 93 00 00 00"}, "booking_mode": {"allowlist"}, "reason_mode": {"table"},
	}
}

func TestSettingsPageRoundTrip(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	ctx := context.Background()

	view := ts.get(t, e.c, e.base+"/settings")
	if view.StatusCode != http.StatusOK {
		t.Fatalf("view: %d", view.StatusCode)
	}
	if m := mainOf(view.Body); strings.Contains(m, "<form") || strings.Contains(m, "<input") || strings.Contains(m, "<button") {
		t.Fatal("the read-only view holds a form control")
	}
	if !strings.Contains(view.Body, `href="`+e.base+`/settings/edit"`) {
		t.Fatal("the view has no Edit link")
	}
	edit := ts.get(t, e.c, e.base+"/settings/edit")
	if edit.StatusCode != http.StatusOK || !strings.Contains(edit.Body, `action="`+e.base+`/settings"`) {
		t.Fatalf("edit: %d, no form posting to the settings", edit.StatusCode)
	}

	res := ts.post(t, e.c, e.base+"/settings", settingsValidForm())
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != e.base+"/settings" {
		t.Fatalf("save: %d %q: %s", res.StatusCode, res.Header.Get("Location"), mainOf(res.Body))
	}
	p := mustPractice(t, ts, e.pro.PracticeID)
	want := store.Settings{Specialties: []string{"Cardiologue", "Échographie cardiaque"}, Diplomas: []string{"DES de cardiologie", "DIU d'échographie"},
		PaymentMeans: []string{"cash", "card", "Lydia"}, Transport: []string{"Bus 12, arrêt Garibaldi"}, Access: []string{"ground_floor", "lift"},
		Languages: []string{"fr", "en"}, VisitTypes: "Consultations & échographies <adultes>", ConventionSector: "2", Vitale: true,
		PatientCanCancel: true, CancelCutoffHours: 48, SlotMinutes: 20, HorizonDays: 180, MinNoticeMinutes: 120, MaxFuturePerPatient: 0,
		Address: "12 rue de la République", PostalCode: "06000", City: "Nice", Country: "FR", SecretaryPhone: "+33 4 93 00 00 00",
		BookingMode: "allowlist", ReasonMode: "table"}
	if !reflect.DeepEqual(p.Settings, want) || p.Name != "Cabinet du Dr Martin" || p.TimeZone != "Europe/Paris" {
		t.Fatalf("stored %+v %q", p.Settings, p.Name)
	}
	audit, err := ts.db.FindAudit(ctx, store.AuditFilter{Action: "practice.settings_updated"})
	if err != nil || len(audit) != 1 || !strings.Contains(audit[0].Detail, "slot_minutes") {
		t.Fatalf("audit %v %+v", err, audit)
	}

	// The view shows it all, escaped, with the map link and the flash.
	view = ts.get(t, e.c, e.base+"/settings")
	body := view.Body
	for _, s := range []string{ts.text(t, "en", "flash.settings_saved"), "Cardiologue", ts.text(t, "en", "settings.main_function"), "DIU d'échographie",
		"Cash, Bank card, Lydia", "Ground floor, Lift", "French, English", "Sector 2", "20 min", "180 days", "2 h", "No limit",
		"Yes, until 48 h before the appointment", ts.text(t, "en", "settings.booking.allowlist"), "Consultations & échographies <adultes>"} {
		if !pageHas(body, s) {
			t.Errorf("the view lacks %q", s)
		}
	}
	if strings.Contains(body, "<adultes>") {
		t.Error("the visit types are not escaped")
	}
	mapURL := "https://www.openstreetmap.org/search?query=" + url.QueryEscape("12 rue de la République, 06000 Nice, France")
	if !strings.Contains(settingsHTML(body), `<a href="`+mapURL+`" rel="noopener noreferrer">`) {
		t.Errorf("no map link %s in %s", mapURL, regexp.MustCompile(`<a href="https://www.openstreetmap[^>]*>`).FindString(body))
	}
	if !strings.Contains(body, `href="tel:&#43;33493000000"`) && !strings.Contains(body, `href="tel:+33493000000"`) {
		t.Error("no phone link")
	}
	if strings.Contains(mainOf(body), "<form") {
		t.Error("the view holds a form after a save")
	}

	// The edit form shows the stored values back.
	edit = ts.get(t, e.c, e.base+"/settings/edit")
	for _, s := range []string{`value="allowlist" checked`, `value="lift" checked`, `value="2" selected`, `value="20"`, "Cardiologue\nÉchographie cardiaque</textarea>"} {
		if !strings.Contains(settingsHTML(edit.Body), s) {
			t.Errorf("the form lacks %q", s)
		}
	}

	// Saving the same values again writes nothing new.
	ts.post(t, e.c, e.base+"/settings", settingsValidForm())
	if n := ts.rows(t, "audit", "action = 'practice.settings_updated'"); n != 1 {
		t.Errorf("an unchanged save was audited (%d entries)", n)
	}
}

// settingsHTML unescapes the entities html/template writes, for substring checks.
func settingsHTML(s string) string { return htmlUnescape(strings.ReplaceAll(s, "&#xA;", "\n")) }

func TestSettingsAPI(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	path := "/api/v1/practices/" + e.pro.PracticeID + "/settings"
	get := func() map[string]any {
		t.Helper()
		res := ts.api(t, "GET", path, e.token, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d %s", res.StatusCode, res.Body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(res.Body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := get()
	for _, k := range []string{"time_zone", "slot_minutes", "horizon_days", "min_notice_minutes", "booking_mode", "reason_mode",
		"patient_can_cancel", "cancel_cutoff_hours", "max_future_per_patient", "name", "specialties", "diplomas", "payment_means",
		"transport", "access", "languages", "visit_types", "convention_sector", "vitale", "address", "postal_code", "city", "country",
		"secretary_phone", "photo_url"} {
		if _, ok := before[k]; !ok {
			t.Errorf("GET lacks %q", k)
		}
	}
	if before["min_notice_minutes"] != 60.0 || before["max_future_per_patient"] != 3.0 || before["horizon_days"] != 90.0 {
		t.Errorf("defaults: %v", before)
	}

	// A partial update keeps every other field.
	res := ts.api(t, "PUT", path, e.token, strings.NewReader(`{"horizon_days":180,"specialties":["Pédiatre"," Allergologie "],"vitale":true}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.StatusCode, res.Body)
	}
	after := get()
	for k, v := range before {
		switch k {
		case "horizon_days", "specialties", "vitale", "planned_until":
		default:
			if !reflect.DeepEqual(after[k], v) {
				t.Errorf("%s changed from %v to %v", k, v, after[k])
			}
		}
	}
	if after["horizon_days"] != 180.0 || after["vitale"] != true || !reflect.DeepEqual(after["specialties"], []any{"Pédiatre", "Allergologie"}) {
		t.Fatalf("after PUT: %v", after)
	}
	// What GET answers can be sent back as it is.
	back, _ := json.Marshal(after)
	if res := ts.api(t, "PUT", path, e.token, bytes.NewReader(back)); res.StatusCode != http.StatusOK {
		t.Fatalf("PUT of the GET answer: %d %s", res.StatusCode, res.Body)
	}

	p := mustPractice(t, ts, e.pro.PracticeID)
	for _, tc := range []struct {
		name, body string
		status     int
		field, msg string
	}{
		{"UnknownField", `{"slot_minutes":15,"colour":"red"}`, 400, "colour", "error.settings.unknown_field"},
		{"WrongType", `{"slot_minutes":"fifteen"}`, 400, "slot_minutes", "error.settings.json_type"},
		{"NotObject", `[1,2]`, 400, "", "error.settings.json"},
		{"Empty", ``, 400, "", "error.settings.json"},
		// Several bad fields: the first in the form's order is named.
		{"Invalid", `{"slot_minutes":7,"horizon_days":0}`, 422, "horizon_days", "error.settings.horizon_days"},
		{"BadAccess", `{"access":["ground_floor","trampoline"]}`, 422, "access", "error.settings.access"},
		{"BadLanguage", `{"languages":["xx"]}`, 422, "languages", "error.settings.languages"},
		{"BadCountry", `{"country":"ZZ"}`, 422, "country", "error.settings.country"},
		{"TooManyLines", `{"diplomas":[` + settingsLines(21) + `]}`, 422, "diplomas", "error.settings.lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.api(t, "PUT", path, e.token, strings.NewReader(tc.body))
			if res.StatusCode != tc.status {
				t.Fatalf("%d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			var out struct {
				Error struct{ Code, Message, Field string }
			}
			json.Unmarshal([]byte(res.Body), &out)
			args := []any{}
			if tc.msg == "error.settings.unknown_field" || tc.msg == "error.settings.json_type" {
				args = []any{"Field", tc.field}
			}
			if tc.msg == "error.settings.lines" {
				args = []any{"Max", 20, "Length", 100}
			}
			if out.Error.Field != tc.field || out.Error.Message != ts.text(t, "en", tc.msg, args...) {
				t.Fatalf("error %+v", out.Error)
			}
			if now := mustPractice(t, ts, p.ID); now.UpdatedAt != p.UpdatedAt || !reflect.DeepEqual(now.Settings, p.Settings) {
				t.Fatal("a refused PUT wrote something")
			}
		})
	}
}

func settingsLines(n int) string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, strconv.Quote(fmt.Sprintf("Diplôme %d", i)))
	}
	return strings.Join(l, ",")
}

// TestSettingsBadInput sends every bad value of the issue through the page
// and the API: each gets its clear message and nothing is written.
func TestSettingsBadInput(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	p := mustPractice(t, ts, e.pro.PracticeID)
	long := strings.Repeat("é", 10_000)
	for _, tc := range []struct {
		name, field, value string
		json               string // the API body
		msg                string
		args               []any
	}{
		{"Slot0", "slot_minutes", "0", `{"slot_minutes":0}`, "error.settings.slot_minutes", nil},
		{"Slot7", "slot_minutes", "7", `{"slot_minutes":7}`, "error.settings.slot_minutes", nil},
		{"Slot1000", "slot_minutes", "1000", `{"slot_minutes":1000}`, "error.settings.slot_minutes", nil},
		{"SlotText", "slot_minutes", "quinze", "", "error.settings.slot_minutes", nil},
		{"Horizon0", "horizon_days", "0", `{"horizon_days":0}`, "error.settings.horizon_days", nil},
		{"Horizon10000", "horizon_days", "10000", `{"horizon_days":10000}`, "error.settings.horizon_days", nil},
		{"UnknownZone", "time_zone", "Mars/Olympus_Mons", `{"time_zone":"Mars/Olympus_Mons"}`, "error.time_zone", nil},
		{"LocalZone", "time_zone", "Local", `{"time_zone":"Local"}`, "error.time_zone", nil},
		{"PathZone", "time_zone", "../../etc/passwd", `{"time_zone":"../../etc/passwd"}`, "error.time_zone", nil},
		{"BookingMode", "booking_mode", "everyone", `{"booking_mode":"everyone"}`, "error.settings.booking_mode", nil},
		{"ReasonMode", "reason_mode", "guess", `{"reason_mode":"guess"}`, "error.settings.reason_mode", nil},
		{"PhoneGarbage", "secretary_phone", "call me maybe", `{"secretary_phone":"call me maybe"}`, "error.settings.secretary_phone", nil},
		{"PhoneShort", "secretary_phone", "+33 12", `{"secretary_phone":"+33 12"}`, "error.settings.secretary_phone", nil},
		{"PhoneLong", "secretary_phone", "+33 1234567890 1234567890", `{"secretary_phone":"+33 1234567890 1234567890"}`, "error.settings.secretary_phone", nil},
		{"VisitTypes10000", "visit_types", long, `{"visit_types":"` + long + `"}`, "error.settings.visit_types", []any{"Max", 2000}},
		{"Cutoff", "cancel_cutoff_hours", "721", `{"cancel_cutoff_hours":721}`, "error.settings.cancel_cutoff_hours", nil},
		{"Notice", "min_notice_minutes", "-1", `{"min_notice_minutes":10081}`, "error.settings.min_notice_minutes", nil},
		{"MaxFuture", "max_future_per_patient", "1001", `{"max_future_per_patient":1001}`, "error.settings.max_future_per_patient", nil},
		{"Sector", "convention_sector", "4", `{"convention_sector":"4"}`, "error.settings.convention_sector", nil},
		{"NoName", "name", "  ", `{"name":""}`, "error.settings.name", nil},
		{"Postal", "postal_code", "<script>", `{"postal_code":"<script>"}`, "error.postal_code", nil},
		{"Vitale", "vitale", "maybe", "", "error.settings.yes_no", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ts.text(t, "en", tc.msg, tc.args...)
			form := settingsValidForm()
			form.Set(tc.field, tc.value)
			res := ts.post(t, e.c, e.base+"/settings", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("page: %d, want 422", res.StatusCode)
			}
			if !pageHas(res.Body, want) || !pageHas(res.Body, ts.text(t, "en", "settings.refused")) {
				t.Fatalf("page lacks %q", want)
			}
			// The submitted value is shown again (escaped).
			if radio := tc.field == "vitale" || strings.HasSuffix(tc.field, "_mode"); !radio && !strings.Contains(settingsHTML(res.Body), tc.value) {
				t.Errorf("the refused value %.30q is not shown back", tc.value)
			}
			if tc.json != "" {
				res = ts.api(t, "PUT", "/api/v1/practices/"+p.ID+"/settings", e.token, strings.NewReader(tc.json))
				var out struct {
					Error struct{ Code, Message, Field string }
				}
				json.Unmarshal([]byte(res.Body), &out)
				if res.StatusCode != http.StatusUnprocessableEntity || out.Error.Code != "invalid" || out.Error.Field != tc.field || out.Error.Message != want {
					t.Fatalf("API: %d %s", res.StatusCode, res.Body)
				}
			}
			now := mustPractice(t, ts, p.ID)
			if now.UpdatedAt != p.UpdatedAt || !reflect.DeepEqual(now.Settings, p.Settings) || now.Name != p.Name || now.TimeZone != p.TimeZone {
				t.Fatal("a refused save wrote something")
			}
		})
	}
	if n := ts.rows(t, "audit", "action = 'practice.settings_updated'"); n != 0 {
		t.Fatalf("%d audit entries for refused saves", n)
	}
}

func TestSettingsSlotRefusedByTypes(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO appointment_types (id, practice_id, name, minutes, created_at, updated_at) VALUES
			('t20', ?, 'Suivi', 20, 0, 0), ('t60', ?, 'Première consultation', 60, 0, 0), ('t25', ?, 'Ancien', 25, 0, 0)`,
			e.pro.PracticeID, e.pro.PracticeID, e.pro.PracticeID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE appointment_types SET archived_at = 1 WHERE id = 't25'") // archived: ignored
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ts.text(t, "en", "error.settings.slot_types", "Minutes", 15, "Types", "Suivi (20 min)")
	// 15 minutes was the length already: only a change is checked.
	form := settingsValidForm()
	form.Set("slot_minutes", "15")
	if res := ts.post(t, e.c, e.base+"/settings", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("unchanged length refused: %d", res.StatusCode)
	}
	form.Set("slot_minutes", "20")
	if res := ts.post(t, e.c, e.base+"/settings", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("20 refused: %d %s", res.StatusCode, mainOf(res.Body))
	}
	p := mustPractice(t, ts, e.pro.PracticeID)
	form.Set("slot_minutes", "15")
	res := ts.post(t, e.c, e.base+"/settings", form)
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, want) {
		t.Fatalf("15 with a 20-minute type: %d; want the message %q", res.StatusCode, want)
	}
	res = ts.api(t, "PUT", "/api/v1/practices/"+p.ID+"/settings", e.token, strings.NewReader(`{"slot_minutes":15}`))
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `"field":"slot_minutes"`) || !strings.Contains(res.Body, "Suivi (20 min)") {
		t.Fatalf("API: %d %s", res.StatusCode, res.Body)
	}
	if now := mustPractice(t, ts, p.ID); now.SlotMinutes != 20 || now.UpdatedAt != p.UpdatedAt {
		t.Fatal("the refused length was written")
	}
	// 10 divides both 20 and 60.
	if res := ts.api(t, "PUT", "/api/v1/practices/"+p.ID+"/settings", e.token, strings.NewReader(`{"slot_minutes":10}`)); res.StatusCode != http.StatusOK {
		t.Fatalf("10: %d %s", res.StatusCode, res.Body)
	}
}

// settingsBookAt books the n slots starting at start for patient and returns the
// appointment.
func settingsBookAt(t *testing.T, ts *testServer, p *store.Practice, patient *testUser, start time.Time, n int) *store.Appointment {
	t.Helper()
	ctx := context.Background()
	slots, err := ts.db.FindSlots(ctx, p.ID, start, start.Add(time.Duration(n*p.SlotMinutes)*time.Minute))
	if err != nil || len(slots) != n {
		t.Fatalf("%d slots at %v: %v", len(slots), start, err)
	}
	var ids []string
	for _, s := range slots {
		ids = append(ids, s.ID)
	}
	a := &store.Appointment{PracticeID: p.ID, PatientID: patient.ID, TypeID: "t-" + p.ID, Start: slots[0].Start, End: slots[n-1].End}
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := ensureType(ctx, tx, p.ID); err != nil {
			return err
		}
		if err := tx.CreateAppointment(ctx, a); err != nil {
			return err
		}
		return tx.BookSlots(ctx, p.ID, a.ID, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// settingsNextWorkday returns the first Monday–Friday day after day.
func settingsNextWorkday(day schedule.Day) schedule.Day {
	for i := 1; ; i++ {
		if wd := day.AddDays(i).Weekday(); wd != time.Saturday && wd != time.Sunday {
			return day.AddDays(i)
		}
	}
}

func TestSettingsSlotChangeRebuildsPlanning(t *testing.T) {
	t.Parallel()
	ts, p, pro := planningFixture(t) // 15 min, 09–12 and 14–17 on weekdays, 14 days
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	p = mustPractice(t, ts, p.ID)
	loc := ts.srv.location(p.TimeZone)
	today := ts.srv.today(p, ts.srv.clock())
	tomorrow := today.AddDays(1)
	// A booking across the future 30-minute grid (09:15–09:45), and an
	// absence from 14:00 to 15:00 on the next working day.
	day := settingsNextWorkday(today)
	start, _ := schedule.Local(day, 9*60+15, loc)
	patient := ts.addUser(t, "pat@example.org", "Pat Patient", store.RolePatient, "")
	appt := settingsBookAt(t, ts, p, patient, start, 2)
	booked, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End)
	day2 := settingsNextWorkday(day)
	bStart, _ := schedule.Local(day2, 14*60, loc)
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateBlock(ctx, &store.Block{PracticeID: p.ID, Start: bStart, End: bStart.Add(time.Hour), Reason: "Réunion"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	todayBefore, _ := ts.db.FindSlots(ctx, p.ID, today.Start(loc), tomorrow.Start(loc))

	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	c := ts.clientLang(t, "en")
	ts.login(t, c, pro)
	form := settingsValidForm()
	form.Set("slot_minutes", "30")
	form.Set("horizon_days", "14")
	res := ts.post(t, c, "/pro/p/"+p.ID+"/settings", form)
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, ts.text(t, "en", "settings.rebuilt_title")) {
		t.Fatalf("save: %d: %s", res.StatusCode, mainOf(res.Body))
	}
	if !pageHas(res.Body, ts.text(t, "en", "settings.rebuilt_no_conflicts")) {
		t.Error("the result does not say whether appointments conflict")
	}

	// Today is untouched.
	todayAfter, _ := ts.db.FindSlots(ctx, p.ID, today.Start(loc), tomorrow.Start(loc))
	if !reflect.DeepEqual(todayBefore, todayAfter) {
		t.Error("today's slots changed")
	}
	// The booked slots are the same rows.
	if again, _ := ts.db.FindSlots(ctx, p.ID, appt.Start, appt.End); !reflect.DeepEqual(again, booked) {
		t.Fatalf("booked slots changed: %+v", again)
	}
	// From tomorrow: free slots are 30 minutes long, none overlaps another
	// slot, and their number is the new grid less the two cells (09:00 and
	// 09:30) the booking overlaps and the two the absence blocks.
	slots, _ := ts.db.FindSlots(ctx, p.ID, tomorrow.Start(loc), settingsPlannedUntil(t, p).AddDays(1).Start(loc))
	free, blocked := 0, 0
	for i, s := range slots {
		if i > 0 && s.Start.Before(slots[i-1].End) {
			t.Fatalf("slots overlap: %v–%v and %v–%v", slots[i-1].Start, slots[i-1].End, s.Start, s.End)
		}
		switch s.State {
		case store.SlotFree:
			free++
			if s.End.Sub(s.Start) != 30*time.Minute {
				t.Fatalf("free slot of %v after the change", s.End.Sub(s.Start))
			}
		case store.SlotBlocked:
			blocked++
			if s.End.Sub(s.Start) != 30*time.Minute {
				t.Fatalf("blocked slot of %v from the old grid", s.End.Sub(s.Start))
			}
		}
	}
	days := settingsPlannedUntil(t, p).Sub(tomorrow) + 1
	if want := workdays(tomorrow, days)*12 - 2 - 2; free != want || blocked != 2 {
		t.Fatalf("%d free and %d blocked slots from tomorrow, want %d and 2", free, blocked, want)
	}
	if n := ts.rows(t, "practice_hours", "practice_id = ?", p.ID); n < 1 {
		t.Fatal("hours lost")
	}
	// The API reports the rebuild too.
	tok := ts.token(t, pro)
	res = ts.api(t, "PUT", "/api/v1/practices/"+p.ID+"/settings", tok, strings.NewReader(`{"slot_minutes":15}`))
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"regenerated":{"from":"`+tomorrow.String()+`"`) {
		t.Fatalf("API rebuild: %d %s", res.StatusCode, res.Body)
	}
	counts, _ := ts.db.CountSlots(ctx, p.ID)
	if counts[store.SlotBooked] != 2 {
		t.Fatalf("booked slots %d after the second change", counts[store.SlotBooked])
	}
}

// settingsPlannedUntil parses the practice's planned_until.
func settingsPlannedUntil(t *testing.T, p *store.Practice) schedule.Day {
	t.Helper()
	d, err := schedule.ParseDay(p.PlannedUntil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSettingsHorizonFollows(t *testing.T) {
	t.Parallel()
	ts, p, pro := planningFixture(t) // 14 days
	ctx := context.Background()
	if err := ts.srv.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
		t.Fatal(err)
	}
	tok := ts.token(t, pro)
	path := "/api/v1/practices/" + p.ID + "/settings"
	today := ts.srv.today(p, ts.srv.clock())
	if res := ts.api(t, "PUT", path, tok, strings.NewReader(`{"horizon_days":30}`)); res.StatusCode != http.StatusOK {
		t.Fatal(res.Body)
	}
	if got := mustPractice(t, ts, p.ID).PlannedUntil; got != today.AddDays(29).String() {
		t.Fatalf("longer horizon: planned until %s", got)
	}
	if res := ts.api(t, "PUT", path, tok, strings.NewReader(`{"horizon_days":7}`)); res.StatusCode != http.StatusOK {
		t.Fatal(res.Body)
	}
	p = mustPractice(t, ts, p.ID)
	loc := ts.srv.location(p.TimeZone)
	if p.PlannedUntil != today.AddDays(6).String() {
		t.Fatalf("shorter horizon: planned until %s", p.PlannedUntil)
	}
	if beyond, _ := ts.db.FindSlots(ctx, p.ID, today.AddDays(7).Start(loc), today.AddDays(60).Start(loc)); len(beyond) != 0 {
		t.Fatalf("%d slots beyond the horizon", len(beyond))
	}
}

func TestSettingsLocations(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	ctx := context.Background()
	res := ts.post(t, e.c, e.base+"/locations", url.Values{"loc_name": {"Hôpital Pasteur"}, "loc_kind": {"hospital"},
		"loc_address": {"30 voie Romaine"}, "loc_postal_code": {"06000"}, "loc_city": {"Nice"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", res.StatusCode, mainOf(res.Body))
	}
	locs, _ := ts.db.Locations(ctx, e.pro.PracticeID)
	if len(locs) != 1 || locs[0].Name != "Hôpital Pasteur" || locs[0].Kind != "hospital" || locs[0].City != "Nice" {
		t.Fatalf("locations %+v", locs)
	}
	id := locs[0].ID
	// Bad input: clear messages, the typed values shown back, nothing written.
	res = ts.post(t, e.c, e.base+"/locations", url.Values{"loc_id": {id}, "loc_name": {""}, "loc_kind": {"spaceship"}, "loc_city": {"Nice"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", "error.location.name")) ||
		!pageHas(res.Body, ts.text(t, "en", "error.location.kind")) {
		t.Fatalf("bad location: %d", res.StatusCode)
	}
	if again, _ := ts.db.Locations(ctx, e.pro.PracticeID); !reflect.DeepEqual(again, locs) {
		t.Fatal("a refused location form wrote something")
	}
	// Another practice's location id is not found.
	other := ts.addUser(t, "other@example.org", "Dr Other", store.RolePractitioner, "")
	var foreign string
	ts.db.Update(ctx, func(tx *store.Tx) error {
		l := &store.Location{PracticeID: other.PracticeID, Name: "Ailleurs", Kind: "clinic"}
		err := tx.SaveLocation(ctx, l)
		foreign = l.ID
		return err
	})
	if res := ts.post(t, e.c, e.base+"/locations", url.Values{"loc_id": {foreign}, "loc_name": {"Pris"}, "loc_kind": {"clinic"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("foreign location update: %d", res.StatusCode)
	}
	ts.post(t, e.c, e.base+"/locations/"+foreign+"/delete", nil)
	if l, _ := ts.db.Locations(ctx, other.PracticeID); len(l) != 1 {
		t.Fatal("another practice's location was deleted")
	}
	// Update.
	res = ts.post(t, e.c, e.base+"/locations", url.Values{"loc_id": {id}, "loc_name": {"CHU Pasteur"}, "loc_kind": {"hospital"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", res.StatusCode)
	}
	// The views list it and link to the hours page.
	view := ts.get(t, e.c, e.base+"/settings")
	if !pageHas(view.Body, "CHU Pasteur") || !strings.Contains(view.Body, `href="`+e.base+`/hours"`) {
		t.Fatal("the view does not list the location with a link to the hours")
	}

	// While it has hours from today on, it cannot go.
	p := mustPractice(t, ts, e.pro.PracticeID)
	today := ts.srv.today(p, ts.srv.clock())
	week := map[string][][2]string{"mon": {{"09:00", "12:00"}}}
	spec, err := parseSpec(hoursSpec{"": week, id: {"tue": {{"09:00", "12:00"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.changeHours(ctx, p, today, spec, e.pro.ID); err != nil {
		t.Fatal(err)
	}
	res = ts.post(t, e.c, e.base+"/locations/"+id+"/delete", nil)
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, ts.text(t, "en", "error.location.has_hours", "Name", "CHU Pasteur")) {
		t.Fatalf("delete with hours: %d", res.StatusCode)
	}
	// Hours removed (from tomorrow: today's version still has them).
	spec2, _ := parseSpec(hoursSpec{"": week})
	if _, err := ts.srv.changeHours(ctx, p, today, spec2, e.pro.ID); err != nil {
		t.Fatal(err)
	}
	// A booked slot to come at that place also keeps it.
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		at := ts.srv.clock().Add(48 * time.Hour).Truncate(time.Hour)
		if _, err := tx.InsertSlots(ctx, p.ID, []store.Slot{{Start: at, End: at.Add(15 * time.Minute), LocationID: id, Day: "2099-01-01"}}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked' WHERE practice_id = ? AND location_id = ?", p.ID, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res = ts.post(t, e.c, e.base+"/locations/"+id+"/delete", nil)
	if res.StatusCode != http.StatusConflict || !pageHas(res.Body, ts.text(t, "en", "error.location.booked", "Name", "CHU Pasteur", "Count", 1)) {
		t.Fatalf("delete with a booking: %d %s", res.StatusCode, mainOf(res.Body))
	}
	if l, _ := ts.db.Locations(ctx, p.ID); len(l) != 1 {
		t.Fatal("the location went")
	}
	ts.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE practice_id = ? AND location_id = ?", p.ID, id)
		return err
	})
	res = ts.post(t, e.c, e.base+"/locations/"+id+"/delete", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if l, _ := ts.db.Locations(ctx, p.ID); len(l) != 0 {
		t.Fatal("the location is still there")
	}
	// A second click lands on the same page.
	if res := ts.post(t, e.c, e.base+"/locations/"+id+"/delete", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second delete: %d", res.StatusCode)
	}
	for _, action := range []string{"location.created", "location.updated", "location.deleted"} {
		if n := ts.rows(t, "audit", "action = ?", action); n != 1 {
			t.Errorf("%d %s audit entries", n, action)
		}
	}
}

// settingsPNG encodes a w×h PNG with a gradient and a transparent corner.
func settingsPNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	img.Set(0, 0, color.NRGBA{})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// settingsGPS is the text the EXIF block of settingsExifJPEG carries.
const settingsGPS = "GPS 43.7034N 7.2663E"

// settingsExifJPEG encodes a w×h JPEG and splices after SOI an APP1 "Exif"
// segment with orientation 6 (turn 90° clockwise) and a GPS-looking payload.
func settingsExifJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{200, 30, 30, 255}
			if x < w/2 {
				c = color.RGBA{30, 30, 200, 255} // left half blue: the top after turning
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	// TIFF, big-endian: IFD0 with Orientation (0x0112) = 6 and a GPS IFD
	// pointer (0x8825), then the GPS text as an ASCII value.
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00*")
	binary.Write(&tiff, binary.BigEndian, uint32(8))
	binary.Write(&tiff, binary.BigEndian, uint16(2))
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&tiff, binary.BigEndian, uint32(1))
	binary.Write(&tiff, binary.BigEndian, []uint16{6, 0})
	binary.Write(&tiff, binary.BigEndian, []uint16{0x8825, 4})
	binary.Write(&tiff, binary.BigEndian, uint32(1))
	binary.Write(&tiff, binary.BigEndian, uint32(8+2+24+4))
	binary.Write(&tiff, binary.BigEndian, uint32(0)) // no next IFD
	tiff.WriteString(settingsGPS)
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out := append([]byte{0xFF, 0xD8}, app1...)
	out = append(out, seg...)
	return append(out, b.Bytes()[2:]...)
}

// settingsWebP is a 1×1 lossless WebP (VP8L).
var settingsWebP = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")

// settingsBombPNG is only the signature and IHDR of a 10000×10000 PNG: it claims
// 100 megapixels (400 MB decoded) in a few bytes.
func settingsBombPNG() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 10000)
	binary.BigEndian.PutUint32(ihdr[4:], 10000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func settingsPostPhoto(t *testing.T, ts *testServer, c *http.Client, path, filename string, content []byte) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("photo", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", ts.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return ts.do(t, c, req)
}

func TestSettingsPhoto(t *testing.T) {
	t.Parallel()
	e := newSettingsEnv(t)
	ts := e.ts
	ctx := context.Background()
	anon := ts.clientLang(t, "en")
	photoPath := "/practices/" + e.pro.PracticeID + "/photo"
	stored := func() (*store.Document, image.Image) {
		t.Helper()
		p := mustPractice(t, ts, e.pro.PracticeID)
		if p.PhotoDocumentID == "" {
			t.Fatal("no photo stored")
		}
		d, content, err := ts.db.FindDocument(ctx, p.PhotoDocumentID)
		if err != nil {
			t.Fatal(err)
		}
		if d.OwnerID != e.pro.ID || d.Purpose != "photo" || d.ContentType != "image/jpeg" {
			t.Fatalf("document %+v", d)
		}
		img, format, err := image.Decode(bytes.NewReader(content))
		if err != nil || format != "jpeg" {
			t.Fatalf("stored photo: %s %v", format, err)
		}
		if bytes.Contains(content, []byte("Exif")) || bytes.Contains(content, []byte(settingsGPS)) {
			t.Fatal("the stored photo keeps its EXIF block")
		}
		b := img.Bounds()
		if b.Dx() > 400 || b.Dy() > 400 {
			t.Fatalf("stored photo is %v", b)
		}
		return d, img
	}

	t.Run("PNG", func(t *testing.T) {
		res := settingsPostPhoto(t, ts, e.c, e.base+"/photo", "me.png", settingsPNG(t, 1200, 800))
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d %s", res.StatusCode, mainOf(res.Body))
		}
		_, img := stored()
		if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 267 {
			t.Fatalf("1200×800 became %v, want 400×267", b)
		}
	})
	t.Run("JPEGWithExif", func(t *testing.T) {
		in := settingsExifJPEG(t, 800, 600)
		if !bytes.Contains(in, []byte("Exif")) || !bytes.Contains(in, []byte(settingsGPS)) || jpegOrientation(in) != 6 {
			t.Fatal("the test JPEG has no EXIF block")
		}
		if _, err := jpeg.Decode(bytes.NewReader(in)); err != nil {
			t.Fatalf("the test JPEG does not decode: %v", err)
		}
		before := mustPractice(t, ts, e.pro.PracticeID).PhotoDocumentID
		res := settingsPostPhoto(t, ts, e.c, e.base+"/photo", "IMG_0001.JPG", in)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d %s", res.StatusCode, mainOf(res.Body))
		}
		d, img := stored()
		// Turned upright: 800×600 sideways is 300×400, blue on top.
		if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 400 {
			t.Fatalf("800×600 with orientation 6 became %v, want 300×400", b)
		}
		if r, _, bl, _ := img.At(150, 20).RGBA(); bl < r {
			t.Fatal("the photo was not turned upright")
		}
		// The previous photo's document is gone.
		if _, _, err := ts.db.FindDocument(ctx, before); err == nil || d.ID == before {
			t.Fatal("the replaced photo's document remains")
		}
	})
	t.Run("WebP", func(t *testing.T) {
		if _, f, err := image.Decode(bytes.NewReader(settingsWebP)); err != nil || f != "webp" {
			t.Fatalf("the test WebP does not decode: %v", err)
		}
		if res := settingsPostPhoto(t, ts, e.c, e.base+"/photo", "me.webp", settingsWebP); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d %s", res.StatusCode, mainOf(res.Body))
		}
		stored()
	})
	t.Run("Served", func(t *testing.T) {
		res := ts.get(t, anon, photoPath)
		p := mustPractice(t, ts, e.pro.PracticeID)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" || res.Header.Get("Cache-Control") != "public, max-age=3600" ||
			res.Header.Get("ETag") != `"`+p.PhotoDocumentID+`"` {
			t.Fatalf("%d %v", res.StatusCode, res.Header)
		}
		req, _ := http.NewRequest("GET", ts.URL+photoPath, nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		if res := ts.do(t, anon, req); res.StatusCode != http.StatusNotModified || res.Body != "" {
			t.Fatalf("If-None-Match: %d", res.StatusCode)
		}
		view := ts.get(t, e.c, e.base+"/settings")
		if !strings.Contains(view.Body, `<img class="settings-photo" src="`+photoPath+`?v=`+p.PhotoDocumentID+`"`) {
			t.Fatal("the view does not show the photo")
		}
		res = ts.api(t, "GET", "/api/v1/practices/"+p.ID+"/settings", e.token, nil)
		if !strings.Contains(res.Body, `"photo_url":"`+ts.URL+photoPath+`?v=`+p.PhotoDocumentID+`"`) {
			t.Fatalf("API photo_url: %s", res.Body)
		}
		// A practice not (or no longer) verified: only its managers see it.
		ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SetPracticeStatus(ctx, p.ID, store.PracticePending) })
		if res := ts.get(t, anon, photoPath); res.StatusCode != http.StatusNotFound {
			t.Fatalf("unverified practice's photo to anyone: %d", res.StatusCode)
		}
		if res := ts.get(t, e.c, photoPath); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "private, no-store" {
			t.Fatalf("unverified practice's photo to its practitioner: %d", res.StatusCode)
		}
		ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SetPracticeStatus(ctx, p.ID, store.PracticeVerified) })
	})

	refused := func(t *testing.T, res response, status int, msgID string, args ...any) {
		t.Helper()
		if res.StatusCode != status || !pageHas(res.Body, ts.text(t, "en", msgID, args...)) {
			t.Fatalf("%d (want %d), message %q missing: %s", res.StatusCode, status, msgID, mainOf(res.Body))
		}
	}
	current := mustPractice(t, ts, e.pro.PracticeID).PhotoDocumentID
	docs := ts.rows(t, "documents")
	t.Run("SVG", func(t *testing.T) {
		svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>`)
		refused(t, settingsPostPhoto(t, ts, e.c, e.base+"/photo", "me.jpg", svg), 422, "error.photo.svg")
	})
	t.Run("TextAsJPEG", func(t *testing.T) {
		refused(t, settingsPostPhoto(t, ts, e.c, e.base+"/photo", "me.jpg", []byte("Hello, I am a text file, not a picture.\n")), 422, "error.photo.type")
	})
	t.Run("GIF", func(t *testing.T) {
		refused(t, settingsPostPhoto(t, ts, e.c, e.base+"/photo", "me.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")), 422, "error.photo.type")
	})
	t.Run("DecompressionBomb", func(t *testing.T) {
		refused(t, settingsPostPhoto(t, ts, e.c, e.base+"/photo", "bomb.png", settingsBombPNG()), 422, "error.photo.pixels", "Max", 40)
	})
	t.Run("Empty", func(t *testing.T) {
		refused(t, settingsPostPhoto(t, ts, e.c, e.base+"/photo", "none.jpg", nil), 422, "error.photo.required")
	})
	t.Run("30MBDeclared", func(t *testing.T) {
		res, written := settingsRawUpload(t, ts, e.c, e.base+"/photo", 30<<20, false)
		refused(t, res, http.StatusRequestEntityTooLarge, "error.photo.too_big", "Max", 10)
		if written >= 30<<20 {
			t.Fatalf("the server read the whole upload (%d bytes written)", written)
		}
	})
	t.Run("30MBChunked", func(t *testing.T) {
		res, written := settingsRawUpload(t, ts, e.c, e.base+"/photo", 30<<20, true)
		refused(t, res, http.StatusRequestEntityTooLarge, "error.photo.too_big", "Max", 10)
		if written >= 30<<20 {
			t.Fatalf("the server read the whole upload (%d bytes written)", written)
		}
	})
	if mustPractice(t, ts, e.pro.PracticeID).PhotoDocumentID != current || ts.rows(t, "documents") != docs {
		t.Fatal("a refused photo wrote something")
	}

	t.Run("Delete", func(t *testing.T) {
		res := ts.post(t, e.c, e.base+"/photo/delete", nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d", res.StatusCode)
		}
		if p := mustPractice(t, ts, e.pro.PracticeID); p.PhotoDocumentID != "" {
			t.Fatal("photo still set")
		}
		if _, _, err := ts.db.FindDocument(ctx, current); err == nil {
			t.Fatal("the photo's document remains")
		}
		if res := ts.get(t, anon, photoPath); res.StatusCode != http.StatusNotFound {
			t.Fatalf("deleted photo served: %d", res.StatusCode)
		}
		if res := ts.post(t, e.c, e.base+"/photo/delete", nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("second delete: %d", res.StatusCode)
		}
	})
	if n := ts.rows(t, "audit", "action = 'practice.photo_set'"); n != 3 {
		t.Errorf("%d photo_set audit entries, want 3", n)
	}
}

// settingsRawUpload sends a multipart upload of size bytes over a raw
// connection, reading the answer while it writes: the server answers
// before the end and closes. It returns the answer and how many bytes the
// writer managed to send.
func settingsRawUpload(t *testing.T, ts *testServer, c *http.Client, path string, size int, chunked bool) (response, int) {
	t.Helper()
	u, _ := url.Parse(ts.URL)
	var cookies []string
	for _, ck := range c.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const boundary = "settingsboundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"huge.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	var h strings.Builder
	fmt.Fprintf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nSec-Fetch-Site: same-origin\r\nCookie: %s\r\n", path, u.Host, ts.URL, strings.Join(cookies, "; "))
	fmt.Fprintf(&h, "Content-Type: multipart/form-data; boundary=%s\r\n", boundary)
	if chunked {
		h.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&h, "Content-Length: %d\r\n\r\n", len(head)+size+len(tail))
	}
	done := make(chan int, 1)
	go func() {
		written := 0
		w := func(b []byte) bool {
			if chunked {
				b = append([]byte(strconv.FormatInt(int64(len(b)), 16)+"\r\n"), append(b, "\r\n"...)...)
			}
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			n, err := conn.Write(b)
			written += n
			return err == nil
		}
		conn.Write([]byte(h.String()))
		ok := w([]byte(head + "\xff\xd8\xff\xe0"))
		block := bytes.Repeat([]byte{0x42}, 64<<10)
		for sent := 4; ok && sent < size; sent += len(block) {
			ok = w(block)
		}
		if ok {
			w([]byte(tail))
			if chunked {
				conn.Write([]byte("0\r\n\r\n"))
			}
		}
		done <- written
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the big upload: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	conn.Close()
	return response{StatusCode: res.StatusCode, Header: res.Header, Body: string(body)}, <-done
}

func TestSettingsOptionLabels(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for prefix, values := range map[string][]string{"settings.payment.": settingPayments, "settings.access.": settingAccess,
		"settings.lang.": settingLanguages, "settings.country.": settingCountries, "settings.kind.": locationKinds,
		"settings.sector.": {"none", "1", "2", "3", "nc"}, "settings.booking.": {"free", "allowlist"}, "settings.reason.": {"free", "table"}} {
		for _, v := range values {
			for _, lang := range Languages {
				if !ts.hasCatalogue(lang, prefix+v) {
					t.Errorf("the %s catalogue lacks %s%s", lang, prefix, v)
				}
			}
		}
	}
}

func TestProcessPhotoUnits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ w, h, box, ww, wh int }{
		{1200, 800, 400, 400, 267}, {800, 1200, 400, 267, 400}, {300, 200, 400, 300, 200}, {10000, 1, 400, 400, 1}, {400, 400, 400, 400, 400},
	} {
		if w, h := fitBox(tc.w, tc.h, tc.box); w != tc.ww || h != tc.wh {
			t.Errorf("fitBox(%d, %d) = %d×%d, want %d×%d", tc.w, tc.h, w, h, tc.ww, tc.wh)
		}
	}
	// Every EXIF orientation gives the expected size and corner.
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255}) // the stored top-left pixel
	for o, want := range map[int]struct {
		w, h, x, y int
	}{1: {3, 2, 0, 0}, 2: {3, 2, 2, 0}, 3: {3, 2, 2, 1}, 4: {3, 2, 0, 1}, 5: {2, 3, 0, 0}, 6: {2, 3, 1, 0}, 7: {2, 3, 1, 2}, 8: {2, 3, 0, 2}} {
		got := orient(src, o)
		if got.Bounds().Dx() != want.w || got.Bounds().Dy() != want.h || got.RGBAAt(want.x, want.y).R != 255 {
			t.Errorf("orientation %d: %v, red at (%d,%d) expected", o, got.Bounds(), want.x, want.y)
		}
	}
}
