package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"

	"daraport/app/schedule"
	"daraport/store"
)

func mustDay(t *testing.T, s string) schedule.Day {
	t.Helper()
	d, err := schedule.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// libraryName is the name the library itself gives the holiday observed on
// day (on its own date or as its substitute).
func libraryName(t *testing.T, list []*cal.Holiday, day schedule.Day) string {
	t.Helper()
	for _, h := range list {
		actual, observed := h.Calc(day.Y)
		if !actual.IsZero() && (schedule.DayOf(actual) == day || schedule.DayOf(observed) == day) {
			return h.Name
		}
	}
	t.Fatalf("the library has no holiday on %s", day)
	return ""
}

func TestHolidaysFor(t *testing.T) {
	t.Parallel()
	first, last := mustDay(t, "2027-01-01"), mustDay(t, "2027-12-31")
	for _, tc := range []struct {
		country    string
		lib        []*cal.Holiday
		day        string
		substitute bool
	}{
		{"FR", fr.Holidays, "2027-07-14", false},
		{"DE", de.Holidays, "2027-10-03", false},
		{"ES", es.Holidays, "2027-10-12", false},
		{"GB", gb.Holidays, "2027-12-27", true}, // Christmas Day falls on a Saturday: observed on Monday 27
		{"GB", gb.Holidays, "2027-12-28", true}, // Boxing Day (Sunday): observed on Tuesday 28
		{"GB", gb.Holidays, "2027-12-25", false},
		{"BE", be.Holidays, "2027-07-21", false},
		{"CH", ch.Holidays, "2027-08-01", false},
		{"fr", fr.Holidays, "2027-11-11", false}, // lower case is the same country
		{"UK", gb.Holidays, "2027-08-30", false}, // UK is taken as GB
	} {
		t.Run(tc.country+tc.day, func(t *testing.T) {
			day := mustDay(t, tc.day)
			want := libraryName(t, tc.lib, day)
			list := holidaysFor(tc.country, first, last)
			var found *holiday
			for i := range list {
				if list[i].Day == day {
					found = &list[i]
				}
				if list[i].Day.Before(first) || last.Before(list[i].Day) {
					t.Errorf("%s is outside 2027", list[i].Day)
				}
				if i > 0 && !list[i-1].Day.Before(list[i].Day) {
					t.Errorf("not sorted by day, or %s twice", list[i].Day)
				}
			}
			if found == nil {
				t.Fatalf("%s: no holiday on %s in %+v", tc.country, day, list)
			}
			if found.Name != want || found.Substitute != tc.substitute {
				t.Fatalf("%s: got %q (substitute %v), want the library's %q (substitute %v)", day, found.Name, found.Substitute, want, tc.substitute)
			}
		})
	}
}

// Only nationwide holidays are proposed: Corpus Christi is regional in
// Germany and Switzerland, St Joseph's day too in Switzerland.
func TestHolidaysNationwideOnly(t *testing.T) {
	t.Parallel()
	first, last := mustDay(t, "2027-01-01"), mustDay(t, "2027-12-31")
	days := func(country string) map[string]string {
		out := map[string]string{}
		for _, h := range holidaysFor(country, first, last) {
			out[h.Day.String()] = h.Name
		}
		return out
	}
	de27, ch27 := days("DE"), days("CH")
	corpus, _ := de.Fronleichnam.Calc(2027)
	if _, ok := de27[schedule.DayOf(corpus).String()]; ok {
		t.Error("DE proposes Corpus Christi, a regional holiday")
	}
	if len(de27) != 9 {
		t.Errorf("DE 2027: %d holidays, want the 9 nationwide ones: %v", len(de27), de27)
	}
	for _, h := range []*cal.Holiday{ch.Josefstag, ch.Fronleichnam, ch.Berchtoldstag} {
		a, _ := h.Calc(2027)
		if _, ok := ch27[schedule.DayOf(a).String()]; ok {
			t.Errorf("CH proposes %s, a cantonal holiday", h.Name)
		}
	}
	for _, h := range []*cal.Holiday{ch.Neujahr, ch.Auffahrt, ch.Bundesfeiertag, ch.Weihnachtstag} {
		a, _ := h.Calc(2027)
		if ch27[schedule.DayOf(a).String()] != h.Name {
			t.Errorf("CH lacks %s", h.Name)
		}
	}
	if got := holidaysFor("US", first, last); len(got) != 0 {
		t.Errorf("an unsupported country gives %d holidays", len(got))
	}
	if _, ok := holidayCountry("US"); ok {
		t.Error("US reported as supported")
	}
	// A range over two years gives both years' holidays.
	span := holidaysFor("FR", mustDay(t, "2027-12-01"), mustDay(t, "2028-01-31"))
	if len(span) != 2 || span[0].Day.String() != "2027-12-25" || span[1].Day.String() != "2028-01-01" {
		t.Errorf("FR Dec 2027–Jan 2028: %+v", span)
	}
}

// setCountry changes the practice's country.
func setCountry(t *testing.T, ts *testServer, practiceID, country string) {
	t.Helper()
	ctx := context.Background()
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		p, err := tx.FindPracticeByID(ctx, practiceID)
		if err != nil {
			return err
		}
		st := p.Settings
		st.Country = country
		return tx.UpdateSettings(ctx, practiceID, st)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHolidaysAPI(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	tok := ts.token(t, e.sec)
	path := "/api/v1/practices/" + e.p.ID + "/holidays"
	for _, tc := range []struct{ country, day string }{
		{"FR", "2027-07-14"}, {"DE", "2027-10-03"}, {"ES", "2027-10-12"}, {"GB", "2027-12-27"}, {"BE", "2027-07-21"}, {"CH", "2027-08-01"},
	} {
		setCountry(t, ts, e.p.ID, tc.country)
		res := ts.api(t, "GET", path+"?year=2027", tok, nil)
		var list []struct {
			Date, Name string
			Blocked    bool
		}
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(res.Body), &list) != nil {
			t.Fatalf("%s: %d %s", tc.country, res.StatusCode, res.Body)
		}
		want := holidaysFor(tc.country, mustDay(t, "2027-01-01"), mustDay(t, "2027-12-31"))
		if len(list) != len(want) {
			t.Fatalf("%s: %d holidays, want %d", tc.country, len(list), len(want))
		}
		found := false
		for i, h := range list {
			if h.Date != want[i].Day.String() || h.Name != want[i].Name || h.Blocked {
				t.Errorf("%s: %+v, want %+v unblocked", tc.country, h, want[i])
			}
			found = found || h.Date == tc.day
		}
		if !found {
			t.Errorf("%s: %s missing", tc.country, tc.day)
		}
	}
	setCountry(t, ts, e.p.ID, "US")
	if res := ts.api(t, "GET", path+"?year=2027", tok, nil); res.StatusCode != http.StatusOK || strings.TrimSpace(res.Body) != "[]" {
		t.Fatalf("unsupported country: %d %s", res.StatusCode, res.Body)
	}
	for _, bad := range []string{"27", "abcd", "1999", "2101", "02027", "-2027"} {
		res := ts.api(t, "GET", path+"?year="+url.QueryEscape(bad), tok, nil)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `"field":"year"`) {
			t.Errorf("year %q: %d %s", bad, res.StatusCode, res.Body)
		}
	}
	// Without a year: this year.
	setCountry(t, ts, e.p.ID, "FR")
	res := ts.api(t, "GET", path, tok, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"date":"`+e.today.String()[:4]+`-07-14"`) {
		t.Fatalf("default year: %d %s", res.StatusCode, res.Body)
	}
	// A several-days absence over a holiday marks it blocked.
	var next holiday
	for _, h := range holidaysFor("FR", e.today.AddDays(1), holidayYearAfter(e.today)) {
		next = h
		break
	}
	form := url.Values{"mode": {"days"}, "first_day": {next.Day.AddDays(-1).String()}, "last_day": {next.Day.AddDays(1).String()}}
	if res := ts.post(t, e.secC, e.absences(), form); res.StatusCode != http.StatusOK {
		t.Fatalf("absence: %d", res.StatusCode)
	}
	res = ts.api(t, "GET", path+"?year="+next.Day.String()[:4], tok, nil)
	if !strings.Contains(res.Body, `"date":"`+next.Day.String()+`","name":"`+next.Name+`","blocked":true`) {
		t.Fatalf("the holiday inside the absence is not blocked: %s", res.Body)
	}
}

func TestHolidaysPageBlocksOnce(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	upcoming := holidaysFor("FR", e.today, holidayYearAfter(e.today))
	if len(upcoming) < 5 {
		t.Fatalf("only %d French holidays in the next 12 months", len(upcoming))
	}
	page := ts.get(t, e.secC, e.absences())
	if page.StatusCode != http.StatusOK {
		t.Fatal(page.StatusCode)
	}
	for _, h := range upcoming {
		if !strings.Contains(page.Body, `name="days" value="`+h.Day.String()+`" checked`) || !pageHas(page.Body, h.Name) {
			t.Errorf("the page does not propose %s (%s), checked", h.Day, h.Name)
		}
	}
	if !pageHas(page.Body, ts.text(t, "en", "blocks.holidays_submit")) {
		t.Error("no button to block the holidays")
	}

	// Block the first two (one of them twice in the same request).
	two := url.Values{"days": {upcoming[0].Day.String(), upcoming[1].Day.String(), upcoming[0].Day.String()}}
	res := ts.post(t, e.secC, "/pro/p/"+e.p.ID+"/holidays", two)
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, upcoming[0].Name) || !pageHas(res.Body, ts.text(t, "en", "blocks.result_holidays_title")) {
		t.Fatalf("block holidays: %d", res.StatusCode)
	}
	blocks := e.blocks(t)
	if len(blocks) != 2 {
		t.Fatalf("%d blocks, want 2", len(blocks))
	}
	for i, b := range blocks {
		h := upcoming[i]
		if b.Kind != "holiday" || b.Reason != h.Name || !b.Start.Equal(h.Day.Start(e.loc)) || !b.End.Equal(h.Day.AddDays(1).Start(e.loc)) || b.CreatedBy != e.sec.ID {
			t.Errorf("block %+v, want the whole of %s named %q", b, h.Day, h.Name)
		}
	}
	if n := ts.rows(t, "audit", "action = 'block.created'"); n != 2 {
		t.Errorf("%d audit entries, want 2", n)
	}
	// Again, with a third: the two already blocked are skipped.
	three := url.Values{"days": {upcoming[0].Day.String(), upcoming[1].Day.String(), upcoming[2].Day.String()}}
	res = ts.post(t, e.secC, "/pro/p/"+e.p.ID+"/holidays", three)
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, ts.text(t, "en", "blocks.result_skipped")) {
		t.Fatalf("second time: %d", res.StatusCode)
	}
	if blocks := e.blocks(t); len(blocks) != 3 {
		t.Fatalf("%d blocks after blocking twice, want 3", len(blocks))
	}
	// The page no longer proposes them.
	page = ts.get(t, e.secC, e.absences())
	for i, h := range upcoming {
		if got := strings.Contains(page.Body, `value="`+h.Day.String()+`"`); got != (i > 2) {
			t.Errorf("%s proposed = %v after blocking", h.Day, got)
		}
	}
}

// A holiday over a booked day: the appointment is listed and stays booked,
// the free slots are blocked.
func TestHolidaysConflicts(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	ctx := context.Background()
	var hol holiday
	for _, h := range holidaysFor("FR", e.today.AddDays(2), holidayYearAfter(e.today)) {
		if weekdayFrom(h.Day) == h.Day {
			hol = h
			break
		}
	}
	// Nights pass until the holiday is tomorrow, then a patient books it.
	ts.clock.Advance(time.Duration(hol.Day.Sub(e.today)-1) * 24 * time.Hour)
	if err := ts.srv.roll(ctx, ts.srv.clock()); err != nil {
		t.Fatal(err)
	}
	appt := bookFirstFree(t, ts, e.p, e.patient, 1)
	ts.login(t, e.secC, e.sec) // the session from weeks ago has expired
	if d := schedule.DayOf(appt.Start.In(e.loc)); d != hol.Day {
		t.Fatalf("booked on %s, want the holiday %s", d, hol.Day)
	}
	res := ts.post(t, e.secC, "/pro/p/"+e.p.ID+"/holidays", url.Values{"days": {hol.Day.String()}})
	if res.StatusCode != http.StatusOK || !pageHas(res.Body, "Pat Patient") || !pageHas(res.Body, ts.text(t, "en", "blocks.result_blocked", "Count", 23)) {
		t.Fatalf("%d", res.StatusCode)
	}
	if got := e.dayStates(t, hol.Day); got[store.SlotBlocked] != 23 || got[store.SlotBooked] != 1 {
		t.Fatalf("the holiday has %v", got)
	}
}

func TestHolidaysBadInput(t *testing.T) {
	t.Parallel()
	e := newBlocksEnv(t)
	ts := e.ts
	upcoming := holidaysFor("FR", e.today.AddDays(1), holidayYearAfter(e.today))
	past := holidaysFor("FR", e.today.AddDays(-400), e.today.AddDays(-1))
	notHoliday := e.today.AddDays(1)
	for {
		if _, ok := holidayOn("FR", notHoliday); !ok {
			break
		}
		notHoliday = notHoliday.AddDays(1)
	}
	many := url.Values{}
	for i := 0; i < 101; i++ {
		many.Add("days", upcoming[0].Day.String())
	}
	for _, tc := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"None", url.Values{}, "error.block_no_days"},
		{"Garbage", url.Values{"days": {upcoming[0].Day.String(), "soon"}}, "error.block_date"},
		{"LooseDate", url.Values{"days": {"2027-7-14"}}, "error.block_date"},
		{"NotAHoliday", url.Values{"days": {upcoming[0].Day.String(), notHoliday.String()}}, "error.block_not_holiday"},
		{"Past", url.Values{"days": {past[len(past)-1].Day.String()}}, "error.block_past"},
		{"TooMany", many, "error.block_too_many_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.post(t, e.secC, "/pro/p/"+e.p.ID+"/holidays", tc.form)
			if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", tc.msg)) {
				t.Fatalf("status %d, want 422 saying %q", res.StatusCode, ts.text(t, "en", tc.msg))
			}
		})
	}
	if n := ts.rows(t, "blocks"); n != 0 {
		t.Fatalf("%d blocks written by refused requests", n)
	}
	// A country without a calendar: the page says so and proposes nothing.
	setCountry(t, ts, e.p.ID, "US")
	page := ts.get(t, e.secC, e.absences())
	if page.StatusCode != http.StatusOK || !pageHas(page.Body, ts.text(t, "en", "blocks.holidays_unsupported", "Country", "US")) ||
		strings.Contains(page.Body, `name="days"`) {
		t.Fatalf("unsupported country page: %d", page.StatusCode)
	}
}
