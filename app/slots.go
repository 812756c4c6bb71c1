package app

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// slotsRoutes are the free-slot query and the private calendar feed.
func (s *Server) slotsRoutes() []route {
	// Each feed token has its own small bucket: a calendar app polls every
	// few minutes at most, so 20 at once and one every 5 s after is plenty.
	feedLimit := newBucket(s.now, 0.2, 20)
	return []route{
		{method: "GET", path: "/api/v1/practitioners/{id}/slots", perm: PermPublic, h: s.handleAPISlots},
		{method: "GET", path: "/pro/p/{id}/feed", perm: PermPracticeAdmin, practice: "id", h: s.handleFeedPage},
		{method: "POST", path: "/pro/p/{id}/feed", perm: PermPracticeAdmin, practice: "id", h: s.handleFeedCreate},
		{method: "POST", path: "/pro/p/{id}/feed/revoke", perm: PermPracticeAdmin, practice: "id", h: s.handleFeedRevoke},
		{method: "GET", path: "/feed/{token}", perm: PermPublic, h: s.handleFeed(feedLimit)},
	}
}

// maxSlotsSpan is the most days one free-slot query may cover (from and to
// included): two months, enough for any calendar view.
const maxSlotsSpan = 62

// apiSlot is one bookable start of the free-slot query. ID is the id of its
// first slot: the one a booking names.
type apiSlot struct {
	ID         string `json:"id"`
	Start      string `json:"start"`
	End        string `json:"end"`
	LocationID string `json:"location_id,omitempty"` // only away from the main office
}

// slotsQuery is a validated free-slot query.
type slotsQuery struct {
	from, to schedule.Day
	typeID   string
}

// parseSlotsQuery validates from, to (strict YYYY-MM-DD, to ≥ from, at most
// maxSlotsSpan days) and reads type.
func parseSlotsQuery(q url.Values) (slotsQuery, error) {
	var out slotsQuery
	for _, f := range []struct {
		name, msg string
		dst       *schedule.Day
	}{{"from", "error.slots_from", &out.from}, {"to", "error.slots_to", &out.to}} {
		d, err := schedule.ParseDay(q.Get(f.name))
		if err != nil || len(q[f.name]) > 1 {
			e := errorf(ECodeBadRequest, f.msg)
			e.Field = f.name
			return out, e
		}
		*f.dst = d
	}
	if out.to.Before(out.from) {
		e := errorf(ECodeBadRequest, "error.slots_order")
		e.Field = "to"
		return out, e
	}
	if out.to.Sub(out.from)+1 > maxSlotsSpan {
		e := errorf(ECodeBadRequest, "error.slots_span", "Max", maxSlotsSpan)
		e.Field = "to"
		return out, e
	}
	out.typeID = q.Get("type")
	return out, nil
}

// handleAPISlots answers GET /api/v1/practitioners/{id}/slots?from&to[&type]
// (DESIGN §5): the bookable starts, as a JSON array, of an appointment of
// that type (a single slot without type) between two local days of the
// practice, both included. A start needs enough consecutive free slots at
// one place for the type's minutes and its buffer, lies at least the
// practice's minimum notice ahead, and inside its horizon; days before today
// are skipped. An unknown or unverified practice is 404; a verified practice
// whose planning is not generated yet has no starts (an empty array). A type
// of another practice, or archived, is 404 with field "type".
func (s *Server) handleAPISlots(w http.ResponseWriter, r *http.Request) {
	q, err := parseSlotsQuery(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	ctx := r.Context()
	p, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err == nil && p.Status != store.PracticeVerified {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	minutes, buffer := p.SlotMinutes, 0
	if q.typeID != "" {
		t, err := s.db.FindTypeSpan(ctx, p.ID, q.typeID)
		if err == nil && (t.Archived || t.Minutes <= 0) {
			err = store.ErrNotFound
		}
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				e := errorf(ECodeNotFound, "error.slots_type")
				e.Field = "type"
				err = e
			}
			s.error(w, r, err)
			return
		}
		minutes, buffer = t.Minutes, t.BufferAfter
	}
	out := []apiSlot{}
	now := s.clock()
	today := s.today(p, now)
	from, to := q.from, q.to
	if from.Before(today) {
		from = today
	}
	if last := today.AddDays(p.HorizonDays - 1); last.Before(to) {
		to = last
	}
	if until, err := schedule.ParseDay(p.PlannedUntil); err == nil && until.Before(to) {
		to = until
	}
	if p.GeneratedAt.IsZero() || to.Before(from) {
		writeJSON(w, http.StatusOK, out)
		return
	}
	starts, err := s.freeStarts(ctx, p, minutes, buffer, from, to, now)
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(p.TimeZone)
	length := time.Duration(minutes) * time.Minute
	out = make([]apiSlot, len(starts))
	for i, c := range starts {
		end := c.End
		if q.typeID != "" {
			end = c.Start.Add(length)
		}
		out[i] = apiSlot{ID: c.ID, Start: c.Start.In(loc).Format(time.RFC3339), End: end.In(loc).Format(time.RFC3339), LocationID: c.Location}
	}
	writeJSON(w, http.StatusOK, out)
}
