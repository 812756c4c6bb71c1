// Package schedule is the pure maths of the rolling planning: weekly hours,
// their versions, slot generation in a practice's time zone (DST included),
// and the bookable starts of an appointment type. Nothing here reads a clock
// or a database: callers pass days, zones and slots in.
//
//	week, err := schedule.ParseWeek(map[string][][2]string{"mon": {{"09:00", "12:00"}}})
//	slots := schedule.Generate([]schedule.Version{{From: day, Spec: schedule.Spec{"": week}}},
//		day, day.AddDays(89), 15, paris)
package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Day is a calendar date without a zone (a practice's local date).
type Day struct {
	Y int
	M time.Month
	D int
}

// ParseDay parses YYYY-MM-DD strictly.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil || t.Format("2006-01-02") != s {
		return Day{}, fmt.Errorf("schedule: %q is not a YYYY-MM-DD date", s)
	}
	return DayOf(t), nil
}

// DayOf returns the calendar date of t in t's location.
func DayOf(t time.Time) Day {
	y, m, d := t.Date()
	return Day{y, m, d}
}

// String formats the day as YYYY-MM-DD.
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Y, d.M, d.D) }

// IsZero tells whether d is the zero Day.
func (d Day) IsZero() bool { return d == Day{} }

// AddDays returns the day n days later (earlier when n < 0).
func (d Day) AddDays(n int) Day { return DayOf(time.Date(d.Y, d.M, d.D+n, 12, 0, 0, 0, time.UTC)) }

// Weekday returns the day of the week.
func (d Day) Weekday() time.Weekday { return time.Date(d.Y, d.M, d.D, 12, 0, 0, 0, time.UTC).Weekday() }

// Before tells whether d comes before e.
func (d Day) Before(e Day) bool { return d.String() < e.String() }

// Sub returns the number of days from e to d.
func (d Day) Sub(e Day) int {
	a := time.Date(d.Y, d.M, d.D, 12, 0, 0, 0, time.UTC)
	b := time.Date(e.Y, e.M, e.D, 12, 0, 0, 0, time.UTC)
	return int(a.Sub(b).Hours() / 24)
}

// Start returns the first instant of the day in loc (midnight, or the first
// existing instant when midnight does not exist there).
func (d Day) Start(loc *time.Location) time.Time {
	for m := 0; m < 24*60; m++ {
		if t, ok := Local(d, m, loc); ok {
			return t
		}
	}
	return time.Date(d.Y, d.M, d.D, 0, 0, 0, 0, loc)
}

// Error is a validation failure: Code names it for the catalogue
// ("clock_format", "end_before_start", …), Field says where.
type Error struct {
	Field string
	Code  string
}

func (e *Error) Error() string { return "schedule: " + e.Field + ": " + e.Code }

// ParseClock parses a strict two-digit 24-hour "HH:MM" into minutes after
// midnight; "24:00" is accepted only when end is true.
func ParseClock(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, &Error{Code: "clock_format"}
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] < '0' || s[0] > '9' || s[3] < '0' || s[3] > '9' {
		return 0, &Error{Code: "clock_format"}
	}
	if h == 24 && m == 0 && end {
		return 24 * 60, nil
	}
	if h > 23 || m > 59 {
		return 0, &Error{Code: "clock_range"}
	}
	return h*60 + m, nil
}

// FormatClock formats minutes after midnight as HH:MM.
func FormatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Range is a span of a day in minutes after midnight, [Start, End).
type Range struct{ Start, End int }

// Week is the weekly hours: the ranges worked on each weekday, sorted.
type Week map[time.Weekday][]Range

// WeekdayKeys are the JSON keys of a week, Monday first.
var WeekdayKeys = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

var weekdayOf = map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}

// KeyOf returns the JSON key of a weekday.
func KeyOf(d time.Weekday) string { return WeekdayKeys[(int(d)+6)%7] }

// ParseWeek validates the API form of a week ({"mon":[["09:00","12:00"],…]}):
// strict HH:MM times, end after start, no overlap within a day. A missing
// day is not worked. Errors name the field as "mon[0].start" and so on.
func ParseWeek(in map[string][][2]string) (Week, error) {
	w := Week{}
	// Unknown keys first, then the days in week order: the first error
	// reported is the same on every run.
	var unknown []string
	for key := range in {
		if _, ok := weekdayOf[key]; !ok {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &Error{Field: unknown[0], Code: "weekday"}
	}
	for _, key := range WeekdayKeys {
		ranges, ok := in[key]
		if !ok {
			continue
		}
		wd := weekdayOf[key]
		for i, r := range ranges {
			f := fmt.Sprintf("%s[%d]", key, i)
			start, err := ParseClock(r[0], false)
			if err != nil {
				return nil, &Error{Field: f + ".start", Code: err.(*Error).Code}
			}
			end, err := ParseClock(r[1], true)
			if err != nil {
				return nil, &Error{Field: f + ".end", Code: err.(*Error).Code}
			}
			if end <= start {
				return nil, &Error{Field: f, Code: "end_before_start"}
			}
			w[wd] = append(w[wd], Range{start, end})
		}
		sort.Slice(w[wd], func(i, j int) bool { return w[wd][i].Start < w[wd][j].Start })
		for i := 1; i < len(w[wd]); i++ {
			if w[wd][i].Start < w[wd][i-1].End {
				return nil, &Error{Field: fmt.Sprintf("%s[%d]", key, i), Code: "overlap"}
			}
		}
	}
	return w, nil
}

// Format returns the API form of the week (every weekday present).
func (w Week) Format() map[string][][2]string {
	out := map[string][][2]string{}
	for _, k := range WeekdayKeys {
		out[k] = [][2]string{}
		for _, r := range w[weekdayOf[k]] {
			out[k] = append(out[k], [2]string{FormatClock(r.Start), FormatClock(r.End)})
		}
	}
	return out
}

// Minutes returns the worked minutes of the week.
func (w Week) Minutes() int {
	n := 0
	for _, rs := range w {
		for _, r := range rs {
			n += r.End - r.Start
		}
	}
	return n
}

// Spec is the hours of every location of a practice: "" is the main office.
type Spec map[string]Week

// CheckLocations refuses a spec whose locations overlap on a weekday: a
// practitioner is in one place at a time.
func (s Spec) CheckLocations() error {
	for _, wd := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		type own struct {
			r   Range
			loc string
		}
		var all []own
		for loc, w := range s {
			for _, r := range w[wd] {
				all = append(all, own{r, loc})
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].r.Start < all[j].r.Start })
		for i := 1; i < len(all); i++ {
			if all[i].r.Start < all[i-1].r.End {
				return &Error{Field: KeyOf(wd), Code: "locations_overlap"}
			}
		}
	}
	return nil
}

// Version is a spec that applies from a day on (until the next version).
type Version struct {
	From Day
	Spec Spec
}

// At returns the spec that applies on day, or nil when no version covers it.
// versions must be sorted by From.
func At(versions []Version, day Day) Spec {
	var s Spec
	for _, v := range versions {
		if day.Before(v.From) {
			break
		}
		s = v.Spec
	}
	return s
}

// Slot is one generated cell of the planning.
type Slot struct {
	Start, End time.Time // UTC
	Location   string
	Day        Day
}

// Local returns the instant at minutes after midnight of day in loc, and
// false when that wall-clock time does not exist there (the hour skipped when
// clocks go forward). A wall-clock time that happens twice (clocks go back)
// gives its first occurrence, so generation never duplicates a slot.
func Local(day Day, minutes int, loc *time.Location) (time.Time, bool) {
	h, m := minutes/60, minutes%60
	wall := time.Date(day.Y, day.M, day.D, h, m, 0, 0, time.UTC)
	// The offsets in force around that day: at most two on a DST day.
	var best time.Time
	found := false
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		t := wall.Add(-time.Duration(off) * time.Second)
		lt := t.In(loc)
		if lt.Hour() != h || lt.Minute() != m || lt.Day() != day.D {
			continue
		}
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	return best.UTC(), found
}

// Generate materialises the slots of days from..to (inclusive) in loc: for
// each day, the version of the hours in force; for each location and range,
// one slot per slotMinutes of wall-clock time. Slots whose start does not
// exist (DST gap) are skipped; a slot ends slotMinutes of real time after it
// starts, cut at the end of its range; slots never overlap. The result is
// sorted by start.
func Generate(versions []Version, from, to Day, slotMinutes int, loc *time.Location) []Slot {
	if slotMinutes <= 0 {
		return nil
	}
	var out []Slot
	for d := from; !to.Before(d); d = d.AddDays(1) {
		spec := At(versions, d)
		for location, week := range spec {
			for _, r := range week[d.Weekday()] {
				var prevEnd time.Time
				for m := r.Start; m+slotMinutes <= r.End; m += slotMinutes {
					start, ok := Local(d, m, loc)
					if !ok {
						continue
					}
					end := start.Add(time.Duration(slotMinutes) * time.Minute)
					if rangeEnd, ok := Local(d, r.End, loc); ok && r.End < 24*60 && end.After(rangeEnd) {
						end = rangeEnd
					}
					// Clocks going back replay wall times: a start already
					// covered by the previous slot would overlap it.
					if !prevEnd.IsZero() && start.Before(prevEnd) {
						continue
					}
					if !end.After(start) {
						continue
					}
					out = append(out, Slot{Start: start, End: end, Location: location, Day: d})
					prevEnd = end
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Location < out[j].Location
	})
	return out
}

// Count returns how many slots Generate would make, without making them.
func Count(versions []Version, from, to Day, slotMinutes int, loc *time.Location) int {
	return len(Generate(versions, from, to, slotMinutes, loc))
}

// SlotsNeeded is how many consecutive slots an appointment of minutes plus a
// buffer after it occupies.
func SlotsNeeded(minutes, bufferMinutes, slotMinutes int) int {
	if slotMinutes <= 0 {
		return 0
	}
	total := minutes + bufferMinutes
	return (total + slotMinutes - 1) / slotMinutes
}

// Cell is a stored slot with its state, as the free-start search needs it.
type Cell struct {
	ID         string
	Start, End time.Time
	Location   string
	Free       bool
}

// Starts returns the cells at which need consecutive free cells begin:
// same location, each starting where the previous ends. cells must be
// sorted by (location, start) or by start with one location.
func Starts(cells []Cell, need int) []Cell {
	if need <= 0 {
		return nil
	}
	out := make([]Cell, 0, len(cells))
	run := 0 // length of the current run of contiguous free cells ending at i
	for i, c := range cells {
		contiguous := i > 0 && cells[i-1].Location == c.Location && cells[i-1].End.Equal(c.Start)
		switch {
		case !c.Free:
			run = 0
		case contiguous && run > 0:
			run++
		default:
			run = 1
		}
		if run >= need {
			out = append(out, cells[i-need+1])
		}
	}
	return out
}

// SortCells sorts cells by location, then start (the order Starts needs
// when a practice has several locations).
func SortCells(cells []Cell) {
	sort.SliceStable(cells, func(i, j int) bool {
		if cells[i].Location != cells[j].Location {
			return cells[i].Location < cells[j].Location
		}
		return cells[i].Start.Before(cells[j].Start)
	})
}

// Outside tells whether [start, end) at location falls outside the hours
// in force on its local day (an appointment the new hours no longer cover).
func Outside(versions []Version, loc *time.Location, start, end time.Time, location string) bool {
	day := DayOf(start.In(loc))
	w, ok := At(versions, day)[location]
	if !ok {
		return true
	}
	for _, r := range w[day.Weekday()] {
		rs, ok := Local(day, r.Start, loc)
		if !ok {
			rs = firstAfter(day, r.Start, loc)
		}
		re := day.AddDays(1).Start(loc)
		if r.End < 24*60 {
			var ok bool
			if re, ok = Local(day, r.End, loc); !ok {
				re = firstAfter(day, r.End, loc)
			}
		}
		if !start.Before(rs) && !end.After(re) {
			return false
		}
	}
	return true
}

// firstAfter returns the first existing instant at or after minutes of day.
func firstAfter(day Day, minutes int, loc *time.Location) time.Time {
	for m := minutes; m < 24*60; m++ {
		if t, ok := Local(day, m, loc); ok {
			return t
		}
	}
	return day.AddDays(1).Start(loc)
}
