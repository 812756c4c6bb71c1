package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"daraport/store"
)

// Webhooks (issue 4 item 10, DESIGN §5): a practice registers endpoints;
// every appointment event an endpoint subscribes to becomes an outbox row
// (kind webhook) written in the change's transaction, so an event is
// delivered if and only if its change commits, and the worker retries it
// with the outbox's backoff. The body is
//
//	{"id":"<event id>","type":"appointment.created","created_at":"RFC 3339",
//	 "data":{…the API's appointment…}}
//
// signed in the header X-Daraport-Signature: t=<unix>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" under the endpoint's secret>, with the kind
// in X-Daraport-Event. The appointment's reason is left empty: it is health
// data and the outbox is not encrypted at rest; a receiver that needs it
// reads GET /api/v1/appointments/{id} with a token.

// webhookEvents are the kinds an endpoint may subscribe to, in display order.
var webhookEvents = []string{EventCreated, EventMoved, EventCancelled, EventNoShow, EventPaid}

const (
	webhookMaxPerPractice = 10
	webhookMaxURL         = 2000
	webhookLogSize        = 20
)

func (s *Server) webhookRoutes() []route {
	api := "/api/v1/practices/{id}/webhooks"
	return []route{
		{method: "POST", path: "/pro/p/{id}/webhooks", perm: PermPracticeStaff, practice: "id", h: s.handleWebhookCreate},
		{method: "POST", path: "/pro/p/{id}/webhooks/{wh}/delete", perm: PermPracticeStaff, practice: "id", h: s.handleWebhookDelete},
		{method: "GET", path: api, perm: PermPracticeStaff, practice: "id", h: s.handleAPIWebhooks},
		{method: "POST", path: api, perm: PermPracticeStaff, practice: "id", h: s.handleAPIWebhookCreate},
		{method: "DELETE", path: api + "/{wh}", perm: PermPracticeStaff, practice: "id", h: s.handleAPIWebhookDelete},
		{method: "GET", path: api + "/{wh}/deliveries", perm: PermPracticeStaff, practice: "id", h: s.handleAPIWebhookDeliveries},
	}
}

// webhookBody is the JSON body of one delivery.
type webhookBody struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt string         `json:"created_at"`
	Data      apiAppointment `json:"data"`
}

// webhooksOnChange writes one signed outbox row per endpoint of the
// practice subscribed to the event.
func (s *Server) webhooksOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	rows, err := s.buildWebhooks(ctx, ev, tx.Now())
	if err != nil {
		return err
	}
	for _, m := range rows {
		if err := tx.Enqueue(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// buildWebhooks makes the outbox rows of the change's event, one per
// subscribed endpoint, without writing them.
func (s *Server) buildWebhooks(ctx context.Context, ev apptEvent, now time.Time) ([]*store.OutboxMessage, error) {
	if !slices.Contains(webhookEvents, ev.Kind) {
		return nil, nil
	}
	hooks, err := s.db.FindWebhooks(ctx, ev.Practice.ID) // committed before any change uses them
	if err != nil || len(hooks) == 0 {
		return nil, err
	}
	data := s.apiAppointment(ev.Appt, ev.Practice.TimeZone)
	data.Reason = ""
	body, err := json.Marshal(webhookBody{ID: store.NewID(), Type: ev.Kind, CreatedAt: now.In(s.location(ev.Practice.TimeZone)).Format(time.RFC3339), Data: data})
	if err != nil {
		return nil, err
	}
	var rows []*store.OutboxMessage
	for _, h := range hooks {
		if !h.Subscribes(ev.Kind) {
			continue
		}
		rows = append(rows, &store.OutboxMessage{Kind: "webhook", To: h.URL, Template: store.WebhookTemplate(h.ID), Subject: ev.Kind,
			TextBody: string(body), Headers: map[string]string{"X-Daraport-Signature": webhookSignature(h.Secret, now, body), "X-Daraport-Event": ev.Kind},
			State: store.OutboxQueued})
	}
	return rows, nil
}

// webhookSignature is "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
func webhookSignature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookHeadersAt re-signs a webhook outbox row at now, for the worker to
// call before each attempt: the stored headers carry the time the event was
// written, and receivers that refuse old timestamps (a replay defence,
// commonly 5 minutes) would refuse every retry. ok is false when the
// endpoint was removed since: the worker should give the row up.
func (s *Server) webhookHeadersAt(ctx context.Context, m *store.OutboxMessage, now time.Time) (headers map[string]string, ok bool, err error) {
	h, err := s.db.FindWebhookByID(ctx, store.WebhookEndpointID(m.Template))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := map[string]string{}
	for k, v := range m.Headers {
		out[k] = v
	}
	out["X-Daraport-Signature"] = webhookSignature(h.Secret, now, []byte(m.TextBody))
	return out, true, nil
}

// newWebhookSecret is 32 random bytes, hex, with a prefix that says what it is.
func newWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "whsec_" + hex.EncodeToString(b)
}

// checkWebhook validates an endpoint's URL and events. Errors name the field.
func checkWebhook(rawURL string, events []string) (string, []string, *Error) {
	rawURL = strings.TrimSpace(rawURL)
	u, err := url.Parse(rawURL)
	if rawURL == "" || len(rawURL) > webhookMaxURL || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Fragment != "" || strings.ContainsAny(rawURL, " \t\r\n") {
		return "", nil, fieldErr(ECodeInvalid, "error.webhook_url", "url")
	}
	if forbiddenWebhookHost(u.Hostname()) {
		return "", nil, fieldErr(ECodeInvalid, "error.webhook_host", "url")
	}
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if !slices.Contains(webhookEvents, e) {
			return "", nil, fieldErr(ECodeInvalid, "error.webhook_events", "events")
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return "", nil, fieldErr(ECodeInvalid, "error.webhook_events", "events")
	}
	// Keep the display order so the list reads the same everywhere.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(webhookEvents, a) - slices.Index(webhookEvents, b) })
	return rawURL, out, nil
}

// forbiddenWebhookHost refuses endpoints on this machine or on link-local
// addresses (cloud metadata services live at 169.254.169.254): a webhook
// must not become a way for practice staff to make the server call itself.
// Private networks stay allowed (a practice's own server on its LAN). Names
// are resolved at delivery, where the worker must apply the same rule.
func forbiddenWebhookHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast()
}

// createWebhook validates and stores a new endpoint of practiceID (audited).
func (s *Server) createWebhook(ctx context.Context, r *http.Request, practiceID, rawURL string, events []string) (*store.Webhook, error) {
	u, evs, verr := checkWebhook(rawURL, events)
	if verr != nil {
		return nil, verr
	}
	w := &store.Webhook{PracticeID: practiceID, URL: u, Secret: newWebhookSecret(), Events: evs}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		list, err := tx.FindWebhooks(ctx, practiceID)
		if err != nil {
			return err
		}
		if len(list) >= webhookMaxPerPractice {
			return fieldErrArgs("error.webhook_too_many", "url", "Max", webhookMaxPerPractice)
		}
		if err := tx.CreateWebhook(ctx, w); err != nil {
			return err
		}
		// The URL can carry a token in its query: the audit names the host only.
		host := ""
		if pu, err := url.Parse(u); err == nil {
			host = pu.Host
		}
		return s.audit(ctx, tx, r, actorFrom(r).User.ID, "webhook.created", "practice", practiceID, w.ID+" "+host+" "+strings.Join(evs, ","))
	})
	return w, err
}

// deleteWebhook removes an endpoint of practiceID (audited). An endpoint
// already gone is not an error: the result is the one asked for.
func (s *Server) deleteWebhook(ctx context.Context, r *http.Request, practiceID, id string) error {
	return s.db.Update(ctx, func(tx *store.Tx) error {
		err := tx.DeleteWebhook(ctx, practiceID, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, r, actorFrom(r).User.ID, "webhook.deleted", "practice", practiceID, id)
	})
}

func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pid := r.PathValue("id")
	_ = r.ParseForm()
	hook, err := s.createWebhook(ctx, r, pid, r.PostFormValue("url"), r.PostForm["events"])
	if err != nil {
		page, perr := s.noticesPage(w, r)
		if perr != nil {
			s.error(w, r, perr)
			return
		}
		if e := (*Error)(nil); errors.As(err, &e) && e.Field != "" {
			page.fail(e.Field, e.Message, e.Args...)
			page.HookForm = webhookForm{URL: r.PostFormValue("url"), Events: r.PostForm["events"]}
			s.render(w, r, http.StatusUnprocessableEntity, "notices", page)
			return
		}
		s.error(w, r, err)
		return
	}
	// The secret is shown once, on this answer: not a redirect, since it must
	// not travel in a URL or a cookie.
	page, err := s.noticesPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page.NewHook = hook
	page.Flash = page.T("notices.webhook_created")
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "notices", page)
}

func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("id")
	if err := s.deleteWebhook(r.Context(), r, pid, r.PathValue("wh")); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "notices.webhook_deleted")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(pid)+"/notices#webhooks", http.StatusSeeOther)
}

// apiWebhook is an endpoint as the API shows it; the secret only in the
// answer that creates it.
type apiWebhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt string   `json:"created_at"`
	Secret    string   `json:"secret,omitempty"`
}

func apiWebhookOf(h *store.Webhook) apiWebhook {
	return apiWebhook{ID: h.ID, URL: h.URL, Events: h.Events, CreatedAt: h.CreatedAt.Format(time.RFC3339)}
}

func (s *Server) handleAPIWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.FindWebhooks(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := []apiWebhook{}
	for _, h := range list {
		out = append(out, apiWebhookOf(h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIWebhookCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	hook, err := s.createWebhook(r.Context(), r, r.PathValue("id"), body.URL, body.Events)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := apiWebhookOf(hook)
	out.Secret = hook.Secret
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/api/v1/practices/"+url.PathEscape(hook.PracticeID)+"/webhooks/"+url.PathEscape(hook.ID)+"/deliveries")
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleAPIWebhookDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.deleteWebhook(r.Context(), r, r.PathValue("id"), r.PathValue("wh")); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookDelivery is one line of an endpoint's delivery log.
type webhookDelivery struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
	CreatedAt string `json:"created_at"`
	NextAt    string `json:"next_attempt_at,omitempty"`
	SentAt    string `json:"sent_at,omitempty"`
	created   time.Time
	sent      time.Time
}

func (s *Server) webhookLog(ctx context.Context, id string) ([]webhookDelivery, error) {
	rows, err := s.db.FindWebhookDeliveries(ctx, id, webhookLogSize)
	if err != nil {
		return nil, err
	}
	out := []webhookDelivery{}
	for _, m := range rows {
		d := webhookDelivery{ID: m.ID, Event: m.Headers["X-Daraport-Event"], State: m.State, Attempts: m.Attempts, LastError: m.LastError,
			CreatedAt: m.CreatedAt.Format(time.RFC3339), created: m.CreatedAt, sent: m.SentAt}
		if m.State == store.OutboxQueued {
			d.NextAt = m.NextAttemptAt.Format(time.RFC3339)
		}
		if !m.SentAt.IsZero() {
			d.SentAt = m.SentAt.Format(time.RFC3339)
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Server) handleAPIWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h, err := s.db.FindWebhook(ctx, r.PathValue("id"), r.PathValue("wh"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	log, err := s.webhookLog(ctx, h.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, log)
}
