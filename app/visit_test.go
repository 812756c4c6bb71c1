package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"daraport/store"
)

// visitWorld is newBookWorld's practice with the TURN relay running on
// loopback (relayed addresses on 127.0.0.2, so 127.0.0.1 stays a forbidden
// peer), a secretary, another practice's practitioner, and patient a's
// teleconsultation a day ahead.
type visitWorld struct {
	*bookWorld
	appt              *store.Appointment
	key               string
	pro, sec, proB    *testUser
	cPro, cSec, cProB *http.Client
}

func newVisitWorld(t *testing.T) *visitWorld {
	t.Helper()
	w := &visitWorld{bookWorld: newBookWorld(t)}
	ts := w.ts
	ctx := context.Background()
	ts.srv.cfg.TURN.Listen, ts.srv.cfg.TURN.PublicIP, ts.srv.cfg.TURN.TLSListen = "127.0.0.1:0", "127.0.0.2", ""
	stop := ts.srv.startTURN()
	t.Cleanup(stop)
	if ts.srv.visit.relay == nil {
		t.Fatal("the TURN relay did not start")
	}
	p := w.practice(t)
	today := ts.srv.today(p, ts.srv.clock())
	starts, err := ts.srv.freeStarts(ctx, p, 15, 0, today.AddDays(1), today.AddDays(3), ts.srv.clock())
	if err != nil || len(starts) == 0 {
		t.Fatalf("no free start: %v", err)
	}
	w.appt, err = ts.srv.book(ctx, bookRequest{SlotID: starts[0].ID, TypeID: w.tele.ID, Patient: w.a.User, ActorID: w.a.ID, Phone: "+33612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if w.appt.Phone == "" {
		t.Fatal("the teleconsultation kept no phone number")
	}
	w.key = ts.srv.visitKey(w.appt.ID)
	w.pro = w.bookWorld.pro
	w.sec = ts.addUser(t, "sam@example.org", "Sam Secretary", store.RoleSecretary, w.pid)
	w.proB = ts.addUser(t, "otto@example.org", "Dr Otto", store.RolePractitioner, "")
	w.cPro, w.cSec, w.cProB = ts.client(t), ts.client(t), ts.client(t)
	ts.login(t, w.cPro, w.pro)
	ts.login(t, w.cSec, w.sec)
	ts.login(t, w.cProB, w.proB)
	return w
}

// enterWindow moves the clock to five minutes before the start, and signs
// everyone in again (a day later the sessions have lapsed).
func (w *visitWorld) enterWindow(t *testing.T) {
	t.Helper()
	w.ts.clock.Advance(w.appt.Start.Sub(w.ts.srv.clock()) - 5*time.Minute)
	w.relogin(t)
}

func (w *visitWorld) relogin(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		c *http.Client
		u *testUser
	}{{w.cPro, w.pro}, {w.cSec, w.sec}, {w.cProB, w.proB}, {w.ca, w.a}, {w.cb, w.b}} {
		w.ts.login(t, c.c, c.u)
	}
}

func TestVisitLinkAndWindow(t *testing.T) {
	w := newVisitWorld(t)
	ts := w.ts
	anon := ts.clientLang(t, "en")
	link := ts.srv.appointmentVisitLink(context.Background(), w.appt)
	if want := ts.URL + "/visit/" + w.key; link != want {
		t.Fatalf("appointmentVisitLink = %q, want %q (built from base_url)", link, want)
	}
	if strings.Contains(w.key[len(w.appt.ID):], w.appt.ID) || len(w.key) < len(w.appt.ID)+30 {
		t.Fatalf("link key %q carries no secret", w.key)
	}
	// The appointment payload carries it; the patient's confirmation page too.
	res := ts.api(t, "GET", "/api/v1/appointments/"+w.appt.ID, ts.token(t, w.a), nil)
	var payload apiAppointment
	if err := json.Unmarshal([]byte(res.Body), &payload); err != nil || payload.VisitURL != link {
		t.Fatalf("API visit_url %q (err %v), want %q", payload.VisitURL, err, link)
	}
	// The practice's staff get their own way in, never the patient's secret.
	staffRes := ts.api(t, "GET", "/api/v1/appointments/"+w.appt.ID, ts.token(t, w.pro), nil)
	var staffPayload apiAppointment
	if err := json.Unmarshal([]byte(staffRes.Body), &staffPayload); err != nil || staffPayload.VisitURL != ts.URL+"/visits/"+w.appt.ID ||
		strings.Contains(staffRes.Body, w.key) {
		t.Fatalf("staff visit_url %q (err %v): want the staff room, never the patient's link", staffPayload.VisitURL, err)
	}
	if page := ts.get(t, w.ca, "/appointments/"+w.appt.ID); !strings.Contains(page.Body, `href="`+link+`"`) {
		t.Errorf("the appointment page does not link the visit")
	}

	noRoom := func(what string, res response, status int, msgID string) {
		t.Helper()
		if res.StatusCode != status {
			t.Errorf("%s: status %d, want %d", what, res.StatusCode, status)
		}
		if strings.Contains(res.Body, `id="visit-room"`) {
			t.Errorf("%s: the answer holds a room", what)
		}
		if msgID != "" && !pageHas(res.Body, ts.text(t, "en", msgID)) {
			t.Errorf("%s: the page does not say %q", what, ts.text(t, "en", msgID))
		}
	}
	// Wrong links: unknown, tampered secret, bare id.
	noRoom("unknown link", ts.get(t, anon, "/visit/nothing.here"), 404, "visit.err_not_found")
	tampered := w.key[:len(w.key)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(w.key, "A")]
	noRoom("tampered link", ts.get(t, anon, "/visit/"+tampered), 404, "visit.err_not_found")
	noRoom("bare id", ts.get(t, anon, "/visit/"+w.appt.ID), 404, "visit.err_not_found")
	// Too early: no "join" in the planning yet; the check is open.
	noRoom("before the window", ts.get(t, anon, "/visit/"+w.key), 403, "visit.err_early")
	if j := ts.srv.visitJoinPath(context.Background(), w.appt); j != "" {
		t.Errorf("join offered before the window: %q", j)
	}
	if c := ts.srv.visitCheckLink(context.Background(), w.appt); c != link+"/check" {
		t.Errorf("check link %q", c)
	}
	if res := ts.get(t, anon, "/visit/"+w.key+"/check"); res.StatusCode != 200 || !strings.Contains(res.Body, `id="check-paths"`) {
		t.Errorf("the pre-visit check answers %d", res.StatusCode)
	}
	// Inside the window: the room.
	w.enterWindow(t)
	res = ts.get(t, anon, "/visit/"+w.key)
	if res.StatusCode != 200 || !strings.Contains(res.Body, `id="visit-room"`) || !strings.Contains(res.Body, `data-role="patient"`) {
		t.Fatalf("inside the window the link answers %d without a patient room", res.StatusCode)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the room page leaks its link in Referer: %q", res.Header.Get("Referrer-Policy"))
	}
	if j := ts.srv.visitJoinPath(context.Background(), w.appt); j != "/visits/"+w.appt.ID {
		t.Errorf("planning join %q inside the window", j)
	}
	res = ts.get(t, w.cPro, "/visits/"+w.appt.ID)
	if res.StatusCode != 200 || !strings.Contains(res.Body, `data-role="staff"`) || !pageHas(res.Body, w.appt.Phone) {
		t.Fatalf("staff room: %d, role staff and the patient's phone expected", res.StatusCode)
	}
	noRoom("another practice's practitioner", ts.get(t, w.cProB, "/visits/"+w.appt.ID), 404, "error.not_found")
	noRoom("another patient", ts.get(t, w.cb, "/visits/"+w.appt.ID), 404, "error.not_found")
	// After the window.
	ts.clock.Advance(2*time.Hour + 10*time.Minute)
	noRoom("after the window", ts.get(t, anon, "/visit/"+w.key), 403, "visit.err_over")
	w.relogin(t)
	noRoom("staff after the window", ts.get(t, w.cPro, "/visits/"+w.appt.ID), 403, "visit.err_over")
}

func TestVisitCancelledHasNoRoom(t *testing.T) {
	w := newVisitWorld(t)
	ts := w.ts
	w.enterWindow(t)
	ms, err := ts.db.Memberships(context.Background(), w.pro.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.cancel(context.Background(), &Actor{User: w.pro.User, Memberships: ms}, w.appt, w.practice(t), ""); err != nil {
		t.Fatal(err)
	}
	res := ts.get(t, ts.clientLang(t, "en"), "/visit/"+w.key)
	if res.StatusCode != 403 || strings.Contains(res.Body, `id="visit-room"`) || !pageHas(res.Body, ts.text(t, "en", "visit.err_cancelled")) {
		t.Fatalf("a cancelled visit's link answers %d", res.StatusCode)
	}
	appt, err := ts.db.FindAppointmentByID(context.Background(), w.appt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l := ts.srv.appointmentVisitLink(context.Background(), appt); l != "" {
		t.Errorf("a cancelled appointment still has a visit link %q", l)
	}
}

func TestVisitAPI(t *testing.T) {
	w := newVisitWorld(t)
	ts := w.ts
	path := "/api/v1/appointments/" + w.appt.ID + "/visit"
	if res := ts.api(t, "GET", path, ts.token(t, w.a), nil); res.StatusCode != 403 {
		t.Fatalf("before the window: %d %s", res.StatusCode, res.Body)
	}
	w.enterWindow(t)
	var v apiVisit
	res := ts.api(t, "GET", path, ts.token(t, w.a), nil)
	if err := json.Unmarshal([]byte(res.Body), &v); err != nil || res.StatusCode != 200 {
		t.Fatalf("patient: %d %s", res.StatusCode, res.Body)
	}
	if v.URL != ts.URL+"/visit/"+w.key {
		t.Errorf("patient's url %q", v.URL)
	}
	exp, err := time.Parse(time.RFC3339, v.ExpiresAt)
	if err != nil || !exp.Equal(w.appt.Start.Add(2*time.Hour)) {
		t.Errorf("expires_at %q, want the start + 2 h", v.ExpiresAt)
	}
	port, _ := ts.srv.visit.relay.Ports()
	if len(v.ICEServers) != 1 || len(v.ICEServers[0].URLs) != 2 || v.ICEServers[0].Username == "" || v.ICEServers[0].Credential == "" {
		t.Fatalf("ice_servers %+v", v.ICEServers)
	}
	for i, tr := range []string{"udp", "tcp"} {
		if want := "turn:127.0.0.1:" + strconv.Itoa(port) + "?transport=" + tr; v.ICEServers[0].URLs[i] != want {
			t.Errorf("ice url %q, want %q", v.ICEServers[0].URLs[i], want)
		}
	}
	if strings.Contains(v.ICEServers[0].Username, w.appt.ID) {
		t.Errorf("the TURN username (sent in clear) names the appointment: %q", v.ICEServers[0].Username)
	}
	res = ts.api(t, "GET", path, ts.token(t, w.pro), nil)
	if err := json.Unmarshal([]byte(res.Body), &v); err != nil || v.URL != ts.URL+"/visits/"+w.appt.ID {
		t.Errorf("staff: %d url %q", res.StatusCode, v.URL)
	}
	if res := ts.api(t, "GET", path, ts.token(t, w.proB), nil); res.StatusCode != 404 {
		t.Errorf("another practice: %d", res.StatusCode)
	}
	if res := ts.api(t, "GET", path, ts.token(t, w.b), nil); res.StatusCode != 404 {
		t.Errorf("another patient: %d", res.StatusCode)
	}
}

// wsPeer is a Go signaling client.
type wsPeer struct {
	t *testing.T
	c *websocket.Conn
}

func (w *visitWorld) dial(t *testing.T, client *http.Client, path, origin string) (*wsPeer, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.ts.URL, "http")+path, &websocket.DialOptions{HTTPClient: client, HTTPHeader: h})
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsPeer{t: t, c: c}, res, nil
}

func (p *wsPeer) send(v any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.c.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

// expect reads messages until one of type typ arrives.
func (p *wsPeer) expect(typ string) map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var seen []string
	for {
		_, b, err := p.c.Read(ctx)
		if err != nil {
			p.t.Fatalf("waiting for %q (seen %v): %v", typ, seen, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			p.t.Fatal(err)
		}
		if m["type"] == typ {
			return m
		}
		seen = append(seen, string(b))
	}
}

func TestVisitSignaling(t *testing.T) {
	w := newVisitWorld(t)
	ts := w.ts
	w.enterWindow(t)
	linkWS := "/visit/" + w.key + "/ws"
	staffWS := "/visits/" + w.appt.ID + "/ws"

	// Cross-origin upgrades are refused, with or without a session.
	if _, res, err := w.dial(t, ts.client(t), linkWS, "http://evil.example"); err == nil || res == nil || res.StatusCode != 403 {
		t.Fatalf("cross-origin upgrade on the link: err %v", err)
	}
	if _, res, err := w.dial(t, w.cPro, staffWS, "http://evil.example"); err == nil || res == nil || res.StatusCode != 403 {
		t.Fatalf("cross-origin upgrade with a staff session: err %v", err)
	}
	// Another practice's staff and a wrong link get no socket.
	if _, res, err := w.dial(t, w.cProB, staffWS, ts.URL); err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("another practice's practitioner: err %v", err)
	}
	if _, res, err := w.dial(t, ts.client(t), "/visit/"+w.appt.ID+".forged/ws", ts.URL); err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("forged link: err %v", err)
	}

	// The patient waits.
	v0 := ts.srv.live.version(w.pid)
	patient, _, err := w.dial(t, ts.client(t), linkWS, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	patient.send(map[string]any{"type": "hello"})
	welcome := patient.expect("welcome")
	if servers, _ := welcome["ice_servers"].([]any); len(servers) != 1 {
		t.Fatalf("welcome without TURN servers: %v", welcome)
	}
	if st := patient.expect("state"); st["admitted"] != false || st["waiting"] != true {
		t.Fatalf("patient state %v, want waiting", st)
	}
	waiting := ts.get(t, w.cSec, "/pro/p/"+w.pid+"/visits/waiting")
	if !strings.Contains(waiting.Body, `"`+w.appt.ID+`"`) {
		t.Fatalf("the planning's waiting list: %s", waiting.Body)
	}
	if got := ts.srv.visitWaiting(context.Background(), w.pid); len(got) != 1 || got[0] != w.appt.ID {
		t.Fatalf("visitWaiting = %v", got)
	}
	// The practice's planning shows the patient waiting and the way in, and
	// its open views were told (the version moved).
	plan := ts.get(t, w.cSec, "/pro/p/"+w.pid+"/visits")
	if !pageHas(plan.Body, ts.text(t, "en", "ws.visit_waiting")) || !strings.Contains(plan.Body, `href="/visits/`+w.appt.ID+`"`) {
		t.Fatalf("the planning does not show the waiting patient and the join link")
	}
	if ts.srv.live.version(w.pid) == v0 {
		t.Fatal("the open plannings were not told the patient arrived")
	}
	// The patient cannot admit themselves, nor signal before admission.
	patient.send(map[string]any{"type": "admit"})
	patient.send(map[string]any{"type": "signal", "data": map[string]any{"x": 1}})

	staff, _, err := w.dial(t, w.cPro, staffWS, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	staff.send(map[string]any{"type": "hello"})
	staff.expect("welcome")
	if st := staff.expect("state"); st["waiting"] != true || st["peer"] != true {
		t.Fatalf("staff state %v, want the patient waiting", st)
	}
	// A third party: the secretary while the practitioner holds the seat.
	third, _, err := w.dial(t, w.cSec, staffWS, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	third.send(map[string]any{"type": "hello"})
	third.expect("full")

	staff.send(map[string]any{"type": "admit"})
	staff.expect("ready")
	patient.expect("ready")
	if got := ts.srv.visitWaiting(context.Background(), w.pid); len(got) != 0 {
		t.Errorf("still waiting after admission: %v", got)
	}
	staff.send(map[string]any{"type": "signal", "data": map[string]any{"description": map[string]any{"type": "offer", "sdp": "v=0"}}})
	if m := patient.expect("signal"); !strings.Contains(jsonString(m["data"]), `"offer"`) {
		t.Fatalf("relayed signal %v", m)
	}
	// The patient reloads: a new connection with the same link takes the
	// seat, and the call starts afresh (no waiting room: admitted).
	again, _, err := w.dial(t, ts.client(t), linkWS, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	again.send(map[string]any{"type": "hello"})
	if m := again.expect("ready"); m["resume"] != false {
		t.Fatalf("after a reload: %v", m)
	}
	staff.expect("ready")
	// A network change: the page comes back with its call alive.
	again.c.Close(websocket.StatusGoingAway, "")
	resumed, _, err := w.dial(t, ts.client(t), linkWS, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resumed.send(map[string]any{"type": "hello", "resume": true})
	if m := resumed.expect("ready"); m["resume"] != true {
		t.Fatalf("after a network change: %v", m)
	}
	v, err := ts.db.FindVisit(context.Background(), w.appt.ID)
	if err != nil || v.AdmittedAt.IsZero() || v.PatientJoinedAt.IsZero() || v.StaffJoinedAt.IsZero() {
		t.Fatalf("visit record %+v, %v", v, err)
	}
	if n := ts.rows(t, "audit", "action = ?", "visit.admit"); n != 1 {
		t.Errorf("%d visit.admit audit entries", n)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }
