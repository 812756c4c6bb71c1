package app

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"daraport/app/schedule"
	"daraport/store"
)

// The public directory of the installation's verified practices (the home
// page and GET /api/v1/practitioners) and the practitioner page.
//
// Search runs in SQL over practice_search, a narrow table of folded columns
// (lower case, accents removed, punctuation as spaces) and filter flags kept
// beside practices. The folding needs Go, so triggers list the practices
// created or changed by any code path (practice_search_dirty) and the
// directory rebuilds their rows before it searches (refreshStaleSearch).
// Every filter word must occur in its column (instr), so "elodie", "odie"
// and "dupr" all find "Élodie Dupré". A scan of that table over a thousand
// practices costs a fraction of a millisecond. FTS5 (unicode61
// remove_diacritics 2) was the alternative: it matches whole words or
// prefixes only (not "odie"), and its index needs the same Go-side upkeep
// for the teleconsultation and language filters, so it buys nothing here.

// directoryRoutes are the practitioner page's routes; the home page (the
// directory) and the API list are in routes.go.
func (s *Server) directoryRoutes() []route {
	return []route{
		{method: "GET", path: "/p/{id}", perm: PermPublic, h: s.handlePractitioner},
	}
}

const (
	directoryPageSize  = 20  // results per page of the directory
	directoryMaxInput  = 100 // characters of one search field
	practitionerStarts = 8   // free starts the practitioner page shows
)

// --- Folding and the search columns --------------------------------------

// dirFoldLetters are letters that do not decompose into a base letter and a
// mark but that people type without their accent all the same.
var dirFoldLetters = strings.NewReplacer("ß", "ss", "œ", "oe", "æ", "ae", "ø", "o", "ł", "l", "đ", "d", "ı", "i", "þ", "th")

// dirFold lowers s, removes its accents and turns everything but letters and
// digits into single spaces: "Élodie DUPRÉ-Noël" → "elodie dupre noel".
func dirFold(s string) string {
	// A Transformer keeps state: build the chain per call (cheap) rather
	// than share one between requests.
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(s))
	if err != nil {
		out = strings.ToLower(s)
	}
	out = dirFoldLetters.Replace(out)
	var b strings.Builder
	b.Grow(len(out))
	space := true
	for _, r := range out {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// dirFoldWords folds s and splits it into words.
func dirFoldWords(s string) []string { return strings.Fields(dirFold(s)) }

// searchKeys computes a practice's search columns.
func searchKeys(p *store.Practice, tele bool) store.SearchKeys {
	specs := make([]string, 0, len(p.Specialties))
	for _, sp := range p.Specialties {
		specs = append(specs, dirFold(sp))
	}
	langs := "|"
	for _, l := range p.Languages {
		langs += l + "|"
	}
	return store.SearchKeys{PracticeID: p.ID, Verified: p.Status == store.PracticeVerified, Teleconsultation: tele,
		Name: dirFold(p.Name), Specialties: strings.Join(specs, "|"), City: dirFold(p.City),
		PostalCode: strings.ReplaceAll(dirFold(p.PostalCode), " ", ""), Languages: langs}
}

// refreshSearch rewrites the search columns of one practice from its rows
// as tx sees them (under the write lock, so a save racing with the refresh
// is never overwritten by older text). A practice deleted meanwhile is
// only taken off the list.
func (s *Server) refreshSearch(ctx context.Context, tx *store.Tx, practiceID string) error {
	p, err := tx.FindPracticeByID(ctx, practiceID)
	if errors.Is(err, store.ErrNotFound) {
		return tx.ClearSearchDirty(ctx, practiceID)
	}
	if err != nil {
		return err
	}
	tele, err := tx.HasTeleconsultation(ctx, practiceID)
	if err != nil {
		return err
	}
	return tx.SaveSearchKeys(ctx, searchKeys(p, tele))
}

// refreshStaleSearch rebuilds the search columns of the practices created
// or changed since the last search (triggers list them, whichever code
// saved them): one read of an empty table when nothing changed, one short
// write transaction otherwise.
func (s *Server) refreshStaleSearch(ctx context.Context) error {
	dirty, err := s.db.SearchDirty(ctx)
	if err != nil || !dirty {
		return err
	}
	return s.db.Update(ctx, func(tx *store.Tx) error {
		ids, err := tx.SearchDirtyPractices(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.refreshSearch(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- The query -----------------------------------------------------------

// directoryQuery is a directory search as typed (page and API share it).
type directoryQuery struct {
	Name      string // q
	Specialty string
	Place     string // city or postal code
	Tele      bool
	Language  string // ISO 639-1, one of settingLanguages
}

// Empty tells whether no criterion was given.
func (q directoryQuery) Empty() bool {
	return q.Name == "" && q.Specialty == "" && q.Place == "" && !q.Tele && q.Language == ""
}

// values returns the query as URL parameters (for the page links).
func (q directoryQuery) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"q", q.Name}, {"specialty", q.Specialty}, {"city", q.Place}, {"language", q.Language}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if q.Tele {
		v.Set("teleconsultation", "true")
	}
	return v
}

// parseDirectoryQuery reads q, specialty, city, teleconsultation and
// language. Every field error is returned (the page shows each beside its
// field; the API answers the first).
func parseDirectoryQuery(v url.Values) (directoryQuery, []*Error) {
	var q directoryQuery
	var errs []*Error
	text := func(name, msg string, dst *string) {
		s := strings.TrimSpace(v.Get(name))
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > directoryMaxInput || strings.ContainsFunc(s, unicode.IsControl) {
			errs = append(errs, fieldErr(ECodeBadRequest, msg, name))
			return
		}
		*dst = s
	}
	text("q", "error.directory.name", &q.Name)
	text("specialty", "error.directory.specialty", &q.Specialty)
	text("city", "error.directory.city", &q.Place)
	switch strings.ToLower(strings.TrimSpace(v.Get("teleconsultation"))) {
	case "", "false", "0", "off":
	case "true", "1", "on", "yes":
		q.Tele = true
	default:
		errs = append(errs, fieldErr(ECodeBadRequest, "error.directory.teleconsultation", "teleconsultation"))
	}
	if l := strings.ToLower(strings.TrimSpace(v.Get("language"))); l != "" {
		if !slices.Contains(settingLanguages, l) {
			errs = append(errs, fieldErr(ECodeBadRequest, "error.directory.language", "language"))
		} else {
			q.Language = l
		}
	}
	return q, errs
}

// filter turns the query into the store's filter. In the place field, the
// words holding a digit make a postal code prefix ("75015", "SW1A 1AA");
// the others must occur in the city.
func (q directoryQuery) filter() store.DirectoryFilter {
	f := store.DirectoryFilter{Name: dirFoldWords(q.Name), Specialty: dirFoldWords(q.Specialty), Teleconsultation: q.Tele, Language: q.Language}
	var postal strings.Builder
	for _, w := range dirFoldWords(q.Place) {
		if strings.ContainsFunc(w, unicode.IsDigit) {
			postal.WriteString(w)
		} else {
			f.City = append(f.City, w)
		}
	}
	f.PostalPrefix = postal.String()
	return f
}

// searchDirectory refreshes stale search columns, then runs the query.
func (s *Server) searchDirectory(ctx context.Context, q directoryQuery, limit, offset int) ([]store.DirectoryEntry, int, error) {
	if err := s.refreshStaleSearch(ctx); err != nil {
		return nil, 0, err
	}
	f := q.filter()
	f.Limit, f.Offset = limit, offset
	return s.db.SearchDirectory(ctx, f)
}

// --- Next free starts ------------------------------------------------------

// dirHeadlineType picks the type whose next start the directory shows: among
// the active types new patients may book (teleconsultation ones when tele),
// the one needing the fewest slots, first in the practitioner's order on a
// tie; nil when there is none (the directory then shows the next single
// slot).
func dirHeadlineType(p *store.Practice, types []*store.AppointmentType, tele bool) *store.AppointmentType {
	var best *store.AppointmentType
	bestNeed := 0
	for _, t := range types {
		if t.Archived() || !t.NewPatients || (tele && !t.Teleconsultation) || t.Minutes <= 0 {
			continue
		}
		need := schedule.SlotsNeeded(t.Minutes, t.BufferAfter, p.SlotMinutes)
		if best == nil || need < bestNeed {
			best, bestNeed = t, need
		}
	}
	return best
}

// dirSpanOf is the length and buffer whose starts are looked for: t's, or one
// slot without a type.
func dirSpanOf(p *store.Practice, t *store.AppointmentType) (minutes, buffer int) {
	if t == nil {
		return p.SlotMinutes, 0
	}
	return t.Minutes, t.BufferAfter
}

// dirNextStarts returns up to n of the earliest bookable starts of an
// appointment of minutes plus buffer at p from now on, within its horizon
// and planning. It jumps to the first free slot (an index lookup), then asks
// s.freeStarts about a window from that day, widening the window (1, 7, 28…
// days) while too few starts are found, so a practice with free time soon
// costs two small queries and one with none costs one.
func (s *Server) dirNextStarts(ctx context.Context, p *store.Practice, minutes, buffer, n int, now time.Time) ([]schedule.Cell, error) {
	if p.GeneratedAt.IsZero() || n <= 0 {
		return nil, nil
	}
	loc := s.location(p.TimeZone)
	last := s.today(p, now).AddDays(p.HorizonDays - 1)
	if until, err := schedule.ParseDay(p.PlannedUntil); err == nil && until.Before(last) {
		last = until
	}
	end := last.AddDays(1).Start(loc)
	cursor := now.Add(time.Duration(p.MinNoticeMinutes) * time.Minute)
	var out []schedule.Cell
	for span := 1; len(out) < n && cursor.Before(end); span = min(span*4, 400) {
		first, err := s.db.FirstFreeSlot(ctx, p.ID, cursor, end)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		from := schedule.DayOf(first.In(loc))
		to := from.AddDays(span - 1)
		if last.Before(to) {
			to = last
		}
		starts, err := s.freeStarts(ctx, p, minutes, buffer, from, to, now)
		if err != nil {
			return nil, err
		}
		out = append(out, starts...)
		cursor = to.AddDays(1).Start(loc)
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// dirNextAvailable returns the next start the directory shows for each entry
// (zero when none), computing a few practices at once: each costs two small
// reads, and the read pool has connections to spare.
func (s *Server) dirNextAvailable(ctx context.Context, entries []store.DirectoryEntry, tele bool, now time.Time) ([]time.Time, error) {
	out := make([]time.Time, len(entries))
	if len(entries) == 0 {
		return out, nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	types, err := s.db.FindActiveTypesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	one := func(i int) error {
		p := entries[i].Practice
		t := dirHeadlineType(p, types[p.ID], tele)
		if t == nil && len(types[p.ID]) > 0 {
			return nil // only types new patients cannot book online
		}
		minutes, buffer := dirSpanOf(p, t)
		starts, err := s.dirNextStarts(ctx, p, minutes, buffer, 1, now)
		if err != nil || len(starts) == 0 {
			return err
		}
		out[i] = starts[0].Start
		return nil
	}
	const workers = 4
	if len(entries) <= 2 {
		for i := range entries {
			if err := one(i); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range min(workers, len(entries)) {
		wg.Go(func() {
			for i := range next {
				if err := one(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range entries {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// --- Formatting ----------------------------------------------------------

// dirShortDates are the day-and-month layouts per language.
var dirShortDates = map[string]string{"fr": "02/01", "en": "2 Jan", "de": "02.01.", "es": "02/01"}

// dirDayLabel names the local day of t in loc for a person choosing a
// time: "Today", "Tomorrow", "Tue 14 Jan"; a date far ahead carries its year.
func (p *Page) dirDayLabel(t time.Time, loc *time.Location, now time.Time) string {
	lt := t.In(loc)
	switch days := schedule.DayOf(lt).Sub(schedule.DayOf(now.In(loc))); {
	case days == 0:
		return p.T("directory.today")
	case days == 1:
		return p.T("directory.tomorrow")
	case days > 150:
		return p.T("directory.on_day", "Day", p.T("directory.weekday."+strconv.Itoa(int(lt.Weekday()))), "Date", formatDate(p.Lang, lt, nil))
	}
	layout, ok := dirShortDates[p.Lang]
	if !ok {
		layout = dirShortDates["en"]
	}
	return p.T("directory.on_day", "Day", p.T("directory.weekday."+strconv.Itoa(int(lt.Weekday()))), "Date", lt.Format(layout))
}

// dirWhen formats an instant for a person choosing a time, in loc: "Today
// at 14:30", "Tomorrow at 09:00", "Tue 14 Jan at 09:00".
func (p *Page) dirWhen(t time.Time, loc *time.Location, now time.Time) string {
	lt := t.In(loc)
	hm := lt.Format("15:04")
	switch schedule.DayOf(lt).Sub(schedule.DayOf(now.In(loc))) {
	case 0:
		return p.T("directory.today_at", "Time", hm)
	case 1:
		return p.T("directory.tomorrow_at", "Time", hm)
	}
	return p.T("directory.day_at", "Day", p.dirDayLabel(t, loc, now), "Time", hm)
}

// --- The directory page (home) ---------------------------------------------

// directoryResult is one practice in the results.
type directoryResult struct {
	ID, Name, Specialty, City, PostalCode string
	Initial                               string   // shown when there is no photo
	Languages                             []string // labels
	PhotoURL                              string
	Teleconsultation                      bool
	Next                                  string // "" when nothing is free
	NextISO                               string // the same instant, RFC 3339, for <time>
	URL                                   string
}

type homePage struct {
	*Page
	Query           directoryQuery
	LanguageChoices []choice
	Results         []directoryResult
	Total           int
	CountText       string // "12 practitioners"
	PageNum, Pages  int
	PrevURL         string
	NextURL         string
}

func dirPhotoURL(p *store.Practice) string {
	if p.PhotoDocumentID == "" {
		return ""
	}
	return "/practices/" + url.PathEscape(p.ID) + "/photo?v=" + url.QueryEscape(p.PhotoDocumentID)
}

// handleHome is the home page and the directory: a search form (GET, so
// results can be bookmarked and shared) and the matching verified
// practices, 20 a page, each with its next free time.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := &homePage{Page: s.newPage(w, r, "home.title"), PageNum: 1}
	q, errs := parseDirectoryQuery(r.URL.Query())
	p.Query = q
	for _, e := range errs {
		p.fail(e.Field, e.Message, e.Args...)
	}
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			p.fail("page", "error.directory.page")
		} else {
			p.PageNum = n
		}
	}
	p.LanguageChoices = choices(p.Page, "settings.lang.", settingLanguages, q.Language)
	if p.failed() {
		s.render(w, r, http.StatusBadRequest, "home", p)
		return
	}
	list, total, err := s.searchDirectory(ctx, q, directoryPageSize, (p.PageNum-1)*directoryPageSize)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	next, err := s.dirNextAvailable(ctx, list, q.Tele, now)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Total = total
	p.CountText = p.T("directory.count_many", "Count", total)
	if total == 1 {
		p.CountText = p.T("directory.count_one")
	}
	p.Pages = max(1, (total+directoryPageSize-1)/directoryPageSize)
	for i, e := range list {
		res := directoryResult{ID: e.ID, Name: e.Name, City: e.City, PostalCode: e.PostalCode, PhotoURL: dirPhotoURL(e.Practice),
			Teleconsultation: e.Teleconsultation, Languages: labels(p.Page, "settings.lang.", e.Languages), URL: "/p/" + url.PathEscape(e.ID)}
		if r, _ := utf8.DecodeRuneInString(strings.TrimSpace(e.Name)); r != utf8.RuneError {
			res.Initial = strings.ToUpper(string(r))
		}
		if len(e.Specialties) > 0 {
			res.Specialty = e.Specialties[0]
		}
		if !next[i].IsZero() {
			loc := s.location(e.TimeZone)
			res.Next, res.NextISO = p.dirWhen(next[i], loc, now), next[i].In(loc).Format(time.RFC3339)
		}
		p.Results = append(p.Results, res)
	}
	link := func(n int) string {
		v := q.values()
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/#results"
		}
		return "/?" + v.Encode() + "#results"
	}
	if p.PageNum > 1 {
		p.PrevURL = link(p.PageNum - 1)
	}
	if p.PageNum < p.Pages {
		p.NextURL = link(p.PageNum + 1)
	}
	s.render(w, r, http.StatusOK, "home", p)
}

// --- The API list ------------------------------------------------------------

type apiPractitioner struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Specialties      []string `json:"specialties"`
	City             string   `json:"city"`
	PostalCode       string   `json:"postal_code"`
	Languages        []string `json:"languages"`
	Teleconsultation bool     `json:"teleconsultation"`
	// NextAvailable is the next free start of the practice's shortest
	// type new patients may book (a teleconsultation type when the
	// teleconsultation filter is on), RFC 3339 in the practice's zone;
	// null when nothing is free within the horizon.
	NextAvailable *string `json:"next_available"`
}

// handleAPIPractitioners answers GET /api/v1/practitioners: the public
// directory of verified practices (the id is the practice id), filtered by
// q (name), specialty, city (city or postal code prefix),
// teleconsultation=true and language (ISO 639-1) as the home page is.
// Without limit it returns every match as an array; with limit, an object
// {"practitioners":[…],"next":"cursor"} whose next is empty on the last page.
func (s *Server) handleAPIPractitioners(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	limit, offset, err := pageParams(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q, errs := parseDirectoryQuery(r.URL.Query())
	if len(errs) > 0 {
		s.error(w, r, errs[0])
		return
	}
	list, total, err := s.searchDirectory(ctx, q, limit, offset)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	next, err := s.dirNextAvailable(ctx, list, q.Tele, now)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]apiPractitioner, 0, len(list))
	for i, e := range list {
		a := apiPractitioner{ID: e.ID, Name: e.Name, Specialties: e.Specialties, City: e.City, PostalCode: e.PostalCode,
			Languages: e.Languages, Teleconsultation: e.Teleconsultation}
		if !next[i].IsZero() {
			v := next[i].In(s.location(e.TimeZone)).Format(time.RFC3339)
			a.NextAvailable = &v
		}
		out = append(out, a)
	}
	if limit == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	cursor := ""
	if offset+len(list) < total {
		cursor = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset+len(list))))
	}
	writeJSON(w, http.StatusOK, map[string]any{"practitioners": out, "next": cursor})
}

// --- The practitioner page ---------------------------------------------------

// practitionerType is one appointment type as the practitioner page shows it.
type practitionerType struct {
	*store.AppointmentType
	Duration, Price, FirstPrice string
	Chosen                      bool
	URL                         string // the page showing this type's free times
}

// practitionerStart is one free start, linked to the booking page.
type practitionerStart struct {
	Time, ISO string // "09:00" in the practice's zone; RFC 3339
	Local     string // the same time in the viewer's zone, when it differs
	URL       string
}

// practitionerDay is a day's free starts.
type practitionerDay struct {
	Label  string // "Tomorrow"
	Starts []practitionerStart
}

type practitionerPage struct {
	*Page
	Practice       *store.Practice
	PhotoURL       string
	MapURL         string
	PhoneURL       template.URL
	CountryLabel   string
	SectorLabel    string
	LanguageLabels []string
	PaymentLabels  []string
	AccessLabels   []string
	Types          []practitionerType
	Chosen         *practitionerType
	Days           []practitionerDay
	BookURL        string
	MoreURL        string // the booking page at the chosen type
	HasTele        bool   // an active teleconsultation type exists
	Zone           string
}

// handlePractitioner shows a verified practice's public page: who, where,
// how to come and pay, what can be booked at what price, and the next free
// times (of the type chosen with ?type=, else the shortest one), each a link
// to the booking page. Anything but a verified practice is 404.
func (s *Server) handlePractitioner(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err == nil && pr.Status != store.PracticeVerified {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	types, err := s.db.FindTypes(ctx, pr.ID, false)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &practitionerPage{Page: s.newPage(w, r, "practitioner.title"), Practice: pr, PhotoURL: dirPhotoURL(pr), Zone: pr.TimeZone}
	p.Title = pr.Name
	base := "/p/" + url.PathEscape(pr.ID)
	p.BookURL = base + "/book"
	st := pr.Settings
	p.CountryLabel = p.T("settings.country." + st.Country)
	if st.Address != "" || st.City != "" {
		q := strings.Join(nonEmpty(st.Address, strings.TrimSpace(st.PostalCode+" "+st.City), p.CountryLabel), ", ")
		p.MapURL = "https://www.openstreetmap.org/search?query=" + url.QueryEscape(q)
	}
	if st.SecretaryPhone != "" && validPhone(st.SecretaryPhone) {
		p.PhoneURL = template.URL("tel:" + strings.NewReplacer(" ", "", ".", "", "-", "").Replace(st.SecretaryPhone))
	}
	sector := st.ConventionSector
	if sector == "" {
		sector = "none"
	}
	p.SectorLabel = p.T("settings.sector." + sector)
	p.LanguageLabels = labels(p.Page, "settings.lang.", st.Languages)
	p.AccessLabels = labels(p.Page, "settings.access.", st.Access)
	p.PaymentLabels = labels(p.Page, "settings.payment.", inOrder(st.PaymentMeans, settingPayments))
	for _, m := range st.PaymentMeans {
		if !slices.Contains(settingPayments, m) {
			p.PaymentLabels = append(p.PaymentLabels, m)
		}
	}

	chosen := dirHeadlineType(pr, types, false)
	if chosen == nil && len(types) > 0 {
		chosen = types[0] // only types for existing patients
	}
	if id := r.URL.Query().Get("type"); id != "" {
		for _, t := range types {
			if t.ID == id {
				chosen = t
			}
		}
	}
	for _, t := range types {
		pt := practitionerType{AppointmentType: t, Duration: p.dirDuration(t.Minutes), Price: typesMoney(p.Lang, t.Price, t.Currency),
			Chosen: t == chosen, URL: base + "?type=" + url.QueryEscape(t.ID) + "#times"}
		if t.FirstPrice != nil {
			pt.FirstPrice = typesMoney(p.Lang, *t.FirstPrice, t.Currency)
		}
		p.Types = append(p.Types, pt)
		p.HasTele = p.HasTele || t.Teleconsultation
		if pt.Chosen {
			p.Chosen = &p.Types[len(p.Types)-1]
		}
	}
	if chosen != nil {
		p.MoreURL = p.BookURL + "?type=" + url.QueryEscape(chosen.ID)
		now := s.clock()
		starts, err := s.dirNextStarts(ctx, pr, chosen.Minutes, chosen.BufferAfter, practitionerStarts, now)
		if err != nil {
			s.error(w, r, err)
			return
		}
		loc := s.location(pr.TimeZone)
		for _, c := range starts {
			ps := practitionerStart{Time: c.Start.In(loc).Format("15:04"), ISO: c.Start.In(loc).Format(time.RFC3339),
				URL: p.BookURL + "?type=" + url.QueryEscape(chosen.ID) + "&slot=" + url.QueryEscape(c.ID)}
			if p.Loc != nil && chosen.Teleconsultation && !dirSameOffset(c.Start, loc, p.Loc) {
				ps.Local = p.dirWhen(c.Start, p.Loc, now)
			}
			label := p.dirDayLabel(c.Start, loc, now)
			if n := len(p.Days); n == 0 || p.Days[n-1].Label != label {
				p.Days = append(p.Days, practitionerDay{Label: label})
			}
			d := &p.Days[len(p.Days)-1]
			d.Starts = append(d.Starts, ps)
		}
	}
	s.render(w, r, http.StatusOK, "practitioner", p)
}

// dirSameOffset tells whether two zones show the same wall-clock time at t.
func dirSameOffset(t time.Time, a, b *time.Location) bool {
	_, oa := t.In(a).Zone()
	_, ob := t.In(b).Zone()
	return oa == ob
}

// dirDuration formats a number of minutes ("20 min", "1 h 30").
func (p *Page) dirDuration(n int) string {
	switch {
	case n < 60:
		return p.T("directory.minutes", "Count", n)
	case n%60 == 0:
		return p.T("directory.hours", "Count", n/60)
	}
	return p.T("directory.hours_minutes", "Hours", n/60, "Minutes", strconv.Itoa(100 + n%60)[1:])
}
