package app

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"daraport/app/schedule"
	"daraport/store"
)

// The private calendar feed (issue 3, item 10): the practitioner subscribes
// their phone calendar to a secret, revocable iCalendar URL and sees their
// day there. The URL holds a random token; the database keeps only its
// SHA-256. The feed names patients and appointment types (it is the
// practitioner's own day) but never the reason, which is health data.

// feedHistoryDays is how far back the feed goes.
const feedHistoryDays = 30

// feedStates are the appointments the feed shows.
var feedStates = []string{store.AppointmentBooked, store.AppointmentAttended, store.AppointmentNoShow}

// feedTokenHash is what the database keeps of a feed token.
func feedTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// feedPage is the page that explains and manages the feed.
type feedPage struct {
	*Page
	PracticeID   string
	PracticeName string
	Active       bool
	URL          string       // shown once, right after creation
	Webcal       template.URL // the same, for calendar apps (webcal://)
}

func (s *Server) feedPractice(w http.ResponseWriter, r *http.Request) (*store.Practice, bool) {
	p, err := s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return p, true
}

func (s *Server) newFeedPage(w http.ResponseWriter, r *http.Request, p *store.Practice) (*feedPage, error) {
	active, err := s.db.HasFeed(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return &feedPage{Page: s.newPage(w, r, "feed.title"), PracticeID: p.ID, PracticeName: p.Name, Active: active}, nil
}

// handleFeedPage answers GET /pro/p/{id}/feed: how to add the practice's
// calendar to a phone, and the buttons to create, replace or revoke it.
func (s *Server) handleFeedPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.feedPractice(w, r)
	if !ok {
		return
	}
	page, err := s.newFeedPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "feed", page)
}

// handleFeedCreate answers POST /pro/p/{id}/feed: a new secret address
// replaces the previous one (which stops working at once) and is shown this
// once; only its hash is kept.
func (s *Server) handleFeedCreate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.feedPractice(w, r)
	if !ok {
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		s.error(w, r, err)
		return
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	a := actorFrom(r)
	ctx := r.Context()
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		had, err := tx.SetFeedTokenHash(ctx, p.ID, feedTokenHash(token))
		if err != nil {
			return err
		}
		action := "feed.created"
		if had {
			action = "feed.replaced"
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "practice", p.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	page, err := s.newFeedPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page.URL = s.link("/feed/"+token+".ics", nil)
	// webcal:// is the same address for calendar apps: a link to it opens
	// the "subscribe" dialog on phones and desktops.
	page.Webcal = template.URL("webcal://" + strings.TrimPrefix(strings.TrimPrefix(page.URL, "https://"), "http://"))
	page.Flash = page.T("flash.feed_created")
	s.render(w, r, http.StatusOK, "feed", page)
}

// handleFeedRevoke answers POST /pro/p/{id}/feed/revoke: the address stops
// working at once.
func (s *Server) handleFeedRevoke(w http.ResponseWriter, r *http.Request) {
	p, ok := s.feedPractice(w, r)
	if !ok {
		return
	}
	a := actorFrom(r)
	ctx := r.Context()
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		had, err := tx.SetFeedTokenHash(ctx, p.ID, "")
		if err != nil || !had {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "feed.revoked", "practice", p.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.feed_revoked")
	http.Redirect(w, r, "/pro/p/"+p.ID+"/feed", http.StatusSeeOther)
}

// handleFeed answers GET /feed/{token}.ics with the practice's calendar:
// its appointments from feedHistoryDays ago to the end of the planning, and
// its absences. An unknown or revoked token is 404, told apart from nothing.
// The access log names the route pattern only, never the token.
func (s *Server) handleFeed(limit *bucket) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutSuffix(r.PathValue("token"), ".ics")
		if !ok || token == "" {
			s.feedError(w, r, http.StatusNotFound, "error.not_found")
			return
		}
		hash := feedTokenHash(token)
		if !limit.allow(hash) {
			w.Header().Set("Retry-After", "5")
			s.feedError(w, r, http.StatusTooManyRequests, "error.rate_limited")
			return
		}
		ctx := r.Context()
		p, err := s.db.FindPracticeByFeedHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			s.feedError(w, r, http.StatusNotFound, "error.not_found")
			return
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		body, err := s.feedCalendar(r, p)
		if err != nil {
			s.error(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/calendar; charset=utf-8")
		h.Set("Cache-Control", "private, no-store")
		h.Set("X-Robots-Tag", "noindex")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// feedError answers a calendar app in plain text: the error page would
// echo the address (and so the token) in its language form, and an unknown
// address must read exactly like a revoked one.
func (s *Server) feedError(w http.ResponseWriter, r *http.Request, status int, msgID string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s.i18n.T(s.requestLanguage(r, ""), msgID) + "\n"))
}

// feedCalendar builds the practice's iCalendar document.
func (s *Server) feedCalendar(r *http.Request, p *store.Practice) ([]byte, error) {
	ctx := r.Context()
	now := s.clock()
	loc := s.location(p.TimeZone)
	from := now.Add(-feedHistoryDays * 24 * time.Hour)
	var to time.Time // the end of the planning; none before it exists
	if until, err := schedule.ParseDay(p.PlannedUntil); err == nil {
		to = until.AddDays(1).Start(loc)
	}
	appts, err := s.db.FeedAppointments(ctx, p.ID, feedStates, from, to)
	if err != nil {
		return nil, err
	}
	blocks, err := s.db.FindBlocks(ctx, p.ID, from)
	if err != nil {
		return nil, err
	}
	places := map[string]string{"": feedPlace(p.Address, p.PostalCode+" "+p.City)}
	if len(appts) > 0 {
		locs, err := s.db.Locations(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, l := range locs {
			places[l.ID] = l.Name
		}
	}
	lang := s.requestLanguage(r, "")
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, "-//Daraport//Practice calendar//EN")
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	cal.Props.SetText(ical.PropMethod, "PUBLISH")
	setXText(cal.Props, "X-WR-CALNAME", p.Name)
	setXText(cal.Props, "X-WR-TIMEZONE", p.TimeZone)
	// Ask calendar apps to look again every 15 minutes (most poll less often).
	// RFC 7986 wants VALUE=DURATION spelled out, which SetDuration leaves off.
	cal.Props.Set(&ical.Prop{Name: ical.PropRefreshInterval, Params: ical.Params{ical.ParamValue: {"DURATION"}}, Value: "PT15M"})
	setXText(cal.Props, "X-PUBLISHED-TTL", "PT15M")
	for _, a := range appts {
		ev := ical.NewEvent()
		ev.Props.SetText(ical.PropUID, a.ID+"@daraport")
		ev.Props.SetDateTime(ical.PropDateTimeStamp, now)
		ev.Props.SetDateTime(ical.PropLastModified, a.UpdatedAt)
		ev.Props.SetDateTime(ical.PropDateTimeStart, a.Start.UTC())
		ev.Props.SetDateTime(ical.PropDateTimeEnd, a.End.UTC())
		summary := a.PatientName
		if a.TypeName != "" {
			summary = a.TypeName + " — " + a.PatientName
		}
		ev.Props.SetText(ical.PropSummary, summary)
		ev.Props.SetText(ical.PropStatus, string(ical.EventConfirmed))
		ev.Props.SetText(ical.PropTransparency, "OPAQUE")
		ev.Props.SetText(ical.PropClass, "PRIVATE")
		seq := ical.NewProp(ical.PropSequence)
		seq.Value = strconv.Itoa(a.Sequence)
		ev.Props.Set(seq)
		if place := places[a.LocationID]; place != "" {
			ev.Props.SetText(ical.PropLocation, place)
		}
		cal.Children = append(cal.Children, ev.Component)
	}
	for _, b := range blocks {
		if !to.IsZero() && !b.Start.Before(to) {
			continue
		}
		ev := ical.NewEvent()
		ev.Props.SetText(ical.PropUID, b.ID+"@daraport")
		ev.Props.SetDateTime(ical.PropDateTimeStamp, now)
		ev.Props.SetDateTime(ical.PropDateTimeStart, b.Start.UTC())
		ev.Props.SetDateTime(ical.PropDateTimeEnd, b.End.UTC())
		summary := s.i18n.T(lang, "feed.block."+blockKind(b.Kind))
		if reason := strings.TrimSpace(b.Reason); reason != "" {
			summary += " — " + reason
		}
		ev.Props.SetText(ical.PropSummary, summary)
		ev.Props.SetText(ical.PropStatus, string(ical.EventConfirmed))
		ev.Props.SetText(ical.PropTransparency, "OPAQUE")
		ev.Props.SetText(ical.PropClass, "PRIVATE")
		cal.Children = append(cal.Children, ev.Component)
	}
	return encodeCalendar(cal)
}

// setXText sets a non-standard text property without the VALUE=TEXT
// parameter go-ical adds to names it does not know (clients expect
// X-WR-CALNAME:name).
func setXText(props ical.Props, name, value string) {
	prop := ical.NewProp(name)
	prop.SetText(value)
	prop.Params.Del(ical.ParamValue)
	props.Set(prop)
}

// encodeCalendar writes cal, its long lines folded. go-ical refuses a calendar without components,
// yet an empty day is a normal feed: it is then encoded with a placeholder
// event, which is cut out again.
func encodeCalendar(cal *ical.Calendar) ([]byte, error) {
	var buf bytes.Buffer
	if len(cal.Children) > 0 {
		if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
			return nil, err
		}
		return foldLines(buf.Bytes()), nil
	}
	ph := ical.NewEvent()
	ph.Props.SetText(ical.PropUID, "placeholder")
	ph.Props.SetDateTime(ical.PropDateTimeStamp, time.Unix(0, 0).UTC())
	cal.Children = []*ical.Component{ph.Component}
	err := ical.NewEncoder(&buf).Encode(cal)
	cal.Children = nil
	if err != nil {
		return nil, err
	}
	out := buf.Bytes()
	i := bytes.Index(out, []byte("BEGIN:VEVENT\r\n"))
	j := bytes.Index(out, []byte("END:VEVENT\r\n"))
	if i < 0 || j < i {
		return nil, errors.New("feed: placeholder event not found")
	}
	return foldLines(append(out[:i:i], out[j+len("END:VEVENT\r\n"):]...)), nil
}

// foldLines folds content lines longer than 75 octets (RFC 5545 §3.1),
// which go-ical's encoder leaves whole, never inside a UTF-8 character.
func foldLines(in []byte) []byte {
	out := make([]byte, 0, len(in)+len(in)/64)
	for len(in) > 0 {
		end := bytes.Index(in, []byte("\r\n"))
		if end < 0 {
			end = len(in)
		}
		line := in[:end]
		limit := 75
		for len(line) > limit {
			cut := limit
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			out = append(out, line[:cut]...)
			out = append(out, "\r\n "...)
			line = line[cut:]
			limit = 74 // the leading space counts
		}
		out = append(out, line...)
		if end < len(in) {
			out = append(out, "\r\n"...)
			end += 2
		}
		in = in[end:]
	}
	return out
}

// blockKind names a block kind the catalogue knows.
func blockKind(kind string) string {
	switch kind {
	case "holiday", "other":
		return kind
	}
	return "absence"
}

// feedPlace joins the non-blank parts of an address.
func feedPlace(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}
