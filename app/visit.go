package app

// Video visits (issue 7, DESIGN §6): each teleconsultation has a room. The
// patient enters by a secret link (GET /visit/{key}); the practice's staff
// from the planning (GET /visits/{id}). A room exists only inside its
// window (visit.open_before before the start until visit.close_after after
// it); outside it, or for anyone else, the link answers a localized page
// and never a room. The parties signal over a WebSocket at the room and
// relay their media through the built-in TURN server (app/visit).

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"daraport/app/visit"
	"daraport/store"
)

// visitRuntime is the video visits' state in the server: the signaling hub
// and the running TURN relay.
type visitRuntime struct {
	once  sync.Once
	hub   *visit.Hub
	mu    sync.Mutex
	relay *visit.Relay
	// tlsConfig returns the HTTPS configuration (set by Run when TLS is
	// on): the relay's TLS listener serves the same certificate.
	tlsConfig func() *tls.Config
	// share carries TURN over TLS on the HTTPS port (turn_share.go; set by
	// Run with turn.tls_listen = "https"); peek is its peek timeout (0:
	// visit.DefaultPeekTimeout; tests shorten it).
	share *visit.PortShare
	peek  time.Duration
}

// visitRoutes are the routes of video visits (issue 7).
func (s *Server) visitRoutes() []route {
	return []route{
		{method: "GET", path: "/visit/{key}", perm: PermPublic, h: s.handleVisitLink},
		{method: "GET", path: "/visit/{key}/ws", perm: PermPublic, h: s.handleVisitLinkSocket},
		{method: "GET", path: "/visits/{id}", perm: PermSignedIn, h: s.handleVisitRoom},
		{method: "GET", path: "/visits/{id}/ws", perm: PermSignedIn, h: s.handleVisitRoomSocket},
		{method: "GET", path: "/visit-check", perm: PermPublic, h: s.handleVisitCheck},
		{method: "GET", path: "/visit/{key}/check", perm: PermPublic, h: s.handleVisitLinkCheck},
		{method: "POST", path: "/visit/{key}/check", perm: PermPublic, h: s.handleVisitLinkCheckOffer},
		{method: "GET", path: "/api/v1/appointments/{id}/visit", perm: PermSignedIn, h: s.handleAPIVisit},
		{method: "GET", path: "/pro/p/{id}/visits/waiting", perm: PermPracticeStaff, h: s.handleVisitWaiting, practice: "id"},
	}
}

// visitHub returns the signaling hub, made on first use.
func (s *Server) visitHub() *visit.Hub {
	s.visit.once.Do(func() {
		s.visit.hub = visit.NewHub()
		s.visit.hub.OnAdmit = func(id string) {
			ctx := context.Background()
			if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.AdmitVisit(ctx, id) }); err != nil {
				s.log.Error("visit admit", "err", err)
			}
		}
	})
	return s.visit.hub
}

// --- Links and windows ---

// visitKey is the secret of an appointment's patient link: its id and an
// HMAC of it under a key derived from the at-rest key (store.VisitLinkMAC).
func (s *Server) visitKey(apptID string) string {
	mac, err := s.db.VisitLinkMAC(apptID)
	if err != nil {
		return ""
	}
	return apptID + "." + base64.RawURLEncoding.EncodeToString(mac[:24])
}

// visitFromKey returns the appointment a link key names, or ErrNotFound for
// a key that is not one of ours (compared in constant time).
func (s *Server) visitFromKey(ctx context.Context, key string) (*store.Appointment, error) {
	id, _, ok := strings.Cut(key, ".")
	if !ok || id == "" || len(key) > 100 {
		return nil, store.ErrNotFound
	}
	want := s.visitKey(id)
	if want == "" || !hmac.Equal([]byte(want), []byte(key)) {
		return nil, store.ErrNotFound
	}
	return s.db.FindAppointmentByID(ctx, id)
}

// visitLink is the patient's absolute link to the room (built from
// server.base_url, never from a request).
func (s *Server) visitLink(apptID string) string {
	k := s.visitKey(apptID)
	if k == "" {
		return ""
	}
	return s.link("/visit/"+k, nil)
}

// visitStaffPath is where staff join a visit (the planning links it).
func visitStaffPath(apptID string) string { return "/visits/" + apptID }

// visitJoinPath is the planning's "join" for staff: the staff room of a
// booked teleconsultation while its window is open, else "".
func (s *Server) visitJoinPath(ctx context.Context, appt *store.Appointment) string {
	if !s.visitOpen(appt) || !s.isTele(ctx, appt) {
		return ""
	}
	return visitStaffPath(appt.ID)
}

// visitCheckLink is the patient's pre-visit check of a booked
// teleconsultation (for the confirmation and the reminders), else "".
func (s *Server) visitCheckLink(ctx context.Context, appt *store.Appointment) string {
	if l := s.visitURLFor(ctx, appt); l != "" {
		return l + "/check"
	}
	return ""
}

// visitWindow returns when an appointment's room opens and closes.
func (s *Server) visitWindow(appt *store.Appointment) (opens, closes time.Time) {
	return appt.Start.Add(-s.cfg.Visit.OpenBefore.Duration), appt.Start.Add(s.cfg.Visit.CloseAfter.Duration)
}

// visitOpen tells whether staff may join now (for the planning's "join").
func (s *Server) visitOpen(appt *store.Appointment) bool {
	opens, closes := s.visitWindow(appt)
	now := s.clock()
	return appt.State == store.AppointmentBooked && !now.Before(opens) && now.Before(closes)
}

// isTele tells whether an appointment is a teleconsultation.
func (s *Server) isTele(ctx context.Context, appt *store.Appointment) bool {
	t, err := s.db.FindTypeByID(ctx, appt.TypeID)
	return err == nil && t.Teleconsultation
}

// visitURLFor is the appointment payload's visit_url: the patient's link of
// a booked teleconsultation, else "".
func (s *Server) visitURLFor(ctx context.Context, appt *store.Appointment) string {
	if appt.State != store.AppointmentBooked || !s.isTele(ctx, appt) {
		return ""
	}
	return s.visitLink(appt.ID)
}

// visitWaiting returns the ids of the practice's appointments whose patient
// is in the waiting room now (for the planning, live).
func (s *Server) visitWaiting(_ context.Context, practiceID string) []string {
	ids := s.visitHub().Waiting(practiceID)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// visitAccess is who enters a room, and as which party.
type visitAccess struct {
	appt     *store.Appointment
	practice *store.Practice
	role     visit.Role
	identity string
	actorID  string
}

// visitCheck refuses what is not a room: not a teleconsultation, cancelled,
// or outside the window. The error names the case for the page.
func (s *Server) visitCheck(ctx context.Context, appt *store.Appointment) error {
	if !s.isTele(ctx, appt) {
		return errorf(ECodeNotFound, "visit.err_not_found")
	}
	if appt.State != store.AppointmentBooked {
		return errorf(ECodeForbidden, "visit.err_cancelled")
	}
	opens, closes := s.visitWindow(appt)
	now := s.clock()
	if now.Before(opens) {
		return &Error{Code: ECodeForbidden, Message: "visit.err_early", Details: map[string]any{"opens_at": opens}}
	}
	if !now.Before(closes) {
		return errorf(ECodeForbidden, "visit.err_over")
	}
	return nil
}

// accessByKey resolves a patient link.
func (s *Server) accessByKey(r *http.Request) (*visitAccess, error) {
	ctx := r.Context()
	appt, err := s.visitFromKey(ctx, r.PathValue("key"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(ECodeNotFound, "visit.err_not_found")
		}
		return nil, err
	}
	p, err := s.db.FindPracticeByID(ctx, appt.PracticeID)
	if err != nil {
		return nil, err
	}
	acc := &visitAccess{appt: appt, practice: p, role: visit.Patient, identity: "patient"}
	if a := actorFrom(r); a != nil {
		acc.actorID = a.User.ID
	}
	return acc, s.visitCheck(ctx, appt)
}

// accessBySession resolves a signed-in person: the practice's staff, or
// the appointment's own patient; anyone else gets 404 (audited).
func (s *Server) accessBySession(r *http.Request) (*visitAccess, error) {
	ctx := r.Context()
	a := actorFrom(r)
	appt, err := s.db.FindAppointmentByID(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ECodeNotFound, "error.not_found")
	}
	if err != nil {
		return nil, err
	}
	acc := &visitAccess{appt: appt, actorID: a.User.ID}
	switch {
	case Allow(a, PermPracticeStaff, Target{PracticeID: appt.PracticeID}):
		acc.role, acc.identity = visit.Staff, "staff:"+a.User.ID
	case appt.PatientID == a.User.ID:
		acc.role, acc.identity = visit.Patient, "patient"
	default:
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, a.User.ID, "visit.denied", "appointment", appt.ID, r.Method+" "+r.Pattern)
		})
		return nil, errorf(ECodeNotFound, "error.not_found")
	}
	if acc.practice, err = s.db.FindPracticeByID(ctx, appt.PracticeID); err != nil {
		return nil, err
	}
	return acc, s.visitCheck(ctx, appt)
}

// --- Pages ---

// visitRoomPage is the data of templates/pages/visit_room.html.
type visitRoomPage struct {
	*Page
	VisitID      string
	Role         string
	Socket       string // the WebSocket path
	PracticeName string
	PatientName  string // for staff
	PatientPhone string // for staff: seed 004's fallback when video fails
	PhoneHref    template.URL
	When         string
	ClosesISO    string
	MsgKeys      []string // the visit.* messages the script shows
}

// visitScriptMsgs are the visit.* messages visit.js shows (it reads them
// from the page, in the page's language).
var visitScriptMsgs = []string{"connecting", "waiting_room", "waiting_for_patient", "patient_waiting", "waiting_for_staff",
	"in_call", "reconnecting", "full", "over", "hung_up", "no_media", "quality_good", "quality_fair", "quality_poor",
	"quality_none", "mute", "unmute", "camera_off", "camera_on", "share", "share_stop", "chat_me", "chat_them"}

// visitClosedPage is the data of templates/pages/visit_closed.html.
type visitClosedPage struct {
	*Page
	Message  string
	Opens    string
	Retry    string // the page to reload once open
	CheckURL string // the pre-visit check, for the patient's link
}

func (s *Server) handleVisitLink(w http.ResponseWriter, r *http.Request) {
	acc, err := s.accessByKey(r)
	s.visitPage(w, r, acc, err, "/visit/"+r.PathValue("key")+"/ws")
}

func (s *Server) handleVisitRoom(w http.ResponseWriter, r *http.Request) {
	acc, err := s.accessBySession(r)
	s.visitPage(w, r, acc, err, "/visits/"+r.PathValue("id")+"/ws")
}

func (s *Server) visitPage(w http.ResponseWriter, r *http.Request, acc *visitAccess, err error, socket string) {
	// The link is a secret: keep it out of other sites' logs.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || acc == nil || e.Code != ECodeForbidden {
			s.error(w, r, err)
			return
		}
		pg := &visitClosedPage{Page: s.newPage(w, r, "visit.title")}
		// The generic refusal first (as every 403 page), then why.
		pg.Error = pg.T("error.forbidden")
		pg.Message = pg.T(e.Message)
		if opens, ok := e.Details["opens_at"].(time.Time); ok {
			pg.Opens = s.bookWhen(pg.Lang, opens, s.location(acc.practice.TimeZone))
			pg.Retry = r.URL.Path
			if strings.HasPrefix(r.URL.Path, "/visit/") {
				pg.CheckURL = r.URL.Path + "/check"
			}
		}
		s.render(w, r, statusOf(e.Code), "visit_closed", pg)
		return
	}
	pg := &visitRoomPage{Page: s.newPage(w, r, "visit.title"), VisitID: acc.appt.ID, Role: string(acc.role), Socket: socket,
		PracticeName: acc.practice.Name, MsgKeys: visitScriptMsgs}
	loc := s.location(acc.practice.TimeZone)
	pg.When = s.bookWhen(pg.Lang, acc.appt.Start, loc)
	_, closes := s.visitWindow(acc.appt)
	pg.ClosesISO = closes.In(loc).Format(time.RFC3339)
	if acc.role == visit.Staff {
		if u, err := s.db.FindUserByID(r.Context(), acc.appt.PatientID); err == nil {
			pg.PatientName = u.Name
		}
		pg.PatientPhone, pg.PhoneHref = acc.appt.Phone, myApptTel(acc.appt.Phone)
		if err := s.db.Update(r.Context(), func(tx *store.Tx) error {
			return s.audit(r.Context(), tx, r, acc.actorID, "visit.open", "appointment", acc.appt.ID, "")
		}); err != nil {
			s.error(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "visit_room", pg)
}

// --- API ---

// apiVisit is DESIGN §5's visit payload.
type apiVisit struct {
	URL        string            `json:"url"`
	ExpiresAt  string            `json:"expires_at"`
	ICEServers []visit.ICEServer `json:"ice_servers"`
}

func (s *Server) handleAPIVisit(w http.ResponseWriter, r *http.Request) {
	acc, err := s.accessBySession(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	_, closes := s.visitWindow(acc.appt)
	u := s.visitLink(acc.appt.ID)
	if acc.role == visit.Staff {
		u = s.link(visitStaffPath(acc.appt.ID), nil)
	}
	writeJSON(w, http.StatusOK, apiVisit{URL: u, ExpiresAt: closes.In(s.location(acc.practice.TimeZone)).Format(time.RFC3339),
		ICEServers: s.visitICEServers(acc, closes)})
}

// visitICEServers are the relay's URLs with credentials for this party of
// this visit, valid until the window closes. Without a running relay the
// list is empty (the browsers then try direct paths only).
func (s *Server) visitICEServers(acc *visitAccess, expires time.Time) []visit.ICEServer {
	// The TURN username travels in clear: it carries an opaque tag, not
	// the appointment id.
	return s.visitICEServersFor(visitTag(s.visitKey(acc.appt.ID))+"."+string(acc.role)[:1], expires)
}

func (s *Server) visitICEServersFor(tag string, expires time.Time) []visit.ICEServer {
	s.visit.mu.Lock()
	relay := s.visit.relay
	s.visit.mu.Unlock()
	if relay == nil {
		return []visit.ICEServer{}
	}
	return relay.ICEServers(s.baseURL.Hostname(), tag, expires)
}

// visitTag is a short opaque name of a visit derived from its secret.
func visitTag(key string) string {
	_, mac, _ := strings.Cut(key, ".")
	if len(mac) > 12 {
		mac = mac[len(mac)-12:]
	}
	return mac
}

// handleVisitWaiting answers the planning's poll: the practice's
// appointments whose patient waits to be admitted.
func (s *Server) handleVisitWaiting(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"waiting": s.visitWaiting(r.Context(), r.PathValue("id"))})
}

// --- Signaling ---

func (s *Server) handleVisitLinkSocket(w http.ResponseWriter, r *http.Request) {
	acc, err := s.accessByKey(r)
	if err != nil {
		s.error(w, r, socketRefusal(err))
		return
	}
	s.visitSocket(w, r, acc)
}

func (s *Server) handleVisitRoomSocket(w http.ResponseWriter, r *http.Request) {
	acc, err := s.accessBySession(r)
	if err != nil {
		s.error(w, r, socketRefusal(err))
		return
	}
	s.visitSocket(w, r, acc)
}

// socketRefusal is the plain refusal a WebSocket upgrade gets outside the
// window (no page reads it).
func socketRefusal(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == ECodeForbidden {
		return errorf(ECodeForbidden, "error.forbidden")
	}
	return err
}

// clientMessage is what a party sends over the WebSocket.
type clientMessage struct {
	Type   string          `json:"type"`
	Resume bool            `json:"resume,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// visitSocket runs one party's signaling connection. The upgrade is
// refused when the Origin is not this site: another site's page cannot
// join a call with the visitor's cookies.
func (s *Server) visitSocket(w http.ResponseWriter, r *http.Request, acc *visitAccess) {
	// The HTTP server's read and write timeouts would cut a call short.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// Same origin: the request's Host, or the configured site (a reverse
	// proxy may rewrite Host); anything else is refused with 403.
	opts := &websocket.AcceptOptions{}
	if h := s.baseURL.Host; h != "" && !strings.ContainsAny(h, "[]*?\\") {
		opts.OriginPatterns = []string{h}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered (403 for a foreign origin)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 10)
	ctx := r.Context()
	id := acc.appt.ID

	// The first message says whether the page still has its call (a
	// network change) or starts afresh (a reload).
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var hello clientMessage
	err = readMessage(hctx, c, &hello)
	cancel()
	if err != nil || hello.Type != "hello" {
		c.Close(websocket.StatusPolicyViolation, "hello expected")
		return
	}
	admitted := false
	if v, err := s.db.FindVisit(ctx, id); err == nil && !v.AdmittedAt.IsZero() {
		admitted = true
	}
	hub := s.visitHub()
	m := visit.NewMember(acc.role, acc.identity, hello.Resume)
	if err := hub.Join(id, acc.appt.PracticeID, admitted, m); err != nil {
		_ = writeMessage(ctx, c, map[string]string{"type": "full"})
		c.Close(websocket.StatusPolicyViolation, "full")
		return
	}
	// The practice's open plannings show who waits: tell them now and
	// when this party leaves.
	s.live.publish(acc.appt.PracticeID, "visit.presence")
	defer s.live.publish(acc.appt.PracticeID, "visit.presence")
	defer hub.Leave(id, m)
	if err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.VisitJoined(ctx, id, string(acc.role)); err != nil {
			return err
		}
		if acc.role == visit.Staff {
			return s.audit(ctx, tx, r, acc.actorID, "visit.join", "appointment", id, "")
		}
		return nil
	}); err != nil {
		s.log.Error("visit join", "err", err)
	}
	_, closes := s.visitWindow(acc.appt)
	welcome := map[string]any{"type": "welcome", "role": acc.role, "ice_servers": s.visitICEServers(acc, closes),
		"closes_at": closes.Format(time.RFC3339)}
	// The welcome goes before anything the hub queued for this member.
	if err := writeMessage(ctx, c, welcome); err != nil {
		return
	}
	// The room ends with its window.
	timer := time.AfterFunc(closes.Sub(s.clock()), func() { hub.Close(id) })
	defer timer.Stop()

	go func() {
		for {
			select {
			case b := <-m.Out():
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Write(wctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					c.CloseNow()
					return
				}
			case <-m.Done():
				// Flush what was queued (a "closed" notice), then end.
				for {
					select {
					case b := <-m.Out():
						wctx, cancel := context.WithTimeout(ctx, time.Second)
						_ = c.Write(wctx, websocket.MessageText, b)
						cancel()
						continue
					default:
					}
					break
				}
				c.Close(websocket.StatusNormalClosure, m.Reason())
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var msg clientMessage
		if err := readMessage(ctx, c, &msg); err != nil {
			return
		}
		switch msg.Type {
		case "signal", "restart":
			hub.Relay(id, m, msg.Type, msg.Data)
		case "admit":
			if hub.Admit(id, m) {
				s.live.publish(acc.appt.PracticeID, "visit.presence")
				_ = s.db.Update(ctx, func(tx *store.Tx) error {
					return s.audit(ctx, tx, r, acc.actorID, "visit.admit", "appointment", id, "")
				})
			}
		case "leave":
			// A clean close: dropping the connection here would make the
			// browser's close unclean (Firefox then logs the socket as
			// "interrupted").
			c.Close(websocket.StatusNormalClosure, "left")
			return
		}
	}
}

func readMessage(ctx context.Context, c *websocket.Conn, v any) error {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return errors.New("visit: binary message")
	}
	return json.Unmarshal(b, v)
}

func writeMessage(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}

// --- The relay ---

// startTURN starts the relay when turn.enabled; the returned function
// stops it. A relay that cannot listen is logged and left out: the site
// keeps serving (booking does not depend on it).
func (s *Server) startTURN() func() {
	if !s.cfg.TURN.Enabled {
		return func() {}
	}
	t := s.cfg.TURN
	var allow []netip.Prefix
	for _, p := range t.AllowPeers {
		if pf, err := netip.ParsePrefix(p); err == nil {
			allow = append(allow, pf)
		}
	}
	cfg := visit.Config{Listen: t.Listen, TLSListen: t.TLSListen, PublicIP: t.PublicIP, AllowPeers: allow,
		MinPort: t.RelayMinPort, MaxPort: t.RelayMaxPort, BandwidthBytes: int64(t.BandwidthKbps) * 1000 / 8,
		UserQuota: t.UserQuota, Now: s.clock, Log: s.log}
	if t.TLSListen == TURNOnHTTPS {
		s.shareTURN(&cfg)
	} else if t.TLSListen != "" {
		cfg.TLSConfig = s.visit.tlsConfig
	}
	relay, err := visit.Start(cfg)
	if err != nil {
		if cfg.TLSListener != nil {
			cfg.TLSListener.Close() // TURN clients on the HTTPS port are then turned away at once
		}
		s.log.Error("TURN relay not started: video visits have no relay", "err", err)
		return func() {}
	}
	port, tlsPort := relay.Ports()
	s.log.Info("TURN relay", "port", port, "tls", s.turnTLSWhere(), "tls_port", tlsPort, "public_ip", relay.PublicIP().String())
	s.visit.mu.Lock()
	s.visit.relay = relay
	s.visit.mu.Unlock()
	return func() {
		s.visit.mu.Lock()
		s.visit.relay = nil
		s.visit.mu.Unlock()
		_ = relay.Close()
	}
}

// VisitStats returns the relay's counters for the administration pages
// (zero when the relay does not run).
func (s *Server) VisitStats() visit.Stats {
	s.visit.mu.Lock()
	defer s.visit.mu.Unlock()
	if s.visit.relay == nil {
		return visit.Stats{}
	}
	return s.visit.relay.Stats()
}

// visitCheckPage is the data of templates/pages/visit_check.html.
type visitCheckPage struct {
	*Page
	ICE      string // JSON of the relay's ICE servers, for the connection test
	Post     string // where the test's offer goes
	Room     string // the visit link, once the check is done
	PathKeys []string
	TLSPort  int // the port TURN over TLS is tested on (443 when it shares HTTPS's), 0 without
}

// handleVisitCheck is the pre-visit check page without a visit: camera
// and microphone preview only (no relay credentials for strangers).
func (s *Server) handleVisitCheck(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "visit_check", &visitCheckPage{Page: s.newPage(w, r, "visit.check_title")})
}

// checkAccess resolves a link for the pre-visit check, open from the
// booking until the visit's window closes.
func (s *Server) checkAccess(r *http.Request) (*visitAccess, error) {
	ctx := r.Context()
	appt, err := s.visitFromKey(ctx, r.PathValue("key"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.isTele(ctx, appt)) {
		return nil, errorf(ECodeNotFound, "visit.err_not_found")
	}
	if err != nil {
		return nil, err
	}
	_, closes := s.visitWindow(appt)
	if appt.State != store.AppointmentBooked || !s.clock().Before(closes) {
		return nil, errorf(ECodeForbidden, "error.forbidden")
	}
	return &visitAccess{appt: appt, role: visit.Patient, identity: "patient"}, nil
}

// handleVisitLinkCheck is the pre-visit check of a visit (linked from the
// confirmation and the reminders): camera and microphone preview, and a
// connection test through the relay over UDP, TCP and TLS against a peer
// the server runs.
func (s *Server) handleVisitLinkCheck(w http.ResponseWriter, r *http.Request) {
	acc, err := s.checkAccess(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	pg := &visitCheckPage{Page: s.newPage(w, r, "visit.check_title"), Post: r.URL.Path, Room: "/visit/" + r.PathValue("key"),
		PathKeys: []string{"udp", "tcp", "tls"}}
	ice, _ := json.Marshal(s.visitICEServersFor(visitTag(s.visitKey(acc.appt.ID))+".c", s.clock().Add(15*time.Minute)))
	pg.ICE = string(ice)
	s.visit.mu.Lock()
	if s.visit.relay != nil {
		_, pg.TLSPort = s.visit.relay.Ports()
	}
	s.visit.mu.Unlock()
	s.render(w, r, http.StatusOK, "visit_check", pg)
}

// handleVisitLinkCheckOffer answers the connection test's offer with the
// server peer's answer: {"sdp": "…"} both ways.
func (s *Server) handleVisitLinkCheckOffer(w http.ResponseWriter, r *http.Request) {
	if _, err := s.checkAccess(r); err != nil {
		s.error(w, r, err)
		return
	}
	var body struct {
		SDP string `json:"sdp"`
	}
	if err := readJSON(r, &body); err != nil || body.SDP == "" {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_json"))
		return
	}
	s.visit.mu.Lock()
	relay := s.visit.relay
	s.visit.mu.Unlock()
	if relay == nil {
		s.error(w, r, errorf(ECodeUnavailable, "visit.check_no_relay"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 8*time.Second)
	defer cancel()
	answer, err := relay.AnswerCheck(ctx, body.SDP)
	if errors.Is(err, visit.ErrBusy) {
		w.Header().Set("Retry-After", "5")
		s.error(w, r, errorf(ECodeRateLimited, "error.rate_limited"))
		return
	}
	if err != nil {
		s.log.Warn("visit check", "err", err)
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_json"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sdp": answer})
}
