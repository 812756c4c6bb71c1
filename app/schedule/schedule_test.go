package schedule

import (
	"fmt"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustWeek(t *testing.T, in map[string][][2]string) Week {
	t.Helper()
	w, err := ParseWeek(in)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func day(s string) Day {
	d, err := ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		end  bool
		want int
		code string
	}{
		{"09:00", false, 540, ""}, {"00:00", false, 0, ""}, {"23:59", false, 1439, ""}, {"24:00", true, 1440, ""},
		{"24:00", false, 0, "clock_range"}, {"9:00", false, 0, "clock_format"}, {"25:00", false, 0, "clock_range"},
		{"09:60", false, 0, "clock_range"}, {"0900", false, 0, "clock_format"}, {"9h00", false, 0, "clock_format"},
		{"", false, 0, "clock_format"}, {"+9:00", false, 0, "clock_format"}, {"09:-1", false, 0, "clock_format"},
	} {
		got, err := ParseClock(tc.in, tc.end)
		code := ""
		if err != nil {
			code = err.(*Error).Code
		}
		if code != tc.code || (code == "" && got != tc.want) {
			t.Errorf("ParseClock(%q, %v) = %d, %q; want %d, %q", tc.in, tc.end, got, code, tc.want, tc.code)
		}
	}
}

func TestParseWeek(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    map[string][][2]string
		field string
		code  string
	}{
		{"OK", map[string][][2]string{"mon": {{"14:00", "18:00"}, {"09:00", "12:00"}}, "sun": {}}, "", ""},
		{"ErrNineOClock", map[string][][2]string{"mon": {{"9:00", "12:00"}}}, "mon[0].start", "clock_format"},
		{"Err25", map[string][][2]string{"tue": {{"09:00", "25:00"}}}, "tue[0].end", "clock_range"},
		{"ErrEndBeforeStart", map[string][][2]string{"wed": {{"12:00", "09:00"}}}, "wed[0]", "end_before_start"},
		{"ErrEmptyRange", map[string][][2]string{"wed": {{"12:00", "12:00"}}}, "wed[0]", "end_before_start"},
		{"ErrOverlap", map[string][][2]string{"thu": {{"09:00", "13:00"}, {"12:00", "18:00"}}}, "thu[1]", "overlap"},
		{"ErrWeekday", map[string][][2]string{"lundi": {{"09:00", "12:00"}}}, "lundi", "weekday"},
		{"OKMidnightEnd", map[string][][2]string{"fri": {{"20:00", "24:00"}}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWeek(tc.in)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "OK" && (len(w[time.Monday]) != 2 || w[time.Monday][0].Start != 540) {
					t.Fatalf("not sorted: %+v", w)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Field != tc.field || e.Code != tc.code {
				t.Fatalf("got %v, want %s %s", err, tc.field, tc.code)
			}
		})
	}
}

// checkSlots asserts the properties every generation must have: sorted, no
// overlap, every slot inside the hours in wall-clock terms, durations ≤ slot.
func checkSlots(t *testing.T, slots []Slot, versions []Version, slotMinutes int, loc *time.Location) {
	t.Helper()
	seen := map[string]bool{}
	for i, s := range slots {
		if i > 0 && s.Start.Before(slots[i-1].End) && s.Location == slots[i-1].Location {
			t.Fatalf("slot %d %v overlaps %v", i, s.Start, slots[i-1].End)
		}
		if i > 0 && s.Start.Before(slots[i-1].Start) {
			t.Fatalf("slots not sorted at %d", i)
		}
		if d := s.End.Sub(s.Start); d <= 0 || d > time.Duration(slotMinutes)*time.Minute {
			t.Fatalf("slot %v lasts %v", s.Start, d)
		}
		if Outside(versions, loc, s.Start, s.End, s.Location) {
			t.Fatalf("slot %v–%v (%q) outside the hours", s.Start.In(loc), s.End.In(loc), s.Location)
		}
		wall := s.Start.In(loc).Format("2006-01-02 15:04") + s.Location
		if seen[wall] {
			t.Fatalf("wall-clock start %s duplicated", wall)
		}
		seen[wall] = true
		if s.Start.Location() != time.UTC {
			t.Fatalf("slot not in UTC")
		}
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	paris := mustLoc(t, "Europe/Paris")
	std := mustWeek(t, map[string][][2]string{
		"mon": {{"09:00", "12:00"}, {"14:00", "18:00"}}, "tue": {{"09:00", "12:00"}, {"14:00", "18:00"}},
		"wed": {{"09:00", "12:00"}}, "thu": {{"09:00", "12:00"}, {"14:00", "18:00"}},
		"fri": {{"09:00", "12:00"}, {"14:00", "18:00"}}, "sat": {{"09:00", "12:00"}},
	})
	hosp := mustWeek(t, map[string][][2]string{"wed": {{"14:00", "17:00"}}})
	from := day("2027-01-04") // a Monday
	for _, tc := range []struct {
		name string
		spec Spec
		slot int
		days int
		want int
	}{
		{"Std15min1Week", Spec{"": std}, 15, 7, (4*7 + 3*2) * 4},
		{"Std20min1Week", Spec{"": std}, 20, 7, (4*7 + 3*2) * 3},
		{"Std45min1Day", Spec{"": std}, 45, 1, 4 + 5}, // 3h → 4 slots, 4h → 5 slots
		{"WithHospital", Spec{"": std, "hosp": hosp}, 15, 7, (4*7+3*2)*4 + 12},
		{"Horizon90", Spec{"": std}, 15, 90, -1},
		{"Empty", Spec{}, 15, 7, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			versions := []Version{{From: from, Spec: tc.spec}}
			slots := Generate(versions, from, from.AddDays(tc.days-1), tc.slot, paris)
			if tc.want >= 0 && len(slots) != tc.want {
				t.Fatalf("%d slots, want %d", len(slots), tc.want)
			}
			checkSlots(t, slots, versions, tc.slot, paris)
		})
	}
	t.Run("VersionsApplyFromTheirDay", func(t *testing.T) {
		later := mustWeek(t, map[string][][2]string{"mon": {{"10:00", "11:00"}}})
		versions := []Version{{From: from, Spec: Spec{"": std}}, {From: from.AddDays(7), Spec: Spec{"": later}}}
		slots := Generate(versions, from, from.AddDays(13), 15, paris)
		if want := (4*7+3*2)*4 + 4; len(slots) != want {
			t.Fatalf("%d slots, want %d", len(slots), want)
		}
		checkSlots(t, slots, versions, 15, paris)
	})
	t.Run("NoVersionBeforeFrom", func(t *testing.T) {
		versions := []Version{{From: from.AddDays(3), Spec: Spec{"": std}}}
		if n := len(Generate(versions, from, from.AddDays(2), 15, paris)); n != 0 {
			t.Fatalf("%d slots before the first version", n)
		}
	})
}

// TestGenerateDST covers both transitions in Paris and New York with hours
// spanning 01:00–04:00 on those Sundays.
func TestGenerateDST(t *testing.T) {
	t.Parallel()
	night := map[string][][2]string{"sun": {{"01:00", "04:00"}}}
	for _, tc := range []struct {
		zone, day string
		slot      int
		want      []string // local starts
	}{
		// Clocks go forward 02:00 → 03:00: 02:xx does not exist.
		{"Europe/Paris", "2027-03-28", 30, []string{"01:00", "01:30", "03:00", "03:30"}},
		// Clocks go back 03:00 → 02:00: 02:xx happens twice, slots once.
		{"Europe/Paris", "2027-10-31", 30, []string{"01:00", "01:30", "02:00", "02:30", "03:00", "03:30"}},
		{"America/New_York", "2027-03-14", 30, []string{"01:00", "01:30", "03:00", "03:30"}},
		{"America/New_York", "2027-11-07", 30, []string{"01:00", "01:30", "02:00", "02:30", "03:00", "03:30"}},
		{"Europe/Paris", "2027-03-28", 60, []string{"01:00", "03:00"}},
		{"America/New_York", "2027-11-07", 45, []string{"01:00", "01:45", "02:30", "03:15"}},
		// An ordinary Sunday for comparison.
		{"Europe/Paris", "2027-04-04", 60, []string{"01:00", "02:00", "03:00"}},
	} {
		t.Run(fmt.Sprintf("%s/%s/%d", tc.zone, tc.day, tc.slot), func(t *testing.T) {
			loc := mustLoc(t, tc.zone)
			d := day(tc.day)
			versions := []Version{{From: d, Spec: Spec{"": mustWeek(t, night)}}}
			slots := Generate(versions, d, d, tc.slot, loc)
			var got []string
			for _, s := range slots {
				got = append(got, s.Start.In(loc).Format("15:04"))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("starts %v, want %v", got, tc.want)
			}
			checkSlots(t, slots, versions, tc.slot, loc)
			for _, s := range slots {
				if s.Day != d {
					t.Fatalf("slot day %v", s.Day)
				}
			}
		})
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	paris := mustLoc(t, "Europe/Paris")
	if _, ok := Local(day("2027-03-28"), 2*60+30, paris); ok {
		t.Error("02:30 exists on the spring-forward day")
	}
	first, ok := Local(day("2027-10-31"), 2*60+30, paris)
	if !ok || first.In(paris).Format("15:04 MST") != "02:30 CEST" {
		t.Errorf("ambiguous 02:30 gave %v, want the first occurrence (CEST)", first.In(paris))
	}
	if d := day("2027-03-28").Start(paris); d.In(paris).Format("15:04") != "00:00" {
		t.Errorf("day start %v", d)
	}
}

func TestStarts(t *testing.T) {
	t.Parallel()
	base := time.Date(2027, 1, 4, 8, 0, 0, 0, time.UTC)
	mk := func(pattern string) []Cell {
		var cells []Cell
		for i, c := range pattern {
			if c == ' ' {
				continue // a gap in time: the next cell is not contiguous
			}
			s := base.Add(time.Duration(i) * 15 * time.Minute)
			cells = append(cells, Cell{ID: fmt.Sprint(i), Start: s, End: s.Add(15 * time.Minute), Free: c == 'f'})
		}
		return cells
	}
	for _, tc := range []struct {
		pattern string
		need    int
		want    string
	}{
		{"ffff", 1, "[0 1 2 3]"},
		{"ffff", 2, "[0 1 2]"},
		{"ffbf", 2, "[0]"},
		{"ff ff", 2, "[0 3]"},
		{"ff ff", 3, "[]"},
		{"bbbb", 1, "[]"},
		{"fffbfff", 3, "[0 4]"},
	} {
		var got []string
		for _, c := range Starts(mk(tc.pattern), tc.need) {
			got = append(got, c.ID)
		}
		if s := fmt.Sprint(got); s != tc.want && !(tc.want == "[]" && got == nil) {
			t.Errorf("Starts(%q, %d) = %s, want %s", tc.pattern, tc.need, s, tc.want)
		}
	}
	if n := SlotsNeeded(30, 10, 15); n != 3 {
		t.Errorf("SlotsNeeded(30, 10, 15) = %d", n)
	}
}

func BenchmarkGenerate180Days(b *testing.B) {
	paris, _ := time.LoadLocation("Europe/Paris")
	w, _ := ParseWeek(map[string][][2]string{
		"mon": {{"09:00", "13:00"}, {"14:00", "18:00"}}, "tue": {{"09:00", "13:00"}, {"14:00", "18:00"}},
		"wed": {{"09:00", "13:00"}, {"14:00", "18:00"}}, "thu": {{"09:00", "13:00"}, {"14:00", "18:00"}},
		"fri": {{"09:00", "13:00"}, {"14:00", "18:00"}}, "sat": {{"09:00", "13:00"}, {"14:00", "18:00"}},
	})
	from := Day{2027, 1, 4}
	v := []Version{{From: from, Spec: Spec{"": w}}}
	var n int
	for b.Loop() {
		n = len(Generate(v, from, from.AddDays(179), 15, paris))
	}
	b.ReportMetric(float64(n), "slots")
}
