package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// dirTypeSpec is an appointment type made by dirAddPractice.
type dirTypeSpec struct {
	Name               string
	Minutes, Buffer    int
	Price              int64
	FirstPrice         *int64
	Currency           string
	Tele, ExistingOnly bool
}

// dirPracticeSpec is a practice made by dirAddPractice.
type dirPracticeSpec struct {
	Name, Status, TimeZone                       string
	Specialties, Languages, Diplomas, Payments   []string
	Transport, Access                            []string
	City, PostalCode, Address, VisitTypes, Phone string
	Sector                                       string
	Vitale                                       bool
	Photo                                        string // a photo document id (the page only links it)
	Types                                        []dirTypeSpec
	Planning                                     bool                   // hours and a generated planning
	Week                                         map[string][][2]string // default: every day 08:00–20:00
	HoursFrom                                    int                    // days from today the hours apply from
	MinNotice                                    int
}

// dirAddPractice creates a practice (verified unless told), its types and,
// when asked, hours and a generated 30-day planning, without any account.
func dirAddPractice(t testing.TB, ts *testServer, sp dirPracticeSpec) *store.Practice {
	t.Helper()
	ctx := context.Background()
	st := store.DefaultSettings()
	st.Specialties, st.Languages, st.Diplomas, st.PaymentMeans = sp.Specialties, sp.Languages, sp.Diplomas, sp.Payments
	st.Transport, st.Access = sp.Transport, sp.Access
	st.City, st.PostalCode, st.Address, st.VisitTypes, st.SecretaryPhone = sp.City, sp.PostalCode, sp.Address, sp.VisitTypes, sp.Phone
	st.ConventionSector, st.Vitale, st.PhotoDocumentID = sp.Sector, sp.Vitale, sp.Photo
	st.MinNoticeMinutes, st.HorizonDays = sp.MinNotice, 30
	if sp.Status == "" {
		sp.Status = store.PracticeVerified
	}
	if sp.TimeZone == "" {
		sp.TimeZone = "Europe/Paris"
	}
	p := &store.Practice{Name: sp.Name, TimeZone: sp.TimeZone, Status: sp.Status, Settings: st}
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreatePractice(ctx, p); err != nil {
			return err
		}
		for _, ty := range sp.Types {
			cur := ty.Currency
			if cur == "" {
				cur = "EUR"
			}
			at := &store.AppointmentType{PracticeID: p.ID, Name: ty.Name, Minutes: ty.Minutes, BufferAfter: ty.Buffer, Price: ty.Price,
				FirstPrice: ty.FirstPrice, Currency: cur, Teleconsultation: ty.Tele, NewPatients: !ty.ExistingOnly}
			if err := tx.CreateType(ctx, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Planning {
		week := sp.Week
		if week == nil {
			week = map[string][][2]string{}
			for _, d := range schedule.WeekdayKeys {
				week[d] = [][2]string{{"08:00", "20:00"}}
			}
		}
		spec, err := parseSpec(hoursSpec{"": week})
		if err != nil {
			t.Fatal(err)
		}
		pr := mustPractice(t, ts, p.ID)
		from := ts.srv.today(pr, ts.srv.clock()).AddDays(sp.HoursFrom)
		if _, err := ts.srv.changeHours(ctx, pr, from, spec, ""); err != nil {
			t.Fatal(err)
		}
		if err := ts.srv.generateInitial(ctx, p.ID, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	return mustPractice(t, ts, p.ID)
}

// dirServer is a server with an admin (so pages do not send to /setup) and
// the directory of TestDirectory*.
type dirServer struct {
	ts                           *testServer
	elodie, muller, ana, pending *store.Practice
}

func newDirServer(t *testing.T) *dirServer {
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	d := &dirServer{ts: ts}
	d.elodie = dirAddPractice(t, ts, dirPracticeSpec{Name: "Élodie Dupré", Specialties: []string{"Médecin généraliste", "Acupuncture"},
		City: "Lyon", PostalCode: "69003", Languages: []string{"fr", "en"},
		Types: []dirTypeSpec{{Name: "Consultation", Minutes: 20, Price: 2500}, {Name: "Vidéo", Minutes: 15, Price: 2500, Tele: true}}, Planning: true})
	d.muller = dirAddPractice(t, ts, dirPracticeSpec{Name: "Jean-Pierre Müller", Specialties: []string{"Cardiologue"},
		City: "Saint-Étienne", PostalCode: "42000", Languages: []string{"fr", "de"},
		Types: []dirTypeSpec{{Name: "Bilan", Minutes: 30, Price: 5000}}})
	d.ana = dirAddPractice(t, ts, dirPracticeSpec{Name: "Ana García", Specialties: []string{"Pédiatre"},
		City: "Paris", PostalCode: "75015", Languages: []string{"es", "fr"},
		Types: []dirTypeSpec{{Name: "Téléconsultation", Minutes: 15, Price: 3000, Tele: true}}})
	d.pending = dirAddPractice(t, ts, dirPracticeSpec{Name: "Élodie Pending", Specialties: []string{"Médecin généraliste"}, City: "Lyon",
		PostalCode: "69003", Languages: []string{"fr"}, Status: store.PracticePending,
		Types: []dirTypeSpec{{Name: "Vidéo", Minutes: 15, Tele: true}}})
	return d
}

// names returns the practice names of a directory page's results, in order.
var dirResultRe = regexp.MustCompile(`<h3><a href="/p/([a-z0-9]+)">([^<]*)</a></h3>`)

func dirResults(body string) []string {
	var out []string
	for _, m := range dirResultRe.FindAllStringSubmatch(body, -1) {
		out = append(out, htmlUnescape(m[2]))
	}
	return out
}

func TestDirectorySearch(t *testing.T) {
	t.Parallel()
	d := newDirServer(t)
	ts := d.ts
	c := ts.clientLang(t, "en")
	all := []string{"Ana García", "Élodie Dupré", "Jean-Pierre Müller"}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"NoCriterion", nil, all},
		{"NameWithoutAccent", url.Values{"q": {"elodie"}}, []string{"Élodie Dupré"}},
		{"NamePartial", url.Values{"q": {"dupr"}}, []string{"Élodie Dupré"}},
		{"NameInside", url.Values{"q": {"odie"}}, []string{"Élodie Dupré"}},
		{"NameUpperAccented", url.Values{"q": {"DUPRÉ"}}, []string{"Élodie Dupré"}},
		{"NameWordsAnyOrder", url.Values{"q": {"dupre  elodie"}}, []string{"Élodie Dupré"}},
		{"NameUmlaut", url.Values{"q": {"muller"}}, []string{"Jean-Pierre Müller"}},
		{"NameHyphen", url.Values{"q": {"jean pierre"}}, []string{"Jean-Pierre Müller"}},
		{"NameHyphenTyped", url.Values{"q": {"Jean-Pierre"}}, []string{"Jean-Pierre Müller"}},
		{"NameTilde", url.Values{"q": {"garcia"}}, []string{"Ana García"}},
		{"SpecialtyMain", url.Values{"specialty": {"generaliste"}}, []string{"Élodie Dupré"}},
		{"SpecialtySecond", url.Values{"specialty": {"ACUPUNCT"}}, []string{"Élodie Dupré"}},
		{"SpecialtyAccent", url.Values{"specialty": {"pédiatre"}}, []string{"Ana García"}},
		{"City", url.Values{"city": {"lyon"}}, []string{"Élodie Dupré"}},
		{"CityAccentHyphen", url.Values{"city": {"saint etienne"}}, []string{"Jean-Pierre Müller"}},
		{"CityPartial", url.Values{"city": {"etien"}}, []string{"Jean-Pierre Müller"}},
		{"PostalFull", url.Values{"city": {"69003"}}, []string{"Élodie Dupré"}},
		{"PostalPrefix", url.Values{"city": {"75"}}, []string{"Ana García"}},
		{"PostalNotInside", url.Values{"city": {"003"}}, nil},
		{"PostalAndCity", url.Values{"city": {"75015 Paris"}}, []string{"Ana García"}},
		{"Teleconsultation", url.Values{"teleconsultation": {"true"}}, []string{"Ana García", "Élodie Dupré"}},
		{"LanguageDe", url.Values{"language": {"de"}}, []string{"Jean-Pierre Müller"}},
		{"LanguageFr", url.Values{"language": {"fr"}}, all},
		{"Combined", url.Values{"teleconsultation": {"true"}, "language": {"en"}, "city": {"Lyon"}, "specialty": {"médecin"}}, []string{"Élodie Dupré"}},
		{"CombinedNone", url.Values{"teleconsultation": {"true"}, "language": {"de"}}, nil},
		{"OnlyVerified", url.Values{"q": {"pending"}}, nil},
		{"NoMatch", url.Values{"q": {"zzzz"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.get(t, c, "/?"+tc.query.Encode())
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			got := dirResults(res.Body)
			if !slices.Equal(got, tc.want) {
				t.Errorf("results %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 && !pageHas(res.Body, ts.text(t, "en", "directory.none")) {
				t.Errorf("no 'no results' message")
			}
			if len(tc.want) > 0 && strings.Contains(res.Body, ts.text(t, "en", "directory.none")) {
				t.Errorf("'no results' message beside results")
			}
			// The form keeps what was typed.
			if v := tc.query.Get("q"); v != "" && !strings.Contains(res.Body, `name="q" type="search" value="`+strings.ReplaceAll(v, "  ", "  ")) {
				if !pageHas(res.Body, `value="`+strings.TrimSpace(v)+`"`) {
					t.Errorf("the name field lost %q", v)
				}
			}
		})
	}

	t.Run("FrenchNoResults", func(t *testing.T) {
		res := ts.get(t, ts.clientLang(t, "fr"), "/?q=zzzz")
		if !pageHas(res.Body, ts.text(t, "fr", "directory.none")) {
			t.Errorf("no French 'no results' message")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		for _, q := range []url.Values{
			{"q": {strings.Repeat("a", 101)}},
			{"language": {"xx"}},
			{"teleconsultation": {"maybe"}},
			{"page": {"0"}},
			{"city": {"Lyon\x00"}},
		} {
			res := ts.get(t, c, "/?"+q.Encode())
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, `class="field-error"`) || len(dirResults(res.Body)) != 0 {
				t.Errorf("%s: status %d, want 400 with a field error and no results", q.Encode(), res.StatusCode)
			}
		}
	})

	t.Run("ChangesElsewhereAreSeen", func(t *testing.T) {
		// Another code path saves the settings: the next search sees them.
		ctx := context.Background()
		err := ts.db.Update(ctx, func(tx *store.Tx) error {
			p, err := tx.FindPracticeByID(ctx, d.muller.ID)
			if err != nil {
				return err
			}
			st := p.Settings
			st.City, st.PostalCode = "Grenoble", "38000"
			if err := tx.UpdateSettings(ctx, p.ID, st); err != nil {
				return err
			}
			return tx.UpdatePracticeName(ctx, p.ID, "Jean-Pierre Müller-Ôzil", p.TimeZone)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := dirResults(ts.get(t, c, "/?city=grenoble&q=ozil").Body); !slices.Equal(got, []string{"Jean-Pierre Müller-Ôzil"}) {
			t.Errorf("after the change: %q", got)
		}
		if got := dirResults(ts.get(t, c, "/?city=etienne").Body); len(got) != 0 {
			t.Errorf("the old city still matches: %q", got)
		}
		// A practice verified later appears.
		err = ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SetPracticeStatus(ctx, d.pending.ID, store.PracticeVerified) })
		if err != nil {
			t.Fatal(err)
		}
		if got := dirResults(ts.get(t, c, "/?q=elodie").Body); !slices.Equal(got, []string{"Élodie Dupré", "Élodie Pending"}) {
			t.Errorf("after verification: %q", got)
		}
		err = ts.db.Update(ctx, func(tx *store.Tx) error { return tx.SetPracticeStatus(ctx, d.pending.ID, store.PracticeRejected) })
		if err != nil {
			t.Fatal(err)
		}
		if got := dirResults(ts.get(t, c, "/?q=elodie").Body); !slices.Equal(got, []string{"Élodie Dupré"}) {
			t.Errorf("after rejection: %q", got)
		}
		// Types change elsewhere too: Élodie's video type archived, a
		// teleconsultation type added to Müller.
		types, err := ts.db.FindTypes(ctx, d.elodie.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		err = ts.db.Update(ctx, func(tx *store.Tx) error {
			for _, ty := range types {
				if ty.Teleconsultation {
					if err := tx.ArchiveType(ctx, d.elodie.ID, ty.ID); err != nil {
						return err
					}
				}
			}
			return tx.CreateType(ctx, &store.AppointmentType{PracticeID: d.muller.ID, Name: "Vidéo", Minutes: 15, Currency: "EUR",
				Teleconsultation: true, NewPatients: true})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := dirResults(ts.get(t, c, "/?teleconsultation=true").Body); !slices.Equal(got, []string{"Ana García", "Jean-Pierre Müller-Ôzil"}) {
			t.Errorf("teleconsultation after type changes: %q", got)
		}
	})
}

func TestDirectoryFold(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Élodie DUPRÉ":        "elodie dupre",
		"Jean-Pierre  Müller": "jean pierre muller",
		"Straße":              "strasse",
		"Œuvre d'Ørsted":      "oeuvre d orsted",
		"  São Paulo, 01000 ": "sao paulo 01000",
		"<script>":            "script",
		"":                    "",
	} {
		if got := dirFold(in); got != want {
			t.Errorf("dirFold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDirectoryPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		for i := range 45 {
			st := store.DefaultSettings()
			st.City = "Nantes"
			p := &store.Practice{Name: "Cabinet " + string(rune('A'+i/26)) + string(rune('a'+i%26)), TimeZone: "Europe/Paris",
				Status: store.PracticeVerified, Settings: st}
			if err := tx.CreatePractice(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ts.clientLang(t, "en")
	seen := map[string]bool{}
	next := "/?city=nantes"
	for page := 1; next != ""; page++ {
		res := ts.get(t, c, next)
		got := dirResults(res.Body)
		if want := min(20, 45-(page-1)*20); len(got) != want {
			t.Fatalf("page %d: %d results, want %d", page, len(got), want)
		}
		for _, n := range got {
			if seen[n] {
				t.Errorf("%s shown twice", n)
			}
			seen[n] = true
		}
		if page == 1 && !pageHas(res.Body, "45 practitioners") {
			t.Errorf("no count")
		}
		m := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(res.Body)
		next = ""
		if m != nil {
			next = htmlUnescape(m[1])
			if !strings.Contains(next, "city=nantes") {
				t.Errorf("the next page link lost the query: %s", next)
			}
		}
	}
	if len(seen) != 45 {
		t.Errorf("%d practices over the pages, want 45", len(seen))
	}
	if res := ts.get(t, c, "/?city=nantes&page=9"); !pageHas(res.Body, ts.text(t, "en", "directory.past_end")) {
		t.Errorf("past the end: no message")
	}
}

// TestDirectoryNextAvailable: a practice whose first free slot is tomorrow
// at 09:00 (its zone, New York) shows exactly that, in its zone, on the
// page and in the API; a type needing two slots skips a day where only
// single slots are free; a practice without a planning shows none.
func TestDirectoryNextAvailable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	ctx := context.Background()
	week := map[string][][2]string{}
	for _, d := range schedule.WeekdayKeys {
		week[d] = [][2]string{{"09:00", "10:00"}}
	}
	ny := dirAddPractice(t, ts, dirPracticeSpec{Name: "New York Practice", TimeZone: "America/New_York", City: "New York",
		Types:    []dirTypeSpec{{Name: "Long", Minutes: 45, Price: 1}, {Name: "Short", Minutes: 15, Price: 1}, {Name: "Video", Minutes: 15, Price: 1, Tele: true}},
		Planning: true, Week: week, HoursFrom: 1})
	two := dirAddPractice(t, ts, dirPracticeSpec{Name: "Two Slot Practice", TimeZone: "Europe/Paris", City: "Paris",
		Types: []dirTypeSpec{{Name: "Half hour", Minutes: 30, Price: 1}}, Planning: true, Week: week, HoursFrom: 1})
	dirAddPractice(t, ts, dirPracticeSpec{Name: "Unplanned Practice", City: "Paris", Types: []dirTypeSpec{{Name: "Visit", Minutes: 15}}})
	existing := dirAddPractice(t, ts, dirPracticeSpec{Name: "Existing Only Practice", City: "Paris",
		Types: []dirTypeSpec{{Name: "Follow-up", Minutes: 15, ExistingOnly: true}}, Planning: true})

	// Tomorrow at Two Slot Practice: 09:15 and 09:45 taken, so no 30-minute
	// start that day (09:00 needs 09:15, 09:30 needs 09:45).
	loc := ts.srv.location("Europe/Paris")
	tomorrow := ts.srv.today(two, ts.srv.clock()).AddDays(1)
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		for _, m := range []int{15, 45} {
			at, _ := schedule.Local(tomorrow, 9*60+m, loc)
			if _, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked', appointment_id = 'x' WHERE practice_id = ? AND starts_at = ?", two.ID, at.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	nyLoc := ts.srv.location("America/New_York")
	nyTomorrow := ts.srv.today(ny, ts.srv.clock()).AddDays(1)
	nyWant, _ := schedule.Local(nyTomorrow, 9*60, nyLoc)
	twoWant, _ := schedule.Local(tomorrow.AddDays(1), 9*60, loc)
	nyWant, twoWant = nyWant.In(nyLoc), twoWant.In(loc)

	res := ts.get(t, ts.clientLang(t, "en"), "/")
	if !pageHas(res.Body, `datetime="`+nyWant.Format(time.RFC3339)+`">Tomorrow at 09:00</time>`) {
		t.Errorf("New York Practice: no next time %s shown as 'Tomorrow at 09:00' (practice zone)", nyWant.Format(time.RFC3339))
	}
	if !pageHas(res.Body, `datetime="`+twoWant.Format(time.RFC3339)+`"`) {
		t.Errorf("Two Slot Practice: next time %s not shown", twoWant.Format(time.RFC3339))
	}
	if n := strings.Count(res.Body, ts.text(t, "en", "directory.no_next")); n != 2 {
		t.Errorf("%d practices without a next time, want 2 (unplanned, existing patients only)", n)
	}
	fr := ts.get(t, ts.clientLang(t, "fr"), "/?q=new+york")
	if !pageHas(fr.Body, "Demain à 09:00") {
		t.Errorf("French page: no 'Demain à 09:00'")
	}

	var list []apiPractitioner
	api := ts.api(t, "GET", "/api/v1/practitioners", "", nil)
	if err := json.Unmarshal([]byte(api.Body), &list); err != nil {
		t.Fatal(err)
	}
	next := map[string]*string{}
	for _, p := range list {
		next[p.Name] = p.NextAvailable
	}
	if v := next["New York Practice"]; v == nil || *v != nyWant.Format(time.RFC3339) {
		t.Errorf("API next_available of New York Practice = %v, want %s", v, nyWant.Format(time.RFC3339))
	}
	if v := next["Two Slot Practice"]; v == nil || *v != twoWant.Format(time.RFC3339) {
		t.Errorf("API next_available of Two Slot Practice = %v, want %s", v, twoWant.Format(time.RFC3339))
	}
	if v, ok := next["Unplanned Practice"]; !ok || v != nil {
		t.Errorf("API next_available of Unplanned Practice = %v (present %v), want null", v, ok)
	}
	if !strings.Contains(api.Body, `"next_available":null`) {
		t.Errorf("null next_available not written as null")
	}
	_ = existing

	// The practitioner page of a teleconsultation type shows the viewer's
	// own time beside the practice's (an anonymous viewer: the server's
	// zone, Paris).
	nyTypes, _ := ts.db.FindTypes(ctx, ny.ID, false)
	page := ts.get(t, ts.clientLang(t, "en"), "/p/"+ny.ID+"?type="+nyTypes[2].ID)
	paris := nyWant.In(loc).Format("15:04")
	if !pageHas(page.Body, ">09:00</time>") || !pageHas(page.Body, "(Tomorrow at "+paris+" your time)") && !pageHas(page.Body, " at "+paris+" your time)") {
		t.Errorf("teleconsultation times: no practice time 09:00 with the viewer's %s beside it", paris)
	}
	if short := ts.get(t, ts.clientLang(t, "en"), "/p/"+ny.ID); strings.Contains(short.Body, "your time") {
		t.Errorf("an office visit shows the viewer's time")
	}

	// The minimum notice counts: with 2 days' notice the New York practice's
	// next time moves on a day.
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		st := mustPractice(t, ts, ny.ID).Settings
		st.MinNoticeMinutes = 2 * 24 * 60
		return tx.UpdateSettings(ctx, ny.ID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	after := ts.api(t, "GET", "/api/v1/practitioners?q=new+york", "", nil)
	if err := json.Unmarshal([]byte(after.Body), &list); err != nil || len(list) != 1 || list[0].NextAvailable == nil {
		t.Fatalf("after the notice change: %s", after.Body)
	}
	got, _ := time.Parse(time.RFC3339, *list[0].NextAvailable)
	if !got.After(ts.srv.clock().Add(48*time.Hour)) || got.Sub(ts.srv.clock()) > 72*time.Hour {
		t.Errorf("with 2 days' notice the next time is %s", got)
	}
}

func TestDirectoryAPI(t *testing.T) {
	t.Parallel()
	d := newDirServer(t)
	ts := d.ts
	get := func(q string) []map[string]any {
		t.Helper()
		res := ts.api(t, "GET", "/api/v1/practitioners"+q, "", nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", q, res.StatusCode, res.Body)
		}
		var out []map[string]any
		if err := json.Unmarshal([]byte(res.Body), &out); err != nil {
			t.Fatalf("%s: %v: %s", q, err, res.Body)
		}
		return out
	}
	names := func(list []map[string]any) []string {
		var out []string
		for _, e := range list {
			out = append(out, e["name"].(string))
		}
		return out
	}
	all := get("")
	if !slices.Equal(names(all), []string{"Ana García", "Élodie Dupré", "Jean-Pierre Müller"}) {
		t.Errorf("every entry: %q", names(all))
	}
	for _, e := range all {
		for _, k := range []string{"id", "name", "specialties", "city", "teleconsultation", "next_available"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%s lacks %q", e["name"], k)
			}
		}
	}
	elodie := get("?q=elodie")
	if len(elodie) != 1 || elodie[0]["id"] != d.elodie.ID || elodie[0]["teleconsultation"] != true || elodie[0]["city"] != "Lyon" {
		t.Errorf("q=elodie: %v", elodie)
	} else if na, _ := elodie[0]["next_available"].(string); na == "" {
		t.Errorf("q=elodie: no next_available (its planning is generated)")
	} else if _, err := time.Parse(time.RFC3339, na); err != nil {
		t.Errorf("next_available %q is not RFC 3339", na)
	}
	for q, want := range map[string][]string{
		"?q=dupr":                           {"Élodie Dupré"},
		"?specialty=cardio":                 {"Jean-Pierre Müller"},
		"?city=75":                          {"Ana García"},
		"?city=saint-etienne":               {"Jean-Pierre Müller"},
		"?teleconsultation=true":            {"Ana García", "Élodie Dupré"},
		"?teleconsultation=false":           {"Ana García", "Élodie Dupré", "Jean-Pierre Müller"},
		"?language=es":                      {"Ana García"},
		"?language=ES&teleconsultation=1":   {"Ana García"},
		"?q=pending":                        nil,
		"?q=%C3%A9lodie&specialty=acupunct": {"Élodie Dupré"},
	} {
		if got := names(get(q)); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	// Paging keeps the filters and the contract.
	var page struct {
		Practitioners []map[string]any `json:"practitioners"`
		Next          string           `json:"next"`
	}
	var paged []string
	cursor := ""
	for i := 0; i < 5; i++ {
		q := "?language=fr&limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		res := ts.api(t, "GET", "/api/v1/practitioners"+q, "", nil)
		if err := json.Unmarshal([]byte(res.Body), &page); err != nil {
			t.Fatal(err)
		}
		paged = append(paged, names(page.Practitioners)...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if !slices.Equal(paged, []string{"Ana García", "Élodie Dupré", "Jean-Pierre Müller"}) {
		t.Errorf("paged: %q", paged)
	}
	for _, tc := range []struct{ q, field string }{
		{"?language=xx", "language"},
		{"?teleconsultation=maybe", "teleconsultation"},
		{"?q=" + strings.Repeat("x", 101), "q"},
		{"?limit=0", "limit"},
		{"?limit=2&cursor=!!", "cursor"},
	} {
		res := ts.api(t, "GET", "/api/v1/practitioners"+tc.q, "", nil)
		var e struct {
			Error struct{ Code, Field, Message string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(res.Body), &e)
		if res.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field || e.Error.Message == "" {
			t.Errorf("%s: status %d, error %+v; want 400 on %s", tc.q, res.StatusCode, e.Error, tc.field)
		}
	}
}

func TestPractitionerPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	first := int64(4000)
	p := dirAddPractice(t, ts, dirPracticeSpec{Name: `Dr <script>alert(1)</script> Évin`,
		Specialties: []string{"Dermatologue <b>", "Allergologie"}, Diplomas: []string{"DES <i>dermatologie</i>"},
		City: "Lyon", PostalCode: "69003", Address: "12 rue <Garibaldi>", Languages: []string{"fr", "en"},
		Payments: []string{"card", "cash", "Chèque <vacances>"}, Transport: []string{"Métro <B> Saxe-Gambetta"}, Access: []string{"lift"},
		VisitTypes: "Consultations <script>alert(2)</script> au cabinet", Phone: "+33 4 78 00 00 00", Sector: "1", Vitale: true,
		Photo: "photo-doc-id",
		Types: []dirTypeSpec{{Name: "Consultation <em>", Minutes: 30, Price: 2500, FirstPrice: &first},
			{Name: "Suivi", Minutes: 90, Price: 12050, ExistingOnly: true},
			{Name: "Téléconsultation", Minutes: 15, Price: 2500, Tele: true}},
		Planning: true, MinNotice: 0})
	base := "/p/" + p.ID

	en := ts.get(t, ts.clientLang(t, "en"), base)
	if en.StatusCode != http.StatusOK {
		t.Fatalf("status %d", en.StatusCode)
	}
	body := mainOf(en.Body)
	// Every field is escaped: no tag typed by the practitioner reaches the page.
	for _, raw := range []string{"<script>", "<b>", "<i>", "<em>", "<Garibaldi>", "<vacances>", "<B>"} {
		if strings.Contains(en.Body, raw) {
			t.Errorf("%s reaches the page unescaped", raw)
		}
	}
	for _, want := range []string{`Dr <script>alert(1)</script> Évin`, "Dermatologue <b>", "Allergologie", "DES <i>dermatologie</i>",
		"12 rue <Garibaldi>", "69003 Lyon", "Métro <B> Saxe-Gambetta", "Consultations <script>alert(2)</script> au cabinet",
		"Consultation <em>", "Suivi", "Téléconsultation", "€25.00", "€40.00", "€120.50", "30 min", "1 h 30", "15 min",
		"Sector 1", "Bank card", "Cash", "Chèque <vacances>", "Lift", "French, English", "+33 4 78 00 00 00",
		ts.text(t, "en", "practitioner.existing_only")} {
		if !pageHas(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if !strings.Contains(body, `<title>`) && !strings.Contains(en.Body, "Dr &lt;script&gt;") {
		t.Errorf("title not escaped")
	}
	if !strings.Contains(body, `src="/practices/`+p.ID+`/photo?v=photo-doc-id"`) {
		t.Errorf("no photo")
	}
	mapRe := regexp.MustCompile(`<a href="https://www\.openstreetmap\.org/search\?query=([^"]+)" rel="noopener noreferrer">`)
	if m := mapRe.FindStringSubmatch(body); m == nil {
		t.Errorf("no map link with rel=noopener noreferrer")
	} else if q, _ := url.QueryUnescape(htmlUnescape(m[1])); !strings.Contains(q, "12 rue <Garibaldi>, 69003 Lyon, France") {
		t.Errorf("map query %q", q)
	}
	if !pageHas(body, `href="tel:+33478000000"`) {
		t.Errorf("no tel: link")
	}
	// The next 8 free starts of the shortest type new patients may book
	// (the teleconsultation, 15 min), each a link to the booking page.
	startRe := regexp.MustCompile(`href="(/p/` + p.ID + `/book\?type=([a-z0-9]+)&amp;slot=([a-z0-9]+))"`)
	starts := startRe.FindAllStringSubmatch(body, -1)
	if len(starts) != practitionerStarts {
		t.Fatalf("%d start links, want %d", len(starts), practitionerStarts)
	}
	types, _ := ts.db.FindTypes(context.Background(), p.ID, false)
	tele := types[2]
	pr := mustPractice(t, ts, p.ID)
	want, err := ts.srv.freeStarts(context.Background(), pr, 15, 0, ts.srv.today(pr, ts.srv.clock()), ts.srv.today(pr, ts.srv.clock()).AddDays(2), ts.srv.clock())
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range starts {
		if m[2] != tele.ID || m[3] != want[i].ID {
			t.Errorf("start %d: type %s slot %s, want %s %s", i, m[2], m[3], tele.ID, want[i].ID)
		}
	}
	if !strings.Contains(body, `href="/p/`+p.ID+`/book"`) {
		t.Errorf("no Book button")
	}
	// Another type's times.
	other := ts.get(t, ts.clientLang(t, "en"), base+"?type="+types[0].ID)
	if m := startRe.FindAllStringSubmatch(other.Body, -1); len(m) != practitionerStarts || m[0][2] != types[0].ID {
		t.Errorf("with ?type=: %d starts", len(m))
	}
	// An unknown type falls back to the default.
	if m := startRe.FindAllStringSubmatch(ts.get(t, ts.clientLang(t, "en"), base+"?type=nope").Body, -1); len(m) != practitionerStarts {
		t.Errorf("with an unknown type: %d starts", len(m))
	}

	fr := mainOf(ts.get(t, ts.clientLang(t, "fr"), base).Body)
	for _, want := range []string{"25,00\u00a0€", "40,00\u00a0€", "120,50\u00a0€", "Secteur 1", "Carte Vitale acceptée"} {
		if !pageHas(fr, want) {
			t.Errorf("French page lacks %q", want)
		}
	}

	// Only verified practices have a page.
	for _, status := range []string{store.PracticePending, store.PracticeRejected} {
		q := dirAddPractice(t, ts, dirPracticeSpec{Name: "Hidden " + status, Status: status})
		if res := ts.get(t, ts.client(t), "/p/"+q.ID); res.StatusCode != http.StatusNotFound || strings.Contains(res.Body, "Hidden") {
			t.Errorf("%s practice: status %d", status, res.StatusCode)
		}
	}
	if res := ts.get(t, ts.client(t), "/p/nosuchpractice"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown practice: status %d", res.StatusCode)
	}

	// The directory escapes too.
	home := ts.get(t, ts.clientLang(t, "en"), "/?q=evin")
	if strings.Contains(home.Body, "<script>alert") || !pageHas(home.Body, `Dr <script>alert(1)</script> Évin`) || !pageHas(home.Body, "Dermatologue <b>") {
		t.Errorf("directory result not shown escaped")
	}
}

// TestPractitionerPageNoOnlineBooking: a practice without types or planning
// says so and offers the phone instead of booking links.
func TestPractitionerPageNoOnlineBooking(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
	bare := dirAddPractice(t, ts, dirPracticeSpec{Name: "Bare Practice", Phone: "+33 1 23 45 67 89"})
	res := ts.get(t, ts.clientLang(t, "en"), "/p/"+bare.ID)
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, ts.text(t, "en", "practitioner.no_online")) ||
		strings.Contains(res.Body, "/book") || !pageHas(res.Body, `href="tel:+33123456789"`) {
		t.Errorf("bare practice page: status %d", res.StatusCode)
	}
	unplanned := dirAddPractice(t, ts, dirPracticeSpec{Name: "Unplanned", Types: []dirTypeSpec{{Name: "Visit", Minutes: 15}}})
	res = ts.get(t, ts.clientLang(t, "en"), "/p/"+unplanned.ID)
	if !pageHas(res.Body, ts.text(t, "en", "practitioner.no_times")) || strings.Contains(res.Body, "&amp;slot=") {
		t.Errorf("unplanned practice page shows times")
	}
}
