package app

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"daraport/store"
)

// The practice workspace (issue 5, seed 004 "Espace Secrétaires"): the
// plannings the staff read all day, live by Server-Sent Events, and the
// front-desk operations on them (cancel, move, phone booking, paid, no-show,
// bans), the patient card and search, the allowlist, secretaries and
// mailings. Every page is scoped to one practice ({id}) through the route's
// practice field: another practice's staff get 404. Every staff action is
// audited.

// workspaceRoutes are the routes of the practice workspace (issue 5).
func (s *Server) workspaceRoutes() []route {
	desk := func(method, path string, h http.HandlerFunc) route {
		return route{method: method, path: path, perm: PermPracticeDesk, h: h, practice: "id", auditDenied: true}
	}
	return []route{
		{method: "GET", path: "/desk", perm: PermPracticeStaff, h: s.handleDesk},
		desk("GET", "/pro/p/{id}/visits", s.handleVisits),
		desk("GET", "/pro/p/{id}/visits/live", s.handleVisitsLive),
		desk("GET", "/pro/p/{id}/visits/events", s.handleVisitsEvents),
		desk("GET", "/pro/p/{id}/day", s.handleClinicDay),
		desk("GET", "/pro/p/{id}/sheet", s.handleDaySheet),
		desk("GET", "/pro/p/{id}/home-visits", s.handleHomeVisits),
		desk("POST", "/pro/p/{id}/home-visits", s.handleHomeVisitsSave),
		desk("GET", "/pro/p/{id}/appointments/{appt}/confirm", s.handleDeskConfirm),
		desk("POST", "/pro/p/{id}/appointments/{appt}/cancel", s.handleDeskCancel),
		desk("GET", "/pro/p/{id}/appointments/{appt}/move", s.handleDeskMove),
		desk("POST", "/pro/p/{id}/appointments/{appt}/move", s.handleDeskMoveSubmit),
		desk("POST", "/pro/p/{id}/appointments/{appt}/paid", s.handleDeskPaid),
		desk("POST", "/pro/p/{id}/appointments/{appt}/unpaid", s.handleDeskUnpaid),
		desk("POST", "/pro/p/{id}/appointments/{appt}/no-show", s.handleDeskNoShow),
		desk("GET", "/pro/p/{id}/book", s.handleDeskBook),
		desk("POST", "/pro/p/{id}/book", s.handleDeskBookSubmit),
		desk("GET", "/pro/p/{id}/patients", s.handlePatients),
		desk("GET", "/pro/p/{id}/patients/{patient}", s.handlePatientCard),
		desk("POST", "/pro/p/{id}/patients/{patient}/notes", s.handlePatientNote),
		desk("POST", "/pro/p/{id}/patients/{patient}/ban", s.handlePatientBan),
		desk("POST", "/pro/p/{id}/patients/{patient}/unban", s.handlePatientUnban),
		desk("GET", "/pro/p/{id}/allowlist", s.handleAllowlist),
		desk("POST", "/pro/p/{id}/allowlist", s.handleAllowlistAdd),
		desk("POST", "/pro/p/{id}/allowlist/import", s.handleAllowlistImport),
		desk("POST", "/pro/p/{id}/allowlist/remove", s.handleAllowlistRemove),
		{method: "GET", path: "/pro/p/{id}/secretaries", perm: PermPracticeAdmin, h: s.handleSecretaries, practice: "id", auditDenied: true},
		{method: "POST", path: "/pro/p/{id}/secretaries", perm: PermPracticeAdmin, h: s.handleSecretaryAdd, practice: "id", auditDenied: true},
		{method: "POST", path: "/pro/p/{id}/secretaries/{user}/remove", perm: PermPracticeAdmin, h: s.handleSecretaryRemove, practice: "id", auditDenied: true},
		desk("GET", "/pro/p/{id}/mailing", s.handleMailing),
		desk("POST", "/pro/p/{id}/mailing", s.handleMailingSend),
		{method: "GET", path: "/unsubscribe/{token}", perm: PermPublic, h: s.handleUnsubscribe},
		{method: "POST", path: "/unsubscribe/{token}", perm: PermPublic, h: s.handleUnsubscribeSubmit},

		// API (DESIGN §5): the same operations and policy as the pages.
		{method: "POST", path: "/api/v1/appointments/{id}/no-show", perm: PermSignedIn, h: s.handleAPINoShow},
		{method: "POST", path: "/api/v1/appointments/{id}/paid", perm: PermSignedIn, h: s.handleAPIPaid},
		{method: "POST", path: "/api/v1/appointments/{id}/unpaid", perm: PermSignedIn, h: s.handleAPIUnpaid},
		desk("GET", "/api/v1/practices/{id}/allowlist", s.handleAPIAllowlist),
		desk("POST", "/api/v1/practices/{id}/allowlist", s.handleAPIAllowlistAdd),
		desk("POST", "/api/v1/practices/{id}/allowlist/remove", s.handleAPIAllowlistRemove),
		desk("GET", "/api/v1/practices/{id}/bans", s.handleAPIBans),
		desk("POST", "/api/v1/practices/{id}/bans", s.handleAPIBan),
		desk("DELETE", "/api/v1/practices/{id}/bans/{patient}", s.handleAPIUnban),
	}
}

// workspaceCommitted pushes a committed change to the open planning views.
// It never blocks: a view whose buffer is full already has a refresh
// pending, which will show this change too.
func (s *Server) workspaceCommitted(ev apptEvent) {
	if ev.Appt == nil {
		return
	}
	s.live.publish(ev.Appt.PracticeID, ev.Kind)
}

// workspaceBlocksChanged tells the open planning views of a practice that
// its blocks changed (blocks.go calls it after a block is created or removed).
func (s *Server) workspaceBlocksChanged(practiceID string) {
	s.live.publish(practiceID, "block.changed")
}

// ---- Live updates ----

const (
	// liveBuffer bounds what a slow connection holds: a few kinds of change;
	// more are dropped, the pending ones already make the view re-fetch.
	liveBuffer = 4
	// liveMaxConns bounds the open event streams of the whole server.
	liveMaxConns = 5000
	// liveHeartbeat keeps proxies from closing an idle stream and shows a
	// dead client to the server.
	liveHeartbeat = 25 * time.Second
	// liveMaxAge ends a stream after a while; the browser reconnects at once
	// (EventSource), and the reconnection checks the session again, so a
	// revoked session or removed secretary stops receiving within minutes.
	liveMaxAge = 10 * time.Minute
)

// liveHub fans committed changes out to the event streams of each
// practice's open plannings. The zero value is ready to use.
type liveHub struct {
	mu     sync.Mutex
	subs   map[string]map[*liveSub]struct{} // practice id → streams
	conns  int
	done   chan struct{} // closed at shutdown
	closed bool
	// vers counts each practice's published changes; cache holds rendered
	// live regions, valid while their practice's count is unchanged (and
	// for liveCacheTTL at most, for what changes with the clock alone).
	vers  map[string]uint64
	cache map[string]liveCacheEntry
	// building holds the renders under way: after a change, the views
	// that re-fetch at once wait for one render instead of each making it.
	building map[string]*liveBuild
}

// liveBuild is one render under way.
type liveBuild struct {
	done chan struct{}
	html template.HTML
	err  error
}

// render returns the practice's live region for key: from the cache, from a
// render under way, or by calling build (once for concurrent callers).
func (h *liveHub) render(practiceID, key string, now time.Time, build func() (template.HTML, error)) (template.HTML, bool, error) {
	h.mu.Lock()
	e, ok := h.cache[key]
	if ok && e.ver == h.vers[practiceID] && now.Sub(e.at) <= liveCacheTTL && !now.Before(e.at) {
		h.mu.Unlock()
		return e.html, true, nil
	}
	ver := h.vers[practiceID]
	bkey := fmt.Sprintf("%s|%d", key, ver)
	if c, ok := h.building[bkey]; ok {
		h.mu.Unlock()
		<-c.done
		return c.html, true, c.err
	}
	if h.building == nil {
		h.building = map[string]*liveBuild{}
	}
	c := &liveBuild{done: make(chan struct{})}
	h.building[bkey] = c
	h.mu.Unlock()
	c.html, c.err = build()
	h.mu.Lock()
	delete(h.building, bkey)
	if c.err == nil {
		if h.cache == nil || len(h.cache) >= liveCacheMax {
			h.cache = map[string]liveCacheEntry{}
		}
		h.cache[key] = liveCacheEntry{ver: ver, at: now, html: c.html}
	}
	h.mu.Unlock()
	close(c.done)
	return c.html, false, c.err
}

// liveCacheEntry is a rendered live region of a planning.
type liveCacheEntry struct {
	ver  uint64
	at   time.Time
	html template.HTML
}

const (
	// liveCacheTTL bounds how long a rendered planning is reused: the
	// current visit and the free slots change with the clock alone.
	liveCacheTTL = 10 * time.Second
	// liveCacheMax bounds the cache (views × languages × pages).
	liveCacheMax = 2000
)

// version returns the practice's change count.
func (h *liveHub) version(practiceID string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.vers[practiceID]
}

// closing returns a channel closed when the server shuts down.
func (h *liveHub) closing() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	return h.done
}

// close ends every open stream (server shutdown).
func (h *liveHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// liveSub is one open event stream, listening to one or more practices.
type liveSub struct {
	ch        chan string
	practices []string
}

// subscribe opens a stream for the practices; nil when the server has too
// many already.
func (h *liveHub) subscribe(practices []string) *liveSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns >= liveMaxConns {
		return nil
	}
	if h.subs == nil {
		h.subs = map[string]map[*liveSub]struct{}{}
	}
	sub := &liveSub{ch: make(chan string, liveBuffer), practices: practices}
	for _, p := range practices {
		if h.subs[p] == nil {
			h.subs[p] = map[*liveSub]struct{}{}
		}
		h.subs[p][sub] = struct{}{}
	}
	h.conns++
	return sub
}

func (h *liveHub) unsubscribe(sub *liveSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range sub.practices {
		delete(h.subs[p], sub)
		if len(h.subs[p]) == 0 {
			delete(h.subs, p)
		}
	}
	h.conns--
}

// publish sends kind to every stream of the practice without waiting.
func (h *liveHub) publish(practiceID, kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vers == nil {
		h.vers = map[string]uint64{}
	}
	h.vers[practiceID]++
	for sub := range h.subs[practiceID] {
		select {
		case sub.ch <- kind:
		default: // a refresh is already pending for that view
		}
	}
}

// open returns how many streams are open (tests and benchmarks).
func (h *liveHub) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

// handleVisitsEvents is the planning's event stream: one "change" event per
// committed change of the practice (or of the clinic's practices the caller
// also serves, for the side-by-side view), with only the kind of change: the
// page re-fetches its fragment, so no patient data travels in the stream.
func (s *Server) handleVisitsEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	practices := []string{r.PathValue("id")}
	if r.URL.Query().Get("clinic") == "1" {
		p, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		list, err := s.clinicPractices(ctx, actorFrom(r), p)
		if err != nil {
			s.error(w, r, err)
			return
		}
		practices = practices[:0]
		for _, c := range list {
			practices = append(practices, c.ID)
		}
	}
	sub := s.live.subscribe(practices)
	if sub == nil {
		w.Header().Set("Retry-After", "30")
		s.error(w, r, errorf(ECodeUnavailable, "error.ws_live_busy"))
		return
	}
	defer s.live.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n: open\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil || r.URL.Query().Get("once") == "1" {
		// once=1 answers the opening alone: a probe (and the route
		// matrix) checks access without holding a stream open.
		return
	}
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	end := time.NewTimer(liveMaxAge)
	defer end.Stop()
	closing := s.live.closing()
	for {
		var msg string
		select {
		case <-ctx.Done():
			return
		case <-closing:
			return
		case <-end.C:
			return
		case <-beat.C:
			msg = ": ping\n\n"
		case kind := <-sub.ch:
			msg = "event: change\ndata: " + strings.ReplaceAll(kind, "\n", "") + "\n\n"
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprint(w, msg); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// ---- Shared helpers ----

// deskPractice loads the practice of the path's {id} (the guard already
// checked the caller's right on it).
func (s *Server) deskPractice(r *http.Request) (*store.Practice, error) {
	return s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
}

// deskAppointment loads the appointment {appt} of the practice {id}: an
// appointment of another practice answers 404, and the attempt is audited.
func (s *Server) deskAppointment(r *http.Request) (*store.Appointment, *store.Practice, error) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		return nil, nil, err
	}
	appt, err := s.db.FindAppointmentByID(ctx, r.PathValue("appt"))
	if err != nil {
		return nil, nil, err
	}
	if appt.PracticeID != p.ID {
		s.auditDenied(r, "appointment", appt.ID)
		return nil, nil, store.ErrNotFound
	}
	return appt, p, nil
}

// auditDenied records an attempt on another practice's object.
func (s *Server) auditDenied(r *http.Request, objType, objID string) {
	ctx := r.Context()
	a := actorFrom(r)
	if a == nil {
		return
	}
	_ = s.db.Update(ctx, func(tx *store.Tx) error {
		return s.audit(ctx, tx, r, a.User.ID, objType+".denied", objType, objID, r.Method+" "+r.Pattern)
	})
}

// clinicPractices returns p and the other practices of its organization
// (its clinic) whose desk the actor may use, by name.
func (s *Server) clinicPractices(ctx context.Context, a *Actor, p *store.Practice) ([]*store.Practice, error) {
	if p.OrganizationID == "" {
		return []*store.Practice{p}, nil
	}
	list, err := s.db.FindPractices(ctx, store.PracticeFilter{OrganizationID: p.OrganizationID})
	if err != nil {
		return nil, err
	}
	var out []*store.Practice
	for _, c := range list {
		if c.ID == p.ID || Allow(a, PermPracticeDesk, Target{PracticeID: c.ID}) {
			out = append(out, c)
		}
	}
	return out, nil
}

// backTo redirects to the page the form came from (a path of this site),
// else to fallback, with a flash message.
func backTo(w http.ResponseWriter, r *http.Request, fallback, flash string) {
	next := safeNext(r.PostFormValue("next"))
	if next == "/" {
		next = fallback
	}
	if flash != "" {
		setFlash(w, flash)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// deskError shows a refused planning change on the page the form came from
// (as a flash-like error on a fresh page), or as JSON on the API.
func (s *Server) deskError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) && e.Code != ECodeNotFound && e.Code != ECodeInternal && !isAPI(r) {
		p := s.newPage(w, r, "ws.refused_title")
		p.Error = p.T(e.Message, e.Args...)
		back := safeNext(r.PostFormValue("next"))
		s.render(w, r, statusOf(e.Code), "workspace_refused", &refusedPage{Page: p, Back: back})
		return
	}
	s.error(w, r, err)
}

type refusedPage struct {
	*Page
	Back string
}

// handleDesk is the front desk's entry: the planning of the one practice the
// person serves, or the list of them.
func (s *Server) handleDesk(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	list, err := s.practicesOf(r.Context(), a, store.RolePractitioner, store.RoleSecretary)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(list) == 1 {
		http.Redirect(w, r, "/pro/p/"+list[0].ID+"/visits", http.StatusSeeOther)
		return
	}
	p := &portalPage{Page: s.newPage(w, r, "ws.desk_title"), Practices: list}
	s.render(w, r, http.StatusOK, "workspace_desk", p)
}

// wsCtx lets a page's template render planning rows with their action
// forms: the practice's base path and where the forms come back.
type wsCtx struct {
	pg   *Page
	base string
	next string
}

func newWSCtx(pg *Page, p *store.Practice, next string) wsCtx {
	return wsCtx{pg: pg, base: "/pro/p/" + p.ID, next: next}
}

// Row wraps a row for the "ws-row" template.
func (c wsCtx) Row(r wsRow) wsRowView { return wsRowView{Row: r, Base: c.base, Next: c.next, pg: c.pg} }

// RowIn wraps a row of another practice of the clinic.
func (c wsCtx) RowIn(p *store.Practice, r wsRow) wsRowView {
	return wsRowView{Row: r, Base: "/pro/p/" + p.ID, Next: c.next, pg: c.pg}
}

// wsRowView is what the "ws-row" template gets.
type wsRowView struct {
	Row  wsRow
	Base string
	Next string
	pg   *Page
}

// T translates for the row's page.
func (v wsRowView) T(id string, args ...any) string { return v.pg.T(id, args...) }

// HTML renders a planning row. Rows are rendered here rather than by a
// template: a busy planning has hundreds, and html/template's reflective
// escaping of each field was most of the page's time. Every value is
// escaped with html.EscapeString; URLs are built from ids (opaque,
// URL-safe) and escaped too.
func (v wsRowView) HTML() template.HTML {
	var b strings.Builder
	b.Grow(512)
	r := v.Row
	e := html.EscapeString
	b.WriteString(`<li class="ws-row ws-row-` + e(r.Class) + `" data-kind="` + e(r.Kind) + `"`)
	if r.ApptID != "" {
		b.WriteString(` id="appt-` + e(r.ApptID) + `"`)
	}
	b.WriteString(">\n  <span class=\"ws-time\">" + e(r.Time) + "</span>\n  <span class=\"ws-who\">")
	base := e(v.Base)
	switch r.Kind {
	case "appt":
		b.WriteString(`<a href="` + base + `/patients/` + e(url.PathEscape(r.PatientID)) + `">` + e(r.Patient) + `</a> · ` + e(r.Type))
		for _, l := range r.Labels {
			b.WriteString(` <span class="ws-label">` + e(l) + `</span>`)
		}
		if r.Waiting {
			b.WriteString(` <span class="ws-label ws-waiting">` + e(v.T("ws.visit_waiting")) + `</span>`)
		}
		if r.Join != "" {
			b.WriteString(` <a class="button small ws-join ws-noprint" href="` + e(r.Join) + `">` + e(v.T("ws.visit_join")) + `</a>`)
		}
		if r.Reason != "" {
			b.WriteString(`<br><span class="muted">` + e(r.Reason) + `</span>`)
		}
	case "block":
		b.WriteString(e(r.BlockReason))
	default:
		b.WriteString(`<a class="ws-free" href="` + base + `/book?slot=` + e(url.QueryEscape(r.SlotID)) + `">` + e(r.BlockReason) + `</a>`)
	}
	b.WriteString("</span>")
	if r.Kind == "appt" && (r.CanCancel || r.CanMove || r.CanPaid || r.CanUnpaid || r.CanNoShow) {
		act := base + "/appointments/" + e(url.PathEscape(r.ApptID))
		b.WriteString("\n  <div class=\"ws-acts ws-noprint\"><form method=\"post\" action=\"" + act + "/move\">")
		if v.Next != "" {
			b.WriteString(`<input type="hidden" name="next" value="` + e(v.Next) + `">`)
		}
		if r.CanMove {
			b.WriteString(`<a class="button small ws-move" href="` + act + `/move" aria-label="` + e(v.T("ws.move")+" — "+r.Time+" "+r.Patient) + `">` +
				e(v.T("ws.move")) + `</a>`)
		}
		button := func(class, path, label string) {
			b.WriteString(`<button type="submit" class="small ` + class + `" formaction="` + act + path + `" aria-label="` +
				e(v.T(label)+" — "+r.Time+" "+r.Patient) + `">` + e(v.T(label)) + `</button>`)
		}
		if r.CanPaid {
			button("ws-paid", "/paid", "ws.mark_paid")
		}
		if r.CanUnpaid {
			button("ws-unpaid", "/unpaid", "ws.mark_unpaid")
		}
		// Cancelling (the patient is told) and an absence (kept for good)
		// cannot be undone: they ask for a confirmation first.
		confirm := func(class, action, label string) {
			b.WriteString(`<a class="button small danger ` + class + `" href="` + act + `/confirm?action=` + action + `" aria-label="` +
				e(v.T(label)+" — "+r.Time+" "+r.Patient) + `">` + e(v.T(label)) + `</a>`)
		}
		if r.CanNoShow {
			confirm("ws-noshow", "no-show", "ws.mark_no_show")
		}
		if r.CanCancel {
			confirm("ws-cancel", "cancel", "ws.cancel")
		}
		b.WriteString("</form></div>")
	}
	b.WriteString("\n</li>")
	return template.HTML(b.String())
}

// RowsHTML renders rows (one template call for a whole list: the
// template engine's per-call reflection was a large share of a busy
// planning's time); withDay puts each row's date before it.
func (c wsCtx) RowsHTML(rows []wsRow, withDay bool) template.HTML {
	var b strings.Builder
	for _, r := range rows {
		if withDay {
			b.WriteString(`<li class="ws-row-day muted">` + html.EscapeString(r.Day) + "</li>")
		}
		b.WriteString(string(c.Row(r).HTML()))
	}
	return template.HTML(b.String())
}

// RowsInHTML renders rows of another practice of the clinic.
func (c wsCtx) RowsInHTML(p *store.Practice, rows []wsRow) template.HTML {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(string(c.RowIn(p, r).HTML()))
	}
	return template.HTML(b.String())
}
