package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"daraport/store"
)

// The practice's notices page (/pro/p/{id}/notices, practice staff only):
// reminder offsets (the installation's [reminders] before unless the
// practice sets its own), SMS on or off, and the webhook endpoints with
// each one's delivery log. The same through the API.

const (
	reminderMaxCount = 5
	reminderMin      = 15 * time.Minute
	reminderMax      = 30 * 24 * time.Hour
)

func (s *Server) reminderRoutes() []route {
	return []route{
		{method: "GET", path: "/pro/p/{id}/notices", perm: PermPracticeStaff, practice: "id", h: s.handleNotices},
		{method: "POST", path: "/pro/p/{id}/notices", perm: PermPracticeStaff, practice: "id", h: s.handleNoticesSave},
		{method: "GET", path: "/api/v1/practices/{id}/notices", perm: PermPracticeStaff, practice: "id", h: s.handleAPINotices},
		{method: "PUT", path: "/api/v1/practices/{id}/notices", perm: PermPracticeStaff, practice: "id", h: s.handleAPINoticesPut},
	}
}

// formatOffset writes a reminder offset the way people type it: 48h, 90m, 1h30m.
func formatOffset(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case m == 0:
		return strconv.Itoa(h) + "h"
	case h == 0:
		return strconv.Itoa(m) + "m"
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// parseOffsets reads reminder offsets: Go durations (48h, 90m, 1h30m) or
// days (2d), at most reminderMaxCount, each 15 minutes to 30 days, whole
// minutes, no duplicate; returned longest first.
func parseOffsets(items []string) ([]time.Duration, *Error) {
	out := []time.Duration{}
	for _, v := range items {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		var d time.Duration
		var err error
		if n, ok := strings.CutSuffix(v, "d"); ok {
			var days int
			days, err = strconv.Atoi(n)
			d = time.Duration(days) * 24 * time.Hour
		} else {
			d, err = time.ParseDuration(v)
		}
		if err != nil || d < reminderMin || d > reminderMax || d%time.Minute != 0 {
			return nil, fieldErrArgs("error.reminder_offset", "reminders", "Value", v)
		}
		if slices.Contains(out, d) {
			continue
		}
		out = append(out, d)
	}
	if len(out) > reminderMaxCount {
		return nil, fieldErrArgs("error.reminder_count", "reminders", "Max", reminderMaxCount)
	}
	slices.SortFunc(out, func(a, b time.Duration) int { return int((b - a) / time.Second) })
	return out, nil
}

// saveNotices stores a practice's notice settings (audited) and
// re-schedules nothing: offsets apply to appointments booked or moved from
// now on, while reminders already scheduled keep their time.
func (s *Server) saveNotices(r *http.Request, n *store.PracticeNotices) error {
	ctx := r.Context()
	return s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SavePracticeNotices(ctx, n); err != nil {
			return err
		}
		detail := "reminders=default"
		if n.Reminders != nil {
			parts := []string{}
			for _, d := range n.Reminders {
				parts = append(parts, formatOffset(d))
			}
			detail = "reminders=" + strings.Join(parts, ",")
		}
		return s.audit(ctx, tx, r, actorFrom(r).User.ID, "practice.notices_saved", "practice", n.PracticeID, fmt.Sprintf("%s sms=%t", detail, n.SMSEnabled))
	})
}

// noticesPage is the data of templates/pages/notices.html.
type noticesPage struct {
	*Page
	Practice     *store.Practice
	Form         noticesForm
	Defaults     string // the installation's offsets
	SMSGateway   bool   // a gateway is configured
	Hooks        []webhookRow
	HookForm     webhookForm
	Events       []string
	NewHook      *store.Webhook // just created: its secret is shown this once
	MaxReminders int
}

type noticesForm struct {
	Custom     bool
	Reminders  string
	Off        bool
	SMSEnabled bool
}

type webhookForm struct {
	URL    string
	Events []string
}

// Checked tells whether the form has event e ticked.
func (f webhookForm) Checked(e string) bool { return slices.Contains(f.Events, e) }

type webhookRow struct {
	*store.Webhook
	Log []webhookDelivery
}

func (s *Server) noticesPage(w http.ResponseWriter, r *http.Request) (*noticesPage, error) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	n, err := s.db.FindPracticeNotices(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	p := &noticesPage{Page: s.newPage(w, r, "notices.title"), Practice: pr, SMSGateway: s.cfg.SMS.URL != "", Events: webhookEvents,
		HookForm: webhookForm{Events: []string{EventCreated, EventMoved, EventCancelled}}, MaxReminders: reminderMaxCount}
	p.Loc = s.location(pr.TimeZone)
	p.Defaults = joinOffsets(s.reminderOffsets(nil))
	p.Form = noticesForm{Custom: n.Reminders != nil, Reminders: joinOffsets(s.reminderOffsets(n)), Off: n.Reminders != nil && len(n.Reminders) == 0,
		SMSEnabled: n.SMSEnabled}
	hooks, err := s.db.FindWebhooks(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		log, err := s.webhookLog(ctx, h.ID)
		if err != nil {
			return nil, err
		}
		p.Hooks = append(p.Hooks, webhookRow{Webhook: h, Log: log})
	}
	return p, nil
}

func joinOffsets(list []time.Duration) string {
	parts := make([]string, 0, len(list))
	for _, d := range list {
		parts = append(parts, formatOffset(d))
	}
	return strings.Join(parts, ", ")
}

// EventLabel is the reader's word for an event kind.
func (p *noticesPage) EventLabel(kind string) string {
	return p.T("notices.event." + strings.TrimPrefix(kind, "appointment."))
}

// StateLabel is the reader's word for a delivery state.
func (p *noticesPage) StateLabel(state string) string { return p.T("notices.state." + state) }

// When formats a log time in the practice's zone.
func (p *noticesPage) When(d webhookDelivery) string { return p.DateTime(d.created) }

func (s *Server) handleNotices(w http.ResponseWriter, r *http.Request) {
	p, err := s.noticesPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "notices", p)
}

func (s *Server) handleNoticesSave(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("id")
	n := &store.PracticeNotices{PracticeID: pid, SMSEnabled: r.PostFormValue("sms_enabled") != ""}
	switch {
	case r.PostFormValue("mode") == "off":
		n.Reminders = []time.Duration{}
	case r.PostFormValue("mode") == "custom":
		list, verr := parseOffsets(strings.Split(r.PostFormValue("reminders"), ","))
		if verr == nil && len(list) == 0 {
			verr = fieldErr(ECodeInvalid, "error.reminder_empty", "reminders")
		}
		if verr != nil {
			p, err := s.noticesPage(w, r)
			if err != nil {
				s.error(w, r, err)
				return
			}
			p.fail(verr.Field, verr.Message, verr.Args...)
			p.Form = noticesForm{Custom: true, Reminders: r.PostFormValue("reminders"), SMSEnabled: n.SMSEnabled}
			s.render(w, r, http.StatusUnprocessableEntity, "notices", p)
			return
		}
		n.Reminders = list
	}
	if err := s.saveNotices(r, n); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(pid)+"/notices", http.StatusSeeOther)
}

// apiNotices is the API's view of the notice settings. Reminders null means
// the installation default (Effective says what applies).
type apiNotices struct {
	Reminders  []string `json:"reminders"`
	Effective  []string `json:"effective"`
	SMSEnabled bool     `json:"sms_enabled"`
}

func (s *Server) apiNoticesOf(n *store.PracticeNotices) apiNotices {
	out := apiNotices{SMSEnabled: n.SMSEnabled, Effective: []string{}}
	if n.Reminders != nil {
		out.Reminders = []string{}
		for _, d := range n.Reminders {
			out.Reminders = append(out.Reminders, formatOffset(d))
		}
	}
	for _, d := range s.reminderOffsets(n) {
		out.Effective = append(out.Effective, formatOffset(d))
	}
	return out
}

func (s *Server) handleAPINotices(w http.ResponseWriter, r *http.Request) {
	n, err := s.db.FindPracticeNotices(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiNoticesOf(n))
}

// handleAPINoticesPut changes the settings; absent fields keep their
// value, "reminders": null goes back to the installation default and []
// sends none.
func (s *Server) handleAPINoticesPut(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reminders  json.RawMessage `json:"reminders"`
		SMSEnabled *bool           `json:"sms_enabled"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	n, err := s.db.FindPracticeNotices(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if body.SMSEnabled != nil {
		n.SMSEnabled = *body.SMSEnabled
	}
	switch raw := strings.TrimSpace(string(body.Reminders)); raw {
	case "":
	case "null":
		n.Reminders = nil
	default:
		var items []string
		if err := json.Unmarshal(body.Reminders, &items); err != nil {
			s.error(w, r, fieldErrArgs("error.reminder_offset", "reminders", "Value", raw))
			return
		}
		list, verr := parseOffsets(items)
		if verr != nil {
			s.error(w, r, verr)
			return
		}
		n.Reminders = list
	}
	if err := s.saveNotices(r, n); err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiNoticesOf(n))
}

// fieldErrArgs is an invalid-field error whose message takes arguments.
func fieldErrArgs(msgID, field string, args ...any) *Error {
	return &Error{Code: ECodeInvalid, Message: msgID, Args: args, Field: field}
}
