package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// The weekly hours (page and API), the one-time initial generation with its
// progress, and the record of every generation and nightly roll for the
// admin. The use cases themselves live in planning.go.

const (
	// generateWait is how long a generation request waits for the run to
	// finish before it answers "still running" with a status page or URL.
	generateWait = 1500 * time.Millisecond
	// hoursMaxParts bounds the ranges per weekday the page reads.
	hoursMaxParts = 8
	// hoursMaxAhead bounds how far ahead new hours may start.
	hoursMaxAhead = 730
	// staleRun is how long a "running" generation blocks another one: a run
	// left running by a crash (its transaction rolled back) stops counting.
	staleRun = 10 * time.Minute
)

// hoursRoutes are the hours and planning generation pages and API.
func (s *Server) hoursRoutes() []route {
	return []route{
		{method: "GET", path: "/pro/p/{id}/hours", perm: PermPracticeAdmin, practice: "id", h: s.handleHours},
		{method: "POST", path: "/pro/p/{id}/hours", perm: PermPracticeAdmin, practice: "id", h: s.handleHoursSubmit},
		{method: "GET", path: "/pro/p/{id}/planning", perm: PermPracticeAdmin, practice: "id", h: s.handlePlanning},
		{method: "POST", path: "/pro/p/{id}/planning/generate", perm: PermPracticeAdmin, practice: "id", h: s.handlePlanningGenerate},
		{method: "GET", path: "/pro/p/{id}/planning/runs/{run}", perm: PermPracticeAdmin, practice: "id", h: s.handlePlanningRun},
		{method: "GET", path: "/admin/planning", perm: PermAdmin, h: s.handleAdminPlanning},
		{method: "POST", path: "/admin/planning/roll", perm: PermAdmin, h: s.handleAdminPlanningRoll},
		{method: "GET", path: "/api/v1/practices/{id}/hours", perm: PermPracticeAdmin, practice: "id", h: s.handleAPIHours},
		{method: "PUT", path: "/api/v1/practices/{id}/hours", perm: PermPracticeAdmin, practice: "id", h: s.handleAPIHoursPut},
		{method: "POST", path: "/api/v1/practices/{id}/planning/generate", perm: PermPracticeAdmin, practice: "id", h: s.handleAPIGenerate},
		{method: "GET", path: "/api/v1/practices/{id}/planning/runs/{run}", perm: PermPracticeAdmin, practice: "id", h: s.handleAPIRun},
	}
}

// --- Validation, shared by the page and the API -------------------------

// hoursRange is one range as submitted. Part is its place in the form
// (0 morning, 1 afternoon, …) or in the API's list for that day.
type hoursRange struct {
	Part       int
	Start, End string
}

// hoursDraft is submitted hours: place ("" the main office, else a location
// id) → weekday key → ranges.
type hoursDraft map[string]map[string][]hoursRange

// hoursProblem is one thing wrong with a draft, with what a message needs
// to name it.
type hoursProblem struct {
	Code  string // a schedule.Error code, or "incomplete"
	Place string
	Day   string // weekday key (or the unknown key, for "weekday")
	Part  int    // -1: the whole day
	Edge  string // "start", "end" or ""
	Value string
	// For overlaps: the two ranges at fault, with their places.
	A, B           hoursRange
	PlaceA, PlaceB string
}

var weekdayIndex = func() map[string]int {
	m := map[string]int{}
	for i, k := range schedule.WeekdayKeys {
		m[k] = i
	}
	return m
}()

// checkHours validates a draft with the schedule package's rules (strict
// hh:mm, end after start, no overlap within a day or between places) and
// returns the spec, or every problem it found, in reading order.
func checkHours(d hoursDraft) (schedule.Spec, []hoursProblem) {
	var probs []hoursProblem
	hs := hoursSpec{}
	places := make([]string, 0, len(d))
	for p := range d {
		places = append(places, p)
	}
	sort.Strings(places) // "" (the main office) first
	for _, place := range places {
		hs[place] = map[string][][2]string{}
		keys := make([]string, 0, len(d[place]))
		for k := range d[place] {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, aok := weekdayIndex[keys[i]]
			b, bok := weekdayIndex[keys[j]]
			if aok != bok {
				return !aok // unknown keys first
			}
			if !aok {
				return keys[i] < keys[j]
			}
			return a < b
		})
		for _, key := range keys {
			ranges := d[place][key]
			if _, ok := weekdayIndex[key]; !ok {
				probs = append(probs, hoursProblem{Code: "weekday", Place: place, Day: key, Part: -1})
				continue
			}
			dayOK := true
			var week [][2]string
			for _, r := range ranges {
				if r.Start == "" || r.End == "" {
					probs = append(probs, hoursProblem{Code: "incomplete", Place: place, Day: key, Part: r.Part})
					dayOK = false
					continue
				}
				_, err := schedule.ParseWeek(map[string][][2]string{key: {{r.Start, r.End}}})
				var se *schedule.Error
				if errors.As(err, &se) {
					pr := hoursProblem{Code: se.Code, Place: place, Day: key, Part: r.Part, A: r}
					switch {
					case strings.HasSuffix(se.Field, ".start"):
						pr.Edge, pr.Value = "start", r.Start
					case strings.HasSuffix(se.Field, ".end"):
						pr.Edge, pr.Value = "end", r.End
					}
					probs = append(probs, pr)
					dayOK = false
					continue
				}
				week = append(week, [2]string{r.Start, r.End})
			}
			if !dayOK {
				continue
			}
			if _, err := schedule.ParseWeek(map[string][][2]string{key: week}); err != nil {
				pr := hoursProblem{Code: "overlap", Place: place, Day: key, Part: -1, PlaceA: place, PlaceB: place}
				pr.A, pr.B, _ = firstOverlap(ranges)
				probs = append(probs, pr)
				continue
			}
			hs[place][key] = week
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	spec, err := parseSpec(hs)
	if err == nil {
		return spec, nil
	}
	var se *schedule.Error
	if !errors.As(err, &se) {
		return nil, []hoursProblem{{Code: "clock_format", Part: -1}}
	}
	pr := hoursProblem{Code: se.Code, Day: se.Field, Part: -1}
	if se.Code == "locations_overlap" {
		pr.PlaceA, pr.A, pr.PlaceB, pr.B = placesOverlap(d, se.Field)
		pr.Place = pr.PlaceB
	}
	return nil, []hoursProblem{pr}
}

// clockOf parses a valid start or end; callers have validated it.
func clockOf(s string, end bool) int {
	m, _ := schedule.ParseClock(s, end)
	return m
}

// firstOverlap returns two ranges of one day that overlap.
func firstOverlap(rs []hoursRange) (hoursRange, hoursRange, bool) {
	sorted := append([]hoursRange(nil), rs...)
	sort.SliceStable(sorted, func(i, j int) bool { return clockOf(sorted[i].Start, false) < clockOf(sorted[j].Start, false) })
	for i := 1; i < len(sorted); i++ {
		if clockOf(sorted[i].Start, false) < clockOf(sorted[i-1].End, true) {
			return sorted[i-1], sorted[i], true
		}
	}
	return hoursRange{}, hoursRange{}, false
}

// placesOverlap names two places whose ranges overlap on a weekday.
func placesOverlap(d hoursDraft, day string) (string, hoursRange, string, hoursRange) {
	type own struct {
		place string
		r     hoursRange
	}
	var all []own
	for place, days := range d {
		for _, r := range days[day] {
			all = append(all, own{place, r})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := clockOf(all[i].r.Start, false), clockOf(all[j].r.Start, false)
		if a != b {
			return a < b
		}
		return all[i].place < all[j].place
	})
	for i := 1; i < len(all); i++ {
		if clockOf(all[i].r.Start, false) < clockOf(all[i-1].r.End, true) {
			a, b := all[i-1], all[i]
			if b.place == "" { // name the main office first
				a, b = b, a
			}
			return a.place, a.r, b.place, b.r
		}
	}
	return "", hoursRange{}, "", hoursRange{}
}

var clockHintRe = regexp.MustCompile(`^(\d{1,2})(?:\s*[:hH.]\s*(\d{2}))?$|^(\d{2})(\d{2})$`)

// clockHint proposes the hh:mm form of a time written loosely (9:00, 9h,
// 0900), or "" when it cannot tell.
func clockHint(v string) string {
	m := clockHintRe.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return ""
	}
	hs, ms := m[1], m[2]
	if m[3] != "" {
		hs, ms = m[3], m[4]
	}
	h, _ := strconv.Atoi(hs)
	mi := 0
	if ms != "" {
		mi, _ = strconv.Atoi(ms)
	}
	if h > 24 || mi > 59 || (h == 24 && mi > 0) {
		return ""
	}
	return fmt.Sprintf("%02d:%02d", h, mi)
}

// hoursNamer turns problems into localized messages: the page names the
// ranges "morning" and "afternoon", the API "range 1", "range 2"…
type hoursNamer struct {
	t     func(id string, args ...any) string
	api   bool
	place func(id string) string
}

func (n hoursNamer) day(key string) string {
	if _, ok := weekdayIndex[key]; ok {
		return n.t("hours.day." + key)
	}
	return key
}

func (n hoursNamer) part(i int) string {
	if !n.api && i == 0 {
		return n.t("hours.part_morning")
	}
	if !n.api && i == 1 {
		return n.t("hours.part_afternoon")
	}
	return n.t("hours.part_n", "N", i+1)
}

func span(r hoursRange) string { return r.Start + "–" + r.End }

// message returns the catalogue id and arguments of a problem.
func (n hoursNamer) message(pr hoursProblem) (string, []any) {
	day := n.day(pr.Day)
	value := truncate(pr.Value, 16)
	switch pr.Code {
	case "weekday":
		return "error.hours_weekday", []any{"Key", truncate(pr.Day, 16)}
	case "incomplete":
		return "error.hours_incomplete", []any{"Day", day, "Part", n.part(pr.Part)}
	case "range_shape":
		return "error.hours_range_shape", []any{"Day", day, "Part", n.part(pr.Part)}
	case "clock_format":
		if pr.Part < 0 {
			break
		}
		if h := clockHint(pr.Value); h != "" {
			return "error.hours_clock_format", []any{"Day", day, "Part", n.part(pr.Part), "Value", value, "Hint", h}
		}
		return "error.hours_clock_format_plain", []any{"Day", day, "Part", n.part(pr.Part), "Value", value}
	case "clock_range":
		return "error.hours_clock_range", []any{"Day", day, "Part", n.part(pr.Part), "Value", value}
	case "end_before_start":
		return "error.hours_end_before_start", []any{"Day", day, "Part", n.part(pr.Part), "Start", pr.A.Start, "End", pr.A.End}
	case "overlap":
		return "error.hours_overlap", []any{"Day", day, "First", n.part(pr.A.Part), "FirstRange", span(pr.A),
			"Second", n.part(pr.B.Part), "SecondRange", span(pr.B)}
	case "locations_overlap":
		return "error.hours_locations_overlap", []any{"Day", day, "First", n.place(pr.PlaceA), "FirstRange", span(pr.A),
			"Second", n.place(pr.PlaceB), "SecondRange", span(pr.B)}
	}
	return "error.hours_invalid", nil
}

// apiField names the JSON property at fault.
func (pr hoursProblem) apiField() string {
	f := "weekly"
	if pr.Place != "" {
		f = "locations." + pr.Place
	}
	if pr.Day == "" {
		return f
	}
	f += "." + pr.Day
	if pr.Part >= 0 {
		f += "[" + strconv.Itoa(pr.Part) + "]"
		if pr.Edge != "" {
			f += "." + pr.Edge
		}
	}
	return f
}

// formKey is the form field of a place's range edge ("h.main.mon.0.from").
func formKey(place, day string, part int, edge string) string {
	if place == "" {
		place = "main"
	}
	return "h." + place + "." + day + "." + strconv.Itoa(part) + "." + edge
}

// checkFrom validates the day new hours apply from: "" means today before
// the initial generation, tomorrow after it; never before today.
func (s *Server) checkFrom(p *store.Practice, v string) (schedule.Day, *Error) {
	today := s.today(p, s.clock())
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultFrom(p, today), nil
	}
	d, err := schedule.ParseDay(v)
	if err != nil {
		e := errorf(ECodeInvalid, "error.hours_from_format")
		e.Field = "from"
		return d, e
	}
	if d.Before(today) {
		e := errorf(ECodeInvalid, "error.hours_from_past")
		e.Field = "from"
		return d, e
	}
	if today.AddDays(hoursMaxAhead).Before(d) {
		e := errorf(ECodeInvalid, "error.hours_from_far", "Days", hoursMaxAhead)
		e.Field = "from"
		return d, e
	}
	return d, nil
}

func defaultFrom(p *store.Practice, today schedule.Day) schedule.Day {
	if p.GeneratedAt.IsZero() {
		return today
	}
	return today.AddDays(1)
}

// --- The hours page ------------------------------------------------------

type hoursPage struct {
	*Page
	PracticeID   string
	PracticeName string
	Parts        []string // column headings
	Places       []hoursPlaceView
	From         string
	MinFrom      string
	Generated    bool
	PlannedUntil string
	Current      *hoursVersionView
	Shown        string // the start of the version the form shows, when not the current one
	Versions     []hoursVersionView
}

// Cols is the number of columns of the hours tables.
func (p *hoursPage) Cols() int { return len(p.Parts) + 1 }

type hoursPlaceView struct {
	Key, Name string
	Days      []hoursDayView
}

type hoursDayView struct {
	Key, Name string
	Cells     []hoursCellView
	Errors    []string
}

type hoursCellView struct {
	Part                           string // shown above the inputs on narrow screens, where the column headings are hidden
	FromName, ToName, FromID, ToID string
	FromLabel, ToLabel             string
	From, To                       string
	FromBad, ToBad                 bool
}

type hoursVersionView struct {
	Day, From string
	State     string // past | current | future
	Places    []hoursVersionPlace
}

type hoursVersionPlace struct {
	Name string
	Days []hoursVersionDay
}

type hoursVersionDay struct{ Name, Ranges string }

// hoursPlaceRef is a place the practitioner receives at: "" the main office.
type hoursPlaceRef struct{ ID, Name string }

// hoursContext loads what the hours page and API need about a practice.
type hoursContext struct {
	p        *store.Practice
	places   []hoursPlaceRef
	versions []schedule.Version
	today    schedule.Day
}

func (s *Server) loadHours(ctx context.Context, id string, mainName string) (*hoursContext, error) {
	p, err := s.db.FindPracticeByID(ctx, id)
	if err != nil {
		return nil, err
	}
	locs, err := s.db.Locations(ctx, id)
	if err != nil {
		return nil, err
	}
	versions, err := s.versions(ctx, id)
	if err != nil {
		return nil, err
	}
	hc := &hoursContext{p: p, versions: versions, today: s.today(p, s.clock()), places: []hoursPlaceRef{{"", mainName}}}
	for _, l := range locs {
		hc.places = append(hc.places, hoursPlaceRef{l.ID, l.Name})
	}
	return hc, nil
}

func (hc *hoursContext) placeName(id string) string {
	for _, pl := range hc.places {
		if pl.ID == id {
			return pl.Name
		}
	}
	return id
}

// current returns the index of the version in force today, or -1.
func (hc *hoursContext) current() int {
	cur := -1
	for i, v := range hc.versions {
		if !hc.today.Before(v.From) {
			cur = i
		}
	}
	return cur
}

func (s *Server) newHoursPage(w http.ResponseWriter, r *http.Request, titleID string) (*hoursPage, *hoursContext, bool) {
	p := &hoursPage{Page: s.newPage(w, r, titleID)}
	hc, err := s.loadHours(r.Context(), r.PathValue("id"), p.T("hours.main_office"))
	if err != nil {
		s.error(w, r, err)
		return nil, nil, false
	}
	pr := hc.p
	p.PracticeID, p.PracticeName, p.Generated = pr.ID, pr.Name, !pr.GeneratedAt.IsZero()
	p.MinFrom = hc.today.String()
	p.From = defaultFrom(pr, hc.today).String()
	if d, err := schedule.ParseDay(pr.PlannedUntil); err == nil {
		p.PlannedUntil = formatDate(p.Lang, d.Start(time.UTC), time.UTC)
	}
	cur := hc.current()
	for i, v := range hc.versions {
		vv := hoursVersionView{Day: v.From.String(), From: formatDate(p.Lang, v.From.Start(time.UTC), time.UTC), State: "past"}
		switch {
		case i == cur:
			vv.State = "current"
		case hc.today.Before(v.From):
			vv.State = "future"
		}
		for _, pl := range hc.places {
			w, ok := v.Spec[pl.ID]
			if !ok {
				continue
			}
			vp := hoursVersionPlace{Name: pl.Name}
			for _, key := range schedule.WeekdayKeys {
				var parts []string
				for _, rg := range w.Format()[key] {
					parts = append(parts, rg[0]+"–"+rg[1])
				}
				ranges := p.T("hours.closed")
				if len(parts) > 0 {
					ranges = strings.Join(parts, ", ")
				}
				vp.Days = append(vp.Days, hoursVersionDay{Name: p.T("hours.day." + key), Ranges: ranges})
			}
			vp.Name = pl.Name
			vv.Places = append(vv.Places, vp)
		}
		p.Versions = append(p.Versions, vv)
		if i == cur {
			c := vv
			p.Current = &c
		}
	}
	return p, hc, true
}

// fillForm lays out the hours table with values from get (place, day,
// part) → (from, to), and the field errors of the page.
func (p *hoursPage) fillForm(hc *hoursContext, parts int, get func(place, day string, part int) (string, string)) {
	n := hoursNamer{t: p.T}
	p.Parts = nil
	for i := 0; i < parts; i++ {
		p.Parts = append(p.Parts, n.part(i))
	}
	p.Places = nil
	for _, pl := range hc.places {
		pv := hoursPlaceView{Key: pl.ID, Name: pl.Name}
		if pv.Key == "" {
			pv.Key = "main"
		}
		for _, key := range schedule.WeekdayKeys {
			dv := hoursDayView{Key: key, Name: n.day(key)}
			for i := 0; i < parts; i++ {
				from, to := get(pl.ID, key, i)
				fk, tk := formKey(pl.ID, key, i, "from"), formKey(pl.ID, key, i, "to")
				dv.Cells = append(dv.Cells, hoursCellView{
					Part:     n.part(i),
					FromName: fk, ToName: tk, FromID: strings.ReplaceAll(fk, ".", "-"), ToID: strings.ReplaceAll(tk, ".", "-"),
					FromLabel: p.T("hours.label_from", "Day", dv.Name, "Part", n.part(i)),
					ToLabel:   p.T("hours.label_to", "Day", dv.Name, "Part", n.part(i)),
					From:      from, To: to, FromBad: p.Errors[fk] != "", ToBad: p.Errors[tk] != "",
				})
			}
			if e := p.Errors[dayKey(pl.ID, key)]; e != "" {
				dv.Errors = strings.Split(e, "\n")
			}
			pv.Days = append(pv.Days, dv)
		}
		p.Places = append(p.Places, pv)
	}
}

func dayKey(place, day string) string {
	if place == "" {
		place = "main"
	}
	return "h." + place + "." + day
}

// handleHours shows the weekly hours table, filled with the newest version.
func (s *Server) handleHours(w http.ResponseWriter, r *http.Request) {
	p, hc, ok := s.newHoursPage(w, r, "hours.title")
	if !ok {
		return
	}
	var spec schedule.Spec
	if n := len(hc.versions); n > 0 {
		last := hc.versions[n-1]
		spec = last.Spec
		if cur := hc.current(); cur != n-1 {
			p.Shown = formatDate(p.Lang, last.From.Start(time.UTC), time.UTC)
		}
	}
	parts := 2
	for _, wk := range spec {
		for _, rs := range wk {
			parts = max(parts, len(rs))
		}
	}
	p.fillForm(hc, parts, func(place, day string, part int) (string, string) {
		wk, ok := spec[place]
		if !ok {
			return "", ""
		}
		rs := wk.Format()[day]
		// A lone range from noon on is an afternoon, not a morning.
		if len(rs) == 1 && parts > 1 && rs[0][0] >= "12:00" {
			rs = [][2]string{{"", ""}, rs[0]}
		}
		if part >= len(rs) {
			return "", ""
		}
		return rs[part][0], rs[part][1]
	})
	s.render(w, r, http.StatusOK, "hours", p)
}

type hoursResultPage struct {
	*Page
	PracticeID   string
	PracticeName string
	From         string
	Generated    bool
	Removed      int
	Added        int
	Conflicts    []conflictView
}

type conflictView struct {
	When, Patient, Phone, Type string
}

// handleHoursSubmit validates the hours table and applies it from the
// chosen day; the answer says what changed and lists the appointments the
// new hours no longer cover.
func (s *Server) handleHoursSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, hc, ok := s.newHoursPage(w, r, "hours.title")
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	draft := hoursDraft{}
	parts := 2
	for _, pl := range hc.places {
		draft[pl.ID] = map[string][]hoursRange{}
		for _, key := range schedule.WeekdayKeys {
			var rs []hoursRange
			for i := 0; i < hoursMaxParts; i++ {
				from := strings.TrimSpace(r.PostFormValue(formKey(pl.ID, key, i, "from")))
				to := strings.TrimSpace(r.PostFormValue(formKey(pl.ID, key, i, "to")))
				if _, sent := r.PostForm[formKey(pl.ID, key, i, "from")]; sent {
					parts = max(parts, i+1)
				}
				if from == "" && to == "" {
					continue
				}
				rs = append(rs, hoursRange{Part: i, Start: from, End: to})
			}
			if len(rs) > 0 {
				draft[pl.ID][key] = rs
			}
		}
	}
	spec, probs := checkHours(draft)
	n := hoursNamer{t: p.T, place: hc.placeName}
	for _, pr := range probs {
		id, args := n.message(pr)
		msg := p.T(id, args...)
		dk := dayKey(pr.Place, pr.Day)
		if p.Errors == nil {
			p.Errors = map[string]string{}
		}
		if p.Errors[dk] != "" {
			p.Errors[dk] += "\n"
		}
		p.Errors[dk] += msg
		switch {
		case pr.Edge != "":
			p.Errors[formKey(pr.Place, pr.Day, pr.Part, map[string]string{"start": "from", "end": "to"}[pr.Edge])] = msg
		case pr.Code == "incomplete" || pr.Code == "end_before_start":
			p.Errors[formKey(pr.Place, pr.Day, pr.Part, "from")] = msg
			p.Errors[formKey(pr.Place, pr.Day, pr.Part, "to")] = msg
		case pr.Code == "overlap" || pr.Code == "locations_overlap":
			for _, x := range []struct {
				place string
				r     hoursRange
			}{{pr.PlaceA, pr.A}, {pr.PlaceB, pr.B}} {
				p.Errors[formKey(x.place, pr.Day, x.r.Part, "from")] = msg
				p.Errors[formKey(x.place, pr.Day, x.r.Part, "to")] = msg
			}
			if pr.Code == "locations_overlap" && pr.PlaceA != pr.Place {
				p.Errors[dayKey(pr.PlaceA, pr.Day)] = msg
			}
		}
	}
	p.From = strings.TrimSpace(r.PostFormValue("from"))
	from, ferr := s.checkFrom(hc.p, p.From)
	if ferr != nil {
		p.fail("from", ferr.Message, ferr.Args...)
	}
	if p.failed() {
		p.Error = p.T("error.hours_invalid")
		p.fillForm(hc, parts, func(place, day string, part int) (string, string) {
			return truncate(r.PostFormValue(formKey(place, day, part, "from")), 16), truncate(r.PostFormValue(formKey(place, day, part, "to")), 16)
		})
		s.render(w, r, http.StatusUnprocessableEntity, "hours", p)
		return
	}
	ch, err := s.changeHours(ctx, hc.p, from, spec, actorFrom(r).User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res := &hoursResultPage{Page: s.newPage(w, r, "hours_result.title"), PracticeID: hc.p.ID, PracticeName: hc.p.Name,
		Generated: !hc.p.GeneratedAt.IsZero(), Removed: ch.Removed, Added: ch.Added}
	res.From = formatDate(res.Lang, from.Start(time.UTC), time.UTC)
	if res.Conflicts, err = s.conflictViews(ctx, hc.p, res.Lang, ch.Conflicts); err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "hours_result", res)
}

// conflictViews names the conflicting appointments for the secretary: when
// (in the practice's zone), who, and for what.
func (s *Server) conflictViews(ctx context.Context, p *store.Practice, lang string, list []*store.Appointment) ([]conflictView, error) {
	if len(list) == 0 {
		return nil, nil
	}
	types, err := s.db.AppointmentTypeNames(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	loc := s.location(p.TimeZone)
	out := make([]conflictView, 0, len(list))
	for _, a := range list {
		c := conflictView{When: formatDateTime(lang, a.Start, loc) + "–" + a.End.In(loc).Format("15:04"), Phone: a.Phone, Type: types[a.TypeID]}
		u, err := s.db.FindUserByID(ctx, a.PatientID)
		switch {
		case err == nil:
			c.Patient = u.Name
		case errors.Is(err, store.ErrNotFound):
			c.Patient = a.PatientID
		default:
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// --- The planning page and the initial generation ------------------------

type planningPage struct {
	*Page
	PracticeID   string
	PracticeName string
	Generated    bool
	GeneratedAt  string
	PlannedUntil string
	HasHours     bool
	HorizonDays  int
	HistoryDays  int
	Free         int
	Booked       int
	Blocked      int
	Total        int
	Runs         []runView
}

type runView struct {
	ID, When, Kind, State, Practice, Detail string
	Practices, Days, Added, Removed         int
	Progress                                int
}

func (s *Server) runView(p *Page, r *store.PlanningRun) runView {
	return runView{ID: r.ID, When: p.DateTime(r.StartedAt), Kind: p.T("planning_page.kind_" + runKind(r.Kind)),
		State: r.State, Detail: r.Detail, Practices: r.Practices, Days: r.Days, Added: r.Added, Removed: r.Removed, Progress: r.Progress}
}

// runKind keeps the kinds the catalogue names.
func runKind(k string) string {
	switch k {
	case "initial", "roll", "hours":
		return k
	}
	return "other"
}

// handlePlanning shows the planning's state: generated or not, how far, the
// slots by state and the recent runs; before the initial generation, the
// button that starts it.
func (s *Server) handlePlanning(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &planningPage{Page: s.newPage(w, r, "planning_page.title"), PracticeID: pr.ID, PracticeName: pr.Name,
		Generated: !pr.GeneratedAt.IsZero(), HorizonDays: pr.HorizonDays, HistoryDays: s.cfg.Planning.HistoryDays}
	loc := s.location(pr.TimeZone)
	p.GeneratedAt = formatDateTime(p.Lang, pr.GeneratedAt, loc)
	if d, err := schedule.ParseDay(pr.PlannedUntil); err == nil {
		p.PlannedUntil = formatDate(p.Lang, d.Start(time.UTC), time.UTC)
	}
	rows, err := s.db.HoursVersions(ctx, pr.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.HasHours = len(rows) > 0
	counts, err := s.db.CountSlots(ctx, pr.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Free, p.Booked, p.Blocked = counts[store.SlotFree], counts[store.SlotBooked], counts[store.SlotBlocked]
	p.Total = p.Free + p.Booked + p.Blocked
	runs, err := s.db.FindRuns(ctx, pr.ID, 10)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, run := range runs {
		p.Runs = append(p.Runs, s.runView(p.Page, run))
	}
	s.render(w, r, http.StatusOK, "planning", p)
}

// startGeneration checks that the practice may be generated, records an
// initial run and starts the generation in the background (it outlives the
// request). done receives the result; it is nil when a generation of the
// practice was already running (run is that one).
func (s *Server) startGeneration(r *http.Request, practiceID string) (run *store.PlanningRun, done <-chan error, err error) {
	ctx := r.Context()
	p, err := s.db.FindPracticeByID(ctx, practiceID)
	if err != nil {
		return nil, nil, err
	}
	if !p.GeneratedAt.IsZero() {
		return nil, nil, errAlreadyGenerated
	}
	rows, err := s.db.HoursVersions(ctx, p.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, errorf(ECodeInvalid, "error.no_hours")
	}
	runs, err := s.db.FindRuns(ctx, p.ID, 5)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range runs {
		if x.Kind == "initial" && x.State == "running" && s.clock().Sub(x.StartedAt) < staleRun {
			return x, nil, nil
		}
	}
	run = &store.PlanningRun{Kind: "initial", PracticeID: p.ID}
	if err := s.db.StartRun(ctx, run); err != nil {
		return nil, nil, err
	}
	ch := make(chan error, 1)
	bg := context.WithoutCancel(ctx)
	actorID := actorFrom(r).User.ID
	go func() {
		err := s.generateInitial(bg, p.ID, actorID, run)
		run.Progress, run.State = 100, "done"
		run.Detail = fmt.Sprintf("%d days, %d slots", run.Days, run.Added)
		if err != nil {
			run.State, run.Detail = "failed", runFailure(err)
		}
		if uerr := s.db.UpdateRun(bg, run); uerr != nil {
			s.log.Error("planning run not recorded", "run", run.ID, "err", uerr)
		}
		if _, known := errorFrom(err); err != nil && !known {
			s.log.Error("initial generation failed", "practice", p.ID, "err", err)
		}
		ch <- err
	}()
	return run, ch, nil
}

// runFailure is the short, catalogue-free note a failed run keeps.
func runFailure(err error) string {
	var e *Error
	if errors.As(err, &e) {
		switch e.Message {
		case "error.already_generated":
			return "refused: already generated"
		case "error.no_hours":
			return "refused: no hours"
		}
		return "refused: " + e.Code
	}
	return "failed: " + truncate(err.Error(), 200)
}

// waitRun waits up to generateWait for a started run.
func waitRun(ctx context.Context, done <-chan error) (err error, finished bool) {
	if done == nil {
		return nil, false
	}
	t := time.NewTimer(generateWait)
	defer t.Stop()
	select {
	case err := <-done:
		return err, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// handlePlanningGenerate starts the one-time initial generation; a quick
// run answers with the planning page, a long one with its progress page.
func (s *Server) handlePlanningGenerate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, done, err := s.startGeneration(r, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err, finished := waitRun(r.Context(), done); finished {
		if err != nil {
			s.error(w, r, err)
			return
		}
		setFlash(w, "flash.hours_generated")
		http.Redirect(w, r, "/pro/p/"+id+"/planning", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/pro/p/"+id+"/planning/runs/"+run.ID, http.StatusSeeOther)
}

// findRun returns a run of the practice named in the path, or not found.
func (s *Server) findRun(r *http.Request) (*store.PlanningRun, error) {
	run, err := s.db.FindRunByID(r.Context(), r.PathValue("run"))
	if err != nil {
		return nil, err
	}
	if run.PracticeID != r.PathValue("id") {
		return nil, store.ErrNotFound
	}
	return run, nil
}

type planningRunPage struct {
	*Page
	PracticeID string
	Run        runView
	Running    bool
	Done       bool
}

// handlePlanningRun shows a generation's progress; while it runs the page
// reloads itself every second (a meta refresh: no script needed).
func (s *Server) handlePlanningRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.findRun(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &planningRunPage{Page: s.newPage(w, r, "planning_run.title"), PracticeID: run.PracticeID,
		Running: run.State == "running", Done: run.State == "done"}
	p.Run = s.runView(p.Page, run)
	s.render(w, r, http.StatusOK, "planning_run", p)
}

// --- Admin: every run, and a roll on demand ------------------------------

type adminPlanningPage struct {
	*Page
	RollAt      string
	HistoryDays int
	Runs        []runView
}

func (s *Server) handleAdminPlanning(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := &adminPlanningPage{Page: s.newPage(w, r, "admin_planning.title"), RollAt: s.cfg.Planning.RollAt, HistoryDays: s.cfg.Planning.HistoryDays}
	runs, err := s.db.FindRuns(ctx, "", 100)
	if err != nil {
		s.error(w, r, err)
		return
	}
	names := map[string]string{}
	for _, run := range runs {
		v := s.runView(p.Page, run)
		if run.PracticeID != "" {
			if _, ok := names[run.PracticeID]; !ok {
				pr, err := s.db.FindPracticeByID(ctx, run.PracticeID)
				switch {
				case err == nil:
					names[run.PracticeID] = pr.Name
				case errors.Is(err, store.ErrNotFound):
					names[run.PracticeID] = run.PracticeID
				default:
					s.error(w, r, err)
					return
				}
			}
			v.Practice = names[run.PracticeID]
		}
		p.Runs = append(p.Runs, v)
	}
	s.render(w, r, http.StatusOK, "admin_planning", p)
}

// handleAdminPlanningRoll runs the nightly roll now (it is idempotent: a
// second roll the same day only trims what aged since).
func (s *Server) handleAdminPlanningRoll(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithoutCancel(r.Context())
	a := actorFrom(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		return s.audit(ctx, tx, r, a.User.ID, "planning.roll_requested", "planning", "", "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	flash := "flash.hours_rolled"
	if err := s.roll(ctx, s.clock()); err != nil {
		s.log.Error("roll on demand failed", "err", err)
		flash = "flash.hours_roll_failed"
	}
	setFlash(w, flash)
	http.Redirect(w, r, "/admin/planning", http.StatusSeeOther)
}

// --- The API -------------------------------------------------------------

type apiHoursVersion struct {
	From      string                            `json:"from"`
	Weekly    map[string][][2]string            `json:"weekly"`
	Locations map[string]map[string][][2]string `json:"locations"`
}

func apiVersion(v schedule.Version) apiHoursVersion {
	out := apiHoursVersion{From: v.From.String(), Weekly: schedule.Week{}.Format(), Locations: map[string]map[string][][2]string{}}
	for place, w := range v.Spec {
		if place == "" {
			out.Weekly = w.Format()
		} else {
			out.Locations[place] = w.Format()
		}
	}
	return out
}

type apiHours struct {
	apiHoursVersion
	Generated    bool              `json:"generated"`
	PlannedUntil string            `json:"planned_until"`
	Versions     []apiHoursVersion `json:"versions"`
}

// handleAPIHours answers the hours in force today (from is "" and every
// day empty when none is) and every version, past and future.
func (s *Server) handleAPIHours(w http.ResponseWriter, r *http.Request) {
	hc, err := s.loadHours(r.Context(), r.PathValue("id"), "")
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := apiHours{apiHoursVersion: apiHoursVersion{Weekly: schedule.Week{}.Format(), Locations: map[string]map[string][][2]string{}},
		Generated: !hc.p.GeneratedAt.IsZero(), PlannedUntil: hc.p.PlannedUntil, Versions: []apiHoursVersion{}}
	cur := hc.current()
	for i, v := range hc.versions {
		av := apiVersion(v)
		out.Versions = append(out.Versions, av)
		if i == cur {
			out.apiHoursVersion = av
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type apiHoursInput struct {
	Weekly    map[string][][]string            `json:"weekly"`
	Locations map[string]map[string][][]string `json:"locations"`
	From      string                           `json:"from"`
}

type apiConflict struct {
	ID        string `json:"id"`
	Start     string `json:"start"`
	End       string `json:"end"`
	PatientID string `json:"patient_id"`
}

type apiHoursChange struct {
	From      string        `json:"from"`
	Generated bool          `json:"generated"`
	Removed   int           `json:"removed"`
	Added     int           `json:"added"`
	Conflicts []apiConflict `json:"conflicts"`
}

func invalidField(field, msgID string, args ...any) *Error {
	e := errorf(ECodeInvalid, msgID, args...)
	e.Field = field
	return e
}

// handleAPIHoursPut validates and applies new hours from a day (default:
// today before the initial generation, tomorrow after it).
func (s *Server) handleAPIHoursPut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	lang := s.requestLanguage(r, a.User.Locale)
	hc, err := s.loadHours(ctx, r.PathValue("id"), s.i18n.T(lang, "hours.main_office"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	var in apiHoursInput
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&in); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.hours_bad_json"))
		return
	}
	if in.Weekly == nil {
		s.error(w, r, invalidField("weekly", "error.hours_weekly_missing"))
		return
	}
	known := map[string]bool{}
	for _, pl := range hc.places[1:] {
		known[pl.ID] = true
	}
	draft := hoursDraft{}
	n := hoursNamer{t: func(id string, args ...any) string { return s.i18n.T(lang, id, args...) }, api: true, place: hc.placeName}
	add := func(place string, week map[string][][]string) *Error {
		draft[place] = map[string][]hoursRange{}
		for key, list := range week {
			for i, rg := range list {
				if len(rg) != 2 {
					pr := hoursProblem{Code: "range_shape", Place: place, Day: key, Part: i}
					id, args := n.message(pr)
					return invalidField(pr.apiField(), id, args...)
				}
				draft[place][key] = append(draft[place][key], hoursRange{Part: i, Start: rg[0], End: rg[1]})
			}
			if _, ok := draft[place][key]; !ok {
				draft[place][key] = nil
			}
		}
		return nil
	}
	if e := add("", in.Weekly); e != nil {
		s.error(w, r, e)
		return
	}
	ids := make([]string, 0, len(in.Locations))
	for id := range in.Locations {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !known[id] {
			s.error(w, r, invalidField("locations."+truncate(id, 40), "error.hours_unknown_location", "ID", truncate(id, 40)))
			return
		}
		if e := add(id, in.Locations[id]); e != nil {
			s.error(w, r, e)
			return
		}
	}
	spec, probs := checkHours(draft)
	if len(probs) > 0 {
		id, args := n.message(probs[0])
		s.error(w, r, invalidField(probs[0].apiField(), id, args...))
		return
	}
	from, ferr := s.checkFrom(hc.p, in.From)
	if ferr != nil {
		s.error(w, r, ferr)
		return
	}
	ch, err := s.changeHours(ctx, hc.p, from, spec, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(hc.p.TimeZone)
	out := apiHoursChange{From: from.String(), Generated: !hc.p.GeneratedAt.IsZero(), Removed: ch.Removed, Added: ch.Added, Conflicts: []apiConflict{}}
	for _, c := range ch.Conflicts {
		out.Conflicts = append(out.Conflicts, apiConflict{ID: c.ID, Start: c.Start.In(loc).Format(time.RFC3339), End: c.End.In(loc).Format(time.RFC3339), PatientID: c.PatientID})
	}
	writeJSON(w, http.StatusOK, out)
}

type apiRun struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Status       string `json:"status"`
	Progress     int    `json:"progress"`
	Slots        int    `json:"slots"`
	Days         int    `json:"days"`
	PlannedUntil string `json:"planned_until,omitempty"`
	StartedAt    string `json:"started_at"`
	FinishedAt   string `json:"finished_at,omitempty"`
	StatusURL    string `json:"status_url"`
}

func (s *Server) apiRun(ctx context.Context, run *store.PlanningRun) (apiRun, error) {
	out := apiRun{ID: run.ID, Kind: run.Kind, Status: run.State, Progress: run.Progress, Slots: run.Added, Days: run.Days,
		StartedAt: run.StartedAt.Format(time.RFC3339), StatusURL: "/api/v1/practices/" + run.PracticeID + "/planning/runs/" + run.ID}
	if !run.FinishedAt.IsZero() {
		out.FinishedAt = run.FinishedAt.Format(time.RFC3339)
	}
	if run.State == "done" {
		p, err := s.db.FindPracticeByID(ctx, run.PracticeID)
		if err != nil {
			return out, err
		}
		out.PlannedUntil = p.PlannedUntil
	}
	return out, nil
}

// handleAPIGenerate starts the initial generation: 201 with the count when
// it is done within generateWait, else 202 with the URL of its status.
func (s *Server) handleAPIGenerate(w http.ResponseWriter, r *http.Request) {
	run, done, err := s.startGeneration(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	err, finished := waitRun(r.Context(), done)
	if finished && err != nil {
		s.error(w, r, err)
		return
	}
	if finished {
		// The goroutine has recorded the run: read it back as the status URL shows it.
		stored, err := s.db.FindRunByID(r.Context(), run.ID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		out, err := s.apiRun(r.Context(), stored)
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Location", out.StatusURL)
		writeJSON(w, http.StatusCreated, out)
		return
	}
	url := "/api/v1/practices/" + run.PracticeID + "/planning/runs/" + run.ID
	w.Header().Set("Location", url)
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "running", "status_url": url})
}

// handleAPIRun answers a generation's status (running, done or failed).
func (s *Server) handleAPIRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.findRun(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out, err := s.apiRun(r.Context(), run)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
