package app

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// The two journeys beside the directory (issue 4, item 3):
//
//   - intake-first matching: a short questionnaire (what is needed, the
//     language, whether a teleconsultation suits, how soon, where) ranks the
//     verified practices and says why each one fits;
//   - assisted scheduling: a signed-in patient sends a practice a request
//     with the times that suit them; the practice answers with a proposed
//     start the patient confirms in one click (the booking itself is s.book,
//     with every rule) or declines.
//
// brand.journeys says which journeys an installation offers; the home page
// links to /match and a practitioner's page to /p/{id}/request when offered.

func (s *Server) journeysRoutes() []route {
	rs := []route{
		{method: "GET", path: "/match", perm: PermPublic, h: s.handleMatch},
		{method: "POST", path: "/match", perm: PermPublic, h: s.handleMatchSubmit},

		{method: "GET", path: "/p/{id}/request", perm: PermSignedIn, h: s.handleRequestForm},
		{method: "POST", path: "/p/{id}/request", perm: PermSignedIn, h: s.handleRequestSubmit},
		{method: "GET", path: "/requests", perm: PermSignedIn, h: s.handleMyRequests},
		{method: "GET", path: "/requests/{req}", perm: PermSignedIn, h: s.handleRequest},
		{method: "POST", path: "/requests/{req}/confirm", perm: PermSignedIn, h: s.handleRequestConfirm},
		{method: "POST", path: "/requests/{req}/decline", perm: PermSignedIn, h: s.handleRequestDecline},

		{method: "GET", path: "/pro/p/{id}/requests", perm: PermPracticeDesk, practice: "id", h: s.handleStaffRequests},
		{method: "GET", path: "/pro/p/{id}/requests/{req}", perm: PermPracticeDesk, practice: "id", h: s.handleStaffRequest},
		{method: "POST", path: "/pro/p/{id}/requests/{req}/propose", perm: PermPracticeDesk, practice: "id", h: s.handleStaffPropose},
		{method: "POST", path: "/pro/p/{id}/requests/{req}/decline", perm: PermPracticeDesk, practice: "id", h: s.handleStaffDecline},
	}
	// brand.journeys chooses what the installation offers: the pages of
	// a journey left out answer 404.
	for i := range rs {
		j := "assisted"
		if rs[i].path == "/match" {
			j = "match"
		}
		rs[i].h = s.onlyJourney(j, rs[i].h)
	}
	return rs
}

// onlyJourney serves h when the installation offers journey j, else 404.
func (s *Server) onlyJourney(j string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.journeys()[j] {
			s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
			return
		}
		h(w, r)
	}
}

// journeys returns the patient journeys the installation offers.
func (s *Server) journeys() map[string]bool {
	m := map[string]bool{}
	for _, j := range s.cfg.Brand.Journeys {
		m[j] = true
	}
	return m
}

// ===========================================================================
// Intake-first matching
// ===========================================================================

// matchDays is how far ahead availability is looked at.
const matchDays = 14

// matchShown is how many practices the answer lists.
const matchShown = 10

// How soon the patient wants to be seen.
const (
	soonWeek  = "week"
	soonMonth = "month"
	soonAny   = "any"
)

// matchQuery is what the patient answered.
type matchQuery struct {
	Specialty  string // "" any
	Language   string // ISO 639-1, "" any
	Tele       bool   // a teleconsultation suits
	Soon       string // week | month | any
	PostalCode string // "" not given
}

// matchCandidate is a verified practice as the ranking sees it.
type matchCandidate struct {
	ID, Name, City, PostalCode string
	Specialties, Languages     []string
	Tele                       bool      // offers teleconsultations
	Next                       time.Time // earliest free start within matchDays; zero: none
}

// matchResult is a ranked practice and the wishes it meets: the page says
// why it is listed.
type matchResult struct {
	matchCandidate
	Specialty bool // lists the specialty asked for
	Language  bool // speaks the language asked for
	Tele      bool // offers teleconsultation, which suits the patient
	Soon      bool // has a free time as soon as wished (week or month)
	Near      int  // 2: same postal code, 1: same département, 0: elsewhere or not asked
}

// foldText lowers s and drops accents, so "Cardiologie" and "cardiologie "
// compare equal.
func foldText(s string) string { return foldTypeName(strings.TrimSpace(s)) }

// postalArea is the département of a postal code (first two digits; three
// for overseas 97x/98x); for other countries the first two characters name a
// region close enough.
func postalArea(code string) string {
	c := strings.ToUpper(strings.Join(strings.Fields(code), ""))
	if len(c) < 2 {
		return ""
	}
	if len(c) >= 3 && (strings.HasPrefix(c, "97") || strings.HasPrefix(c, "98")) {
		return c[:3]
	}
	return c[:2]
}

// matchOf says which wishes of q candidate c meets.
func matchOf(c matchCandidate, q matchQuery, now time.Time) matchResult {
	r := matchResult{matchCandidate: c}
	if q.Specialty != "" {
		want := foldText(q.Specialty)
		for _, sp := range c.Specialties {
			if foldText(sp) == want {
				r.Specialty = true
				break
			}
		}
	}
	if q.Language != "" {
		for _, l := range c.Languages {
			if l == q.Language {
				r.Language = true
				break
			}
		}
	}
	r.Tele = q.Tele && c.Tele
	if !c.Next.IsZero() {
		switch q.Soon {
		case soonWeek:
			r.Soon = c.Next.Before(now.Add(7 * 24 * time.Hour))
		case soonMonth:
			r.Soon = c.Next.Before(now.Add(31 * 24 * time.Hour))
		}
	}
	if q.PostalCode != "" {
		mine, theirs := strings.ToUpper(strings.Join(strings.Fields(q.PostalCode), "")), strings.ToUpper(strings.Join(strings.Fields(c.PostalCode), ""))
		switch {
		case theirs != "" && mine == theirs:
			r.Near = 2
		case postalArea(mine) != "" && postalArea(mine) == postalArea(theirs):
			r.Near = 1
		}
	}
	return r
}

// firstKey is the part of the order that needs no availability: specialty,
// then language, then teleconsultation.
func (r matchResult) firstKey() int {
	k := 0
	if r.Specialty {
		k += 4
	}
	if r.Language {
		k += 2
	}
	if r.Tele {
		k++
	}
	return k
}

// better is the ranking order: specialty, language, teleconsultation,
// availability as soon as wished, proximity, then the earliest free time,
// then the name.
func better(a, b matchResult) bool {
	if ka, kb := a.firstKey(), b.firstKey(); ka != kb {
		return ka > kb
	}
	if a.Soon != b.Soon {
		return a.Soon
	}
	if a.Near != b.Near {
		return a.Near > b.Near
	}
	if a.Next.IsZero() != b.Next.IsZero() {
		return !a.Next.IsZero()
	}
	if !a.Next.Equal(b.Next) {
		return a.Next.Before(b.Next)
	}
	if fa, fb := foldText(a.Name), foldText(b.Name); fa != fb {
		return fa < fb
	}
	return a.ID < b.ID
}

// rankMatches orders the candidates for q and returns the first limit (all
// when limit is 0), each with the wishes it meets.
func rankMatches(cands []matchCandidate, q matchQuery, now time.Time, limit int) []matchResult {
	out := make([]matchResult, len(cands))
	for i, c := range cands {
		out[i] = matchOf(c, q, now)
	}
	sort.SliceStable(out, func(i, j int) bool { return better(out[i], out[j]) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// directoryChoices are the specialties (first spelling of each, sorted
// without accents or case) and languages present among the practices.
func directoryChoices(list []*store.Practice) (specialties, languages []string) {
	seen := map[string]bool{}
	langs := map[string]bool{}
	for _, p := range list {
		for _, sp := range p.Specialties {
			sp = strings.TrimSpace(sp)
			if k := foldText(sp); k != "" && !seen[k] {
				seen[k] = true
				specialties = append(specialties, sp)
			}
		}
		for _, l := range p.Languages {
			langs[l] = true
		}
	}
	sort.SliceStable(specialties, func(i, j int) bool { return foldText(specialties[i]) < foldText(specialties[j]) })
	for _, l := range settingLanguages {
		if langs[l] {
			languages = append(languages, l)
		}
	}
	return specialties, languages
}

// nextFreeStart is a practice's earliest free start within days, for the
// shortest type a new patient may book; zero when there is none.
func (s *Server) nextFreeStart(ctx context.Context, p *store.Practice, now time.Time, days int) (time.Time, error) {
	types, err := s.db.FindTypes(ctx, p.ID, false)
	if err != nil {
		return time.Time{}, err
	}
	var best *store.AppointmentType
	for _, t := range types {
		if !t.NewPatients {
			continue
		}
		if best == nil || schedule.SlotsNeeded(t.Minutes, t.BufferAfter, p.SlotMinutes) < schedule.SlotsNeeded(best.Minutes, best.BufferAfter, p.SlotMinutes) {
			best = t
		}
	}
	if best == nil {
		return time.Time{}, nil
	}
	today := s.today(p, now)
	starts, err := s.freeStarts(ctx, p, best.Minutes, best.BufferAfter, today, today.AddDays(days-1), now)
	if err != nil || len(starts) == 0 {
		return time.Time{}, err
	}
	first := starts[0].Start
	for _, c := range starts[1:] {
		if c.Start.Before(first) {
			first = c.Start
		}
	}
	return first, nil
}

// matchForm is the questionnaire as typed.
type matchForm struct {
	Specialty, Language, Tele, Soon, PostalCode string
}

type matchPage struct {
	*Page
	Form          matchForm
	Specialties   []string
	LanguageCodes []string
	Searched      bool
	Results       []matchResult
	Query         matchQuery
	Days          int
}

// LanguageName is a language's name in the page's language.
func (p *matchPage) LanguageName(code string) string { return p.T("settings.lang." + code) }

// NextText is when a result's earliest free time is, in the viewer's zone.
func (p *matchPage) NextText(r matchResult) string { return p.DateTime(r.Next) }

// MainSpecialty is the practice's main function (the first line).
func (r matchResult) MainSpecialty() string {
	if len(r.Specialties) == 0 {
		return ""
	}
	return r.Specialties[0]
}

func (s *Server) matchPage(w http.ResponseWriter, r *http.Request) (*matchPage, []*store.Practice, error) {
	list, err := s.db.FindPractices(r.Context(), store.PracticeFilter{Status: store.PracticeVerified})
	if err != nil {
		return nil, nil, err
	}
	p := &matchPage{Page: s.newPage(w, r, "match.title"), Form: matchForm{Tele: "yes", Soon: soonAny}, Days: matchDays}
	p.Specialties, p.LanguageCodes = directoryChoices(list)
	return p, list, nil
}

func (s *Server) handleMatch(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.matchPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "match", p)
}

// handleMatchSubmit ranks the practices for the answers. It is a POST so
// that what the patient needs never sits in a URL (history, logs, Referer).
func (s *Server) handleMatchSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, list, err := s.matchPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := matchForm{Specialty: strings.TrimSpace(r.PostFormValue("specialty")), Language: strings.TrimSpace(r.PostFormValue("language")),
		Tele: r.PostFormValue("tele"), Soon: r.PostFormValue("soon"), PostalCode: strings.TrimSpace(r.PostFormValue("postal_code"))}
	p.Form = f
	q := matchQuery{Soon: f.Soon, PostalCode: f.PostalCode}
	if f.Specialty != "" {
		for _, sp := range p.Specialties {
			if foldText(sp) == foldText(f.Specialty) {
				q.Specialty = sp
			}
		}
		if q.Specialty == "" {
			p.fail("specialty", "error.match_specialty")
		}
	}
	if f.Language != "" {
		for _, l := range settingLanguages {
			if l == f.Language {
				q.Language = l
			}
		}
		if q.Language == "" {
			p.fail("language", "error.match_language")
		}
	}
	switch f.Tele {
	case "yes":
		q.Tele = true
	case "no":
	default:
		p.fail("tele", "error.match_tele")
	}
	switch f.Soon {
	case soonWeek, soonMonth, soonAny:
	default:
		p.fail("soon", "error.match_soon")
	}
	if f.PostalCode != "" && !postalCodeRe.MatchString(f.PostalCode) {
		p.fail("postal_code", "error.match_postal_code")
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "match", p)
		return
	}
	tele, err := s.db.TeleconsultationPractices(ctx)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	cands := make([]matchCandidate, len(list))
	for i, pr := range list {
		cands[i] = matchCandidate{ID: pr.ID, Name: pr.Name, City: pr.City, PostalCode: pr.PostalCode,
			Specialties: pr.Specialties, Languages: pr.Languages, Tele: tele[pr.ID]}
	}
	// Availability is the costly part: look it up only for the practices
	// that can still reach the first places, i.e. those whose specialty,
	// language and teleconsultation match is at least that of the tenth.
	pre := rankMatches(cands, q, now, 0)
	floor := 0
	if len(pre) > matchShown {
		floor = pre[matchShown-1].firstKey()
	}
	byID := map[string]*store.Practice{}
	for _, pr := range list {
		byID[pr.ID] = pr
	}
	for i := range cands {
		if matchOf(cands[i], q, now).firstKey() < floor {
			continue
		}
		if cands[i].Next, err = s.nextFreeStart(ctx, byID[cands[i].ID], now, matchDays); err != nil {
			s.error(w, r, err)
			return
		}
	}
	p.Searched, p.Query = true, q
	p.Results = rankMatches(cands, q, now, matchShown)
	s.render(w, r, http.StatusOK, "match", p)
}

// ===========================================================================
// Assisted scheduling
// ===========================================================================

// Limits of a request.
const (
	requestMaxText = 1000
	requestMaxOpen = 3 // open or proposed requests one patient may have with one practice
	requestDays    = 7 // free starts shown to staff at a time
)

// bookablePractice returns a verified practice, or ErrNotFound.
func (s *Server) bookablePractice(ctx context.Context, id string) (*store.Practice, error) {
	pr, err := s.db.FindPracticeByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if pr.Status != store.PracticeVerified {
		return nil, store.ErrNotFound
	}
	return pr, nil
}

type requestFormPage struct {
	*Page
	Practice    *store.Practice
	Types       []*store.AppointmentType
	TypeID      string
	Preferences string
	Max         int
}

func (s *Server) requestFormPage(w http.ResponseWriter, r *http.Request) (*requestFormPage, error) {
	ctx := r.Context()
	pr, err := s.bookablePractice(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	types, err := s.db.FindTypes(ctx, pr.ID, false)
	if err != nil {
		return nil, err
	}
	return &requestFormPage{Page: s.newPage(w, r, "request.title"), Practice: pr, Types: types, Max: requestMaxText}, nil
}

func (s *Server) handleRequestForm(w http.ResponseWriter, r *http.Request) {
	p, err := s.requestFormPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "request_new", p)
}

// cleanRequestText checks the free text of a request and returns the
// catalogue id of what is wrong, if anything.
func cleanRequestText(v string) (string, string) {
	t, ok := cleanIntakeText(v, true)
	switch {
	case t == "":
		return t, "error.request_text_required"
	case !ok:
		return t, "error.request_text_invalid"
	case utf8.RuneCountInString(t) > requestMaxText:
		return t, "error.request_text_long"
	}
	return t, ""
}

func (s *Server) handleRequestSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, err := s.requestFormPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	text, msg := cleanRequestText(r.PostFormValue("preferences"))
	p.Preferences, p.TypeID = text, strings.TrimSpace(r.PostFormValue("type"))
	if msg != "" {
		p.fail("preferences", msg)
	}
	var typ *store.AppointmentType
	if p.TypeID != "" {
		for _, t := range p.Types {
			if t.ID == p.TypeID {
				typ = t
			}
		}
		if typ == nil {
			p.fail("type", "error.type_unknown")
		}
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "request_new", p)
		return
	}
	req := &store.BookingRequest{PracticeID: p.Practice.ID, PatientID: a.User.ID, TypeID: p.TypeID, Preferences: text}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if banned, err := tx.Banned(ctx, p.Practice.ID, a.User.ID); err != nil {
			return err
		} else if banned {
			return errorf(ECodeForbidden, "error.banned")
		}
		n, err := tx.CountActiveBookingRequests(ctx, p.Practice.ID, a.User.ID)
		if err != nil {
			return err
		}
		if n >= requestMaxOpen {
			return errorf(ECodeConflict, "error.request_too_many", "Count", requestMaxOpen)
		}
		if err := tx.CreateBookingRequest(ctx, req); err != nil {
			return err
		}
		if err := s.mailStaffRequest(ctx, tx, p.Practice, req); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "request.created", "booking_request", req.ID, p.Practice.ID)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Code == ECodeConflict || e.Code == ECodeForbidden) {
			p.Error = p.T(e.Message, e.Args...)
			s.render(w, r, statusOf(e.Code), "request_new", p)
			return
		}
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.request_sent")
	http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
}

// mailStaffRequest tells the practice's practitioner and secretaries that a
// request waits (no patient detail in the mail: they read it signed in).
func (s *Server) mailStaffRequest(ctx context.Context, tx *store.Tx, pr *store.Practice, req *store.BookingRequest) error {
	members, err := s.db.PracticeMembers(ctx, pr.ID)
	if err != nil {
		return err
	}
	sent := map[string]bool{}
	for _, m := range members {
		if (m.Role != store.RolePractitioner && m.Role != store.RoleSecretary) || sent[m.UserID] {
			continue
		}
		sent[m.UserID] = true
		u, err := tx.FindUserByID(ctx, m.UserID)
		if err != nil {
			return err
		}
		if !u.DisabledAt.IsZero() {
			continue
		}
		ml := s.mailerFor(u.Locale)
		c := ml.compose("request_received", u.Name, s.link("/pro/p/"+url.PathEscape(pr.ID)+"/requests/"+url.PathEscape(req.ID), nil), "Practice", pr.Name)
		if err := s.enqueue(ctx, tx, u.Email, "request_received", c); err != nil {
			return err
		}
	}
	return nil
}

// --- The patient's side ------------------------------------------------------

// requestView is a request with what the pages show of it.
type requestView struct {
	*store.BookingRequest
	Practice     *store.Practice
	Patient      *store.User
	TypeName     string
	Type         *store.AppointmentType
	Proposed     time.Time // start of the proposed slot; zero if none
	ProposedText string    // in the practice's zone, with the zone
	CreatedText  string
}

// Open tells whether the request waits for the practice.
func (v *requestView) Open() bool { return v.State == store.RequestOpen }

// IsProposed tells whether a time waits for the patient's answer.
func (v *requestView) IsProposed() bool { return v.State == store.RequestProposed }

// Booked tells whether the patient confirmed.
func (v *requestView) Booked() bool { return v.State == store.RequestBooked }

// Active tells whether the request is still open or proposed.
func (v *requestView) Active() bool { return v.Open() || v.IsProposed() }

func (s *Server) requestView(ctx context.Context, p *Page, req *store.BookingRequest, pr *store.Practice) (*requestView, error) {
	v := &requestView{BookingRequest: req, Practice: pr, CreatedText: p.DateTime(req.CreatedAt)}
	if pr == nil {
		var err error
		if v.Practice, err = s.db.FindPracticeByID(ctx, req.PracticeID); err != nil {
			return nil, err
		}
	}
	if req.TypeID != "" {
		if t, err := s.db.FindTypeByID(ctx, req.TypeID); err == nil && t.PracticeID == req.PracticeID {
			v.Type, v.TypeName = t, t.Name
		}
	}
	if req.State == store.RequestProposed && req.ProposedSlot != "" {
		if sl, err := s.db.FindSlotByID(ctx, req.ProposedSlot); err == nil {
			v.Proposed = sl.Start
			v.ProposedText = formatDateTime(p.Lang, sl.Start, s.location(v.Practice.TimeZone)) + " (" + v.Practice.TimeZone + ")"
		}
	}
	return v, nil
}

// StateName is the request's state in words.
func (p *Page) requestState(state string) string { return p.T("request.state_" + state) }

type myRequestsPage struct {
	*Page
	Requests []*requestView
}

// StateName is a request state in words.
func (p *myRequestsPage) StateName(state string) string { return p.requestState(state) }

func (s *Server) handleMyRequests(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	list, err := s.db.FindBookingRequests(ctx, store.BookingRequestFilter{PatientID: a.User.ID})
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &myRequestsPage{Page: s.newPage(w, r, "request.mine_title")}
	for i := len(list) - 1; i >= 0; i-- { // newest first
		v, err := s.requestView(ctx, p.Page, list[i], nil)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Requests = append(p.Requests, v)
	}
	s.render(w, r, http.StatusOK, "requests_mine", p)
}

// loadOwnRequest finds the patient's own request; anyone else's is a 404,
// and the attempt is audited.
func (s *Server) loadOwnRequest(w http.ResponseWriter, r *http.Request) (*store.BookingRequest, bool) {
	ctx := r.Context()
	a := actorFrom(r)
	req, err := s.db.FindBookingRequestByID(ctx, r.PathValue("req"))
	if err == nil && req.PatientID != a.User.ID {
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, a.User.ID, "request.denied", "booking_request", req.ID, r.Method+" "+r.Pattern)
		})
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return req, true
}

type requestPage struct {
	*Page
	Request *requestView
	Phone   string
	Reason  string
	Intake  *intakeView
}

// StateName is a request state in words.
func (p *requestPage) StateName(state string) string { return p.requestState(state) }

// AskPhone tells whether confirming needs the patient's mobile number.
func (p *requestPage) AskPhone() bool {
	return p.Request.Type != nil && p.Request.Type.Teleconsultation
}

// AskReason tells whether the patient may add a reason (free reason mode).
func (p *requestPage) AskReason() bool { return p.Request.Practice.ReasonMode != "table" }

// PatientZone is the proposed time in the viewer's own zone when it differs
// from the practice's ("" otherwise).
func (p *requestPage) PatientZone() string {
	v := p.Request
	if v.Proposed.IsZero() || p.Loc == nil || p.Loc.String() == v.Practice.TimeZone {
		return ""
	}
	return p.DateTime(v.Proposed) + " (" + p.Loc.String() + ")"
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, req *store.BookingRequest, form map[string][]string) (*requestPage, []intakeQuestion, error) {
	ctx := r.Context()
	p := &requestPage{Page: s.newPage(w, r, "request.view_title")}
	v, err := s.requestView(ctx, p.Page, req, nil)
	if err != nil {
		return nil, nil, err
	}
	p.Request = v
	var qs []intakeQuestion
	if v.IsProposed() && v.Type != nil {
		if qs, err = s.intakeQuestions(ctx, v.Type.ID); err != nil {
			return nil, nil, err
		}
	}
	p.Intake = s.intakeView(p.Page, qs, form)
	return p, qs, nil
}

func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request) {
	req, ok := s.loadOwnRequest(w, r)
	if !ok {
		return
	}
	p, _, err := s.requestPage(w, r, req, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "request", p)
}

// slotProblem tells whether a booking refusal is about what the practice
// proposed (the time taken meanwhile, passed, too close, gone; the visit
// reason removed): the practice must then propose another.
func slotProblem(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == ECodeSlotTaken || e.Field == "slot_id" || e.Field == "type_id"
}

// handleRequestConfirm books the proposed time through s.book (every rule
// applies). If the time was taken meanwhile the request goes back to the
// practice, open, and the patient is told.
func (s *Server) handleRequestConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	req, ok := s.loadOwnRequest(w, r)
	if !ok {
		return
	}
	a := actorFrom(r)
	if req.State == store.RequestBooked {
		// A second click: the booking is made.
		http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
		return
	}
	if req.State != store.RequestProposed || req.TypeID == "" || req.ProposedSlot == "" {
		s.error(w, r, errorf(ECodeConflict, "error.request_not_proposed"))
		return
	}
	p, qs, err := s.requestPage(w, r, req, r.PostForm)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Phone, p.Reason = strings.TrimSpace(r.PostFormValue("phone")), strings.TrimSpace(r.PostFormValue("reason"))
	answers, errs := parseIntake(r.PostForm, qs)
	p.failIntake(errs)
	if p.AskPhone() {
		if _, ok := cleanPhone(p.Phone); !ok {
			p.fail("phone", "error.phone")
		}
	}
	if p.failed() {
		p.Intake = s.intakeView(p.Page, qs, r.PostForm)
		s.render(w, r, http.StatusUnprocessableEntity, "request", p)
		return
	}
	appt, err := s.book(ctx, bookRequest{SlotID: req.ProposedSlot, TypeID: req.TypeID, Reason: p.Reason, Phone: p.Phone,
		Key: "request:" + req.ID, Source: "online", Patient: a.User, ActorID: a.User.ID, IP: s.clientIP(r), Answers: answers})
	if slotProblem(err) {
		// Back to the practice, which proposes another time.
		err = s.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.ChangeBookingRequest(ctx, req.ID, store.BookingRequestChange{From: store.RequestProposed, To: store.RequestOpen}); err != nil {
				return err
			}
			if err := s.mailStaffRequest(ctx, tx, p.Request.Practice, req); err != nil {
				return err
			}
			return s.audit(ctx, tx, r, a.User.ID, "request.reopened", "booking_request", req.ID, "slot unavailable")
		})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			s.error(w, r, err)
			return
		}
		setFlash(w, "flash.request_slot_taken")
		http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
		return
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code != ECodeInternal && e.Code != ECodeNotFound {
			switch e.Field {
			case "phone", "reason":
				p.fail(e.Field, e.Message, e.Args...)
			default:
				p.Error = p.T(e.Message, e.Args...)
			}
			s.render(w, r, statusOf(e.Code), "request", p)
			return
		}
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ChangeBookingRequest(ctx, req.ID, store.BookingRequestChange{From: store.RequestProposed, To: store.RequestBooked,
			ProposedSlot: req.ProposedSlot, AppointmentID: appt.ID}); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "request.booked", "booking_request", req.ID, appt.ID)
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.request_booked")
	http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
}

// handleRequestDecline: the patient declines the proposed time, or withdraws
// a request still open.
func (s *Server) handleRequestDecline(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, ok := s.loadOwnRequest(w, r)
	if !ok {
		return
	}
	a := actorFrom(r)
	to := store.RequestDeclined
	switch req.State {
	case store.RequestOpen:
		to = store.RequestCancelled
	case store.RequestProposed:
	default:
		http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ChangeBookingRequest(ctx, req.ID, store.BookingRequestChange{From: req.State, To: to, ProposedSlot: req.ProposedSlot}); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "request."+to, "booking_request", req.ID, "")
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.error(w, r, err)
		return
	}
	if err == nil && to == store.RequestCancelled {
		setFlash(w, "flash.request_cancelled")
	} else if err == nil {
		setFlash(w, "flash.request_declined")
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
}

// --- The practice's side -----------------------------------------------------

type staffRequestsPage struct {
	*Page
	Practice *store.Practice
	Requests []*requestView
}

// StateName is a request state in words.
func (p *staffRequestsPage) StateName(state string) string { return p.requestState(state) }

func (s *Server) handleStaffRequests(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindBookingRequests(ctx, store.BookingRequestFilter{PracticeID: pr.ID, States: []string{store.RequestOpen, store.RequestProposed}})
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &staffRequestsPage{Page: s.newPage(w, r, "request.staff_title"), Practice: pr}
	for _, req := range list {
		v, err := s.requestView(ctx, p.Page, req, pr)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if v.Patient, err = s.db.FindUserByID(ctx, req.PatientID); err != nil {
			s.error(w, r, err)
			return
		}
		p.Requests = append(p.Requests, v)
	}
	s.render(w, r, http.StatusOK, "requests_staff", p)
}

// loadPracticeRequest finds a request of the path's practice.
func (s *Server) loadPracticeRequest(ctx context.Context, r *http.Request) (*store.Practice, *store.BookingRequest, error) {
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	req, err := s.db.FindBookingRequestByID(ctx, r.PathValue("req"))
	if err != nil {
		return nil, nil, err
	}
	if req.PracticeID != pr.ID {
		return nil, nil, store.ErrNotFound
	}
	return pr, req, nil
}

// startDay is one day of free starts on the staff page.
type startDay struct {
	Day    string
	Starts []startChoice
	Open   bool // shown unfolded: the first day, or the one holding the chosen time
}

type startChoice struct {
	ID, Time string
	Checked  bool
}

type staffRequestPage struct {
	*Page
	Practice  *store.Practice
	Request   *requestView
	Types     []*store.AppointmentType
	TypeID    string
	From      schedule.Day
	Days      []startDay
	Earlier   string // from= of the previous week ("" at today)
	Later     string // from= of the next week ("" past the horizon)
	Zone      string
	NoStarts  bool
	Submitted string // the slot chosen when the form comes back
}

// StateName is a request state in words.
func (p *staffRequestPage) StateName(state string) string { return p.requestState(state) }

// staffRequestPage builds the page: the request, a type (the request's, or
// chosen with ?type=), and a week of that type's free starts from ?from=.
func (s *Server) staffRequestPage(w http.ResponseWriter, r *http.Request, typeID, from string) (*staffRequestPage, error) {
	ctx := r.Context()
	pr, req, err := s.loadPracticeRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	p := &staffRequestPage{Page: s.newPage(w, r, "request.propose_title"), Practice: pr, Zone: pr.TimeZone}
	if p.Request, err = s.requestView(ctx, p.Page, req, pr); err != nil {
		return nil, err
	}
	if p.Request.Patient, err = s.db.FindUserByID(ctx, req.PatientID); err != nil {
		return nil, err
	}
	if p.Types, err = s.db.FindTypes(ctx, pr.ID, false); err != nil {
		return nil, err
	}
	// The type chosen on the page, else the request's (if still offered),
	// else the first one.
	find := func(id string) *store.AppointmentType {
		for _, t := range p.Types {
			if t.ID == id {
				return t
			}
		}
		return nil
	}
	var typ *store.AppointmentType
	switch {
	case typeID != "":
		if typ = find(typeID); typ == nil {
			p.fail("type", "error.type_unknown")
			return p, nil
		}
	case find(req.TypeID) != nil:
		typ = find(req.TypeID)
	case len(p.Types) > 0:
		typ = p.Types[0]
	default:
		return p, nil
	}
	p.TypeID = typ.ID
	now := s.clock()
	today := s.today(pr, now)
	start := today
	if d, err := schedule.ParseDay(from); err == nil && today.Before(d) && d.Before(today.AddDays(pr.HorizonDays+1)) {
		start = d
	}
	p.From = start
	if start != today {
		prev := start.AddDays(-requestDays)
		if prev.Before(today) {
			prev = today
		}
		p.Earlier = prev.String()
	}
	if next := start.AddDays(requestDays); !today.AddDays(pr.HorizonDays).Before(next) {
		p.Later = next.String()
	}
	loc := s.location(pr.TimeZone)
	starts, err := s.freeStarts(ctx, pr, typ.Minutes, typ.BufferAfter, start, start.AddDays(requestDays-1), now)
	if err != nil {
		return nil, err
	}
	p.NoStarts = len(starts) == 0
	for _, c := range starts {
		day := formatDate(p.Lang, c.Start, loc) + " · " + p.T("request.weekday_"+strings.ToLower(c.Start.In(loc).Weekday().String()[:3]))
		if len(p.Days) == 0 || p.Days[len(p.Days)-1].Day != day {
			p.Days = append(p.Days, startDay{Day: day})
		}
		d := &p.Days[len(p.Days)-1]
		d.Starts = append(d.Starts, startChoice{ID: c.ID, Time: c.Start.In(loc).Format("15:04")})
	}
	if len(p.Days) > 0 {
		p.Days[0].Open = true
	}
	return p, nil
}

func (s *Server) handleStaffRequest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := s.staffRequestPage(w, r, strings.TrimSpace(q.Get("type")), q.Get("from"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if p.failed() {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "request_staff", p)
}

// handleStaffPropose proposes a free start of the chosen type to the
// patient, who is e-mailed. A request already proposed may get another time.
func (s *Server) handleStaffPropose(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	slotID := strings.TrimSpace(r.PostFormValue("slot"))
	p, err := s.staffRequestPage(w, r, strings.TrimSpace(r.PostFormValue("type")), r.PostFormValue("from"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	req := p.Request.BookingRequest
	if !p.Request.Active() {
		s.error(w, r, errorf(ECodeConflict, "error.request_closed"))
		return
	}
	var typ *store.AppointmentType
	for _, t := range p.Types {
		if t.ID == p.TypeID {
			typ = t
		}
	}
	if typ == nil && !p.failed() {
		p.fail("type", "error.type_unknown")
	}
	// The time must be a free start of that type now (the patient's
	// confirmation claims it with every rule; this only keeps the practice
	// from proposing a time that cannot work).
	var slot *store.Slot
	if typ != nil {
		if slotID == "" {
			p.fail("slot", "error.request_slot_required")
		} else if sl, err := s.db.FindSlotByID(ctx, slotID); err != nil || sl.PracticeID != p.Practice.ID {
			p.fail("slot", "error.slot_unknown")
		} else {
			day := schedule.DayOf(sl.Start.In(s.location(p.Practice.TimeZone)))
			starts, err := s.freeStarts(ctx, p.Practice, typ.Minutes, typ.BufferAfter, day, day, s.clock())
			if err != nil {
				s.error(w, r, err)
				return
			}
			for _, c := range starts {
				if c.ID == sl.ID {
					slot = sl
				}
			}
			if slot == nil {
				p.fail("slot", "error.request_slot_gone")
			}
		}
	}
	if p.failed() {
		for i := range p.Days {
			for j := range p.Days[i].Starts {
				p.Days[i].Starts[j].Checked = p.Days[i].Starts[j].ID == slotID
				p.Days[i].Open = p.Days[i].Open || p.Days[i].Starts[j].Checked
			}
		}
		s.render(w, r, http.StatusUnprocessableEntity, "request_staff", p)
		return
	}
	patient := p.Request.Patient
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ChangeBookingRequest(ctx, req.ID, store.BookingRequestChange{From: req.State, To: store.RequestProposed,
			TypeID: typ.ID, ProposedSlot: slot.ID}); err != nil {
			return err
		}
		m := s.mailerFor(patient.Locale)
		when := formatDateTime(m.lang, slot.Start, s.location(p.Practice.TimeZone)) + " (" + p.Practice.TimeZone + ")"
		c := m.compose("request_proposed", patient.Name, s.link("/requests/"+url.PathEscape(req.ID), nil),
			"When", when, "Practice", p.Practice.Name, "Type", typ.Name)
		if err := s.enqueue(ctx, tx, patient.Email, "request_proposed", c); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "request.proposed", "booking_request", req.ID, slot.ID)
	})
	if errors.Is(err, store.ErrConflict) {
		s.error(w, r, errorf(ECodeConflict, "error.request_changed"))
		return
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.request_proposed")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.Practice.ID)+"/requests", http.StatusSeeOther)
}

// handleStaffDecline: the practice cannot offer a time; the patient is told.
func (s *Server) handleStaffDecline(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, req, err := s.loadPracticeRequest(ctx, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if req.State != store.RequestOpen && req.State != store.RequestProposed {
		s.error(w, r, errorf(ECodeConflict, "error.request_closed"))
		return
	}
	patient, err := s.db.FindUserByID(ctx, req.PatientID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ChangeBookingRequest(ctx, req.ID, store.BookingRequestChange{From: req.State, To: store.RequestDeclined}); err != nil {
			return err
		}
		m := s.mailerFor(patient.Locale)
		c := m.compose("request_declined", patient.Name, s.link("/requests/"+url.PathEscape(req.ID), nil),
			"Practice", pr.Name, "Phone", cmp.Or(pr.SecretaryPhone, "—"))
		if err := s.enqueue(ctx, tx, patient.Email, "request_declined", c); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "request.declined", "booking_request", req.ID, "by practice")
	})
	if errors.Is(err, store.ErrConflict) {
		s.error(w, r, errorf(ECodeConflict, "error.request_changed"))
		return
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.request_declined_staff")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(pr.ID)+"/requests", http.StatusSeeOther)
}
