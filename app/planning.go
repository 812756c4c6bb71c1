package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// The rolling planning: the one-time initial generation, the nightly roll
// (which also catches up after nights the server was down), hours changes
// from a chosen date, and the free starts of an appointment type.

// hoursSpec is the stored JSON form of a spec: location → weekday → ranges.
type hoursSpec map[string]map[string][][2]string

// parseSpec validates a stored or submitted spec.
func parseSpec(in hoursSpec) (schedule.Spec, error) {
	spec := schedule.Spec{}
	for loc, week := range in {
		w, err := schedule.ParseWeek(week)
		if err != nil {
			var se *schedule.Error
			if errors.As(err, &se) && loc != "" {
				se.Field = loc + "." + se.Field
			}
			return nil, err
		}
		spec[loc] = w
	}
	if err := spec.CheckLocations(); err != nil {
		return nil, err
	}
	return spec, nil
}

func formatSpec(spec schedule.Spec) hoursSpec {
	out := hoursSpec{}
	for loc, w := range spec {
		out[loc] = w.Format()
	}
	return out
}

// versions loads and parses a practice's hours versions.
func (s *Server) versions(ctx context.Context, practiceID string) ([]schedule.Version, error) {
	rows, err := s.db.HoursVersions(ctx, practiceID)
	if err != nil {
		return nil, err
	}
	return parseVersions(rows)
}

func parseVersions(rows []store.HoursVersion) ([]schedule.Version, error) {
	out := make([]schedule.Version, 0, len(rows))
	for _, r := range rows {
		d, err := schedule.ParseDay(r.ValidFrom)
		if err != nil {
			return nil, err
		}
		var hs hoursSpec
		if err := json.Unmarshal([]byte(r.Spec), &hs); err != nil {
			return nil, fmt.Errorf("hours of %s: %w", r.ValidFrom, err)
		}
		spec, err := parseSpec(hs)
		if err != nil {
			return nil, fmt.Errorf("hours of %s: %w", r.ValidFrom, err)
		}
		out = append(out, schedule.Version{From: d, Spec: spec})
	}
	return out, nil
}

// today returns the practice's local date now.
func (s *Server) today(p *store.Practice, now time.Time) schedule.Day {
	return schedule.DayOf(now.In(s.location(p.TimeZone)))
}

// slotRows turns generated slots into rows for the store.
func slotRows(gen []schedule.Slot) []store.Slot {
	rows := make([]store.Slot, len(gen))
	for i, g := range gen {
		rows[i] = store.Slot{Start: g.Start, End: g.End, LocationID: g.Location, Day: g.Day.String()}
	}
	return rows
}

// fillDays generates and inserts the slots of days from..to in tx, blocks
// those inside existing blocks, and returns how many it added.
func (s *Server) fillDays(ctx context.Context, tx *store.Tx, p *store.Practice, versions []schedule.Version, from, to schedule.Day) (int, error) {
	if to.Before(from) {
		return 0, nil
	}
	loc := s.location(p.TimeZone)
	gen := schedule.Generate(versions, from, to, p.SlotMinutes, loc)
	added, err := tx.InsertSlots(ctx, p.ID, slotRows(gen))
	if err != nil {
		return 0, err
	}
	if err := tx.BlockNewSlots(ctx, p.ID, from.Start(loc), to.AddDays(1).Start(loc)); err != nil {
		return 0, err
	}
	return added, nil
}

// ErrAlreadyGenerated is answered to a second initial generation (seed 004:
// it runs once; the nightly roll does the rest).
var errAlreadyGenerated = errorf(ECodeConflict, "error.already_generated")

// generateInitial materialises every slot of the practice's horizon from
// its hours, in one transaction, once. run (may be nil) gets the counts.
func (s *Server) generateInitial(ctx context.Context, practiceID, actorID string, run *store.PlanningRun) error {
	p, err := s.db.FindPracticeByID(ctx, practiceID)
	if err != nil {
		return err
	}
	if !p.GeneratedAt.IsZero() {
		return errAlreadyGenerated
	}
	versions, err := s.versions(ctx, practiceID)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return errorf(ECodeInvalid, "error.no_hours")
	}
	from := s.today(p, s.clock())
	to := from.AddDays(p.HorizonDays - 1)
	var added int
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetPlanned(ctx, p.ID, to.String(), true); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errAlreadyGenerated
			}
			return err
		}
		if added, err = s.fillDays(ctx, tx, p, versions, from, to); err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: actorID, Action: "planning.generated", ObjectType: "practice", ObjectID: p.ID,
			Detail: fmt.Sprintf("days=%d slots=%d", p.HorizonDays, added)})
	})
	if run != nil {
		run.Practices, run.Days, run.Added = 1, p.HorizonDays, added
	}
	return err
}

// rollResult is what one practice's roll did.
type rollResult struct {
	Days, Added, Removed int
}

// rollPractice extends a practice's planning to today + horizon and trims
// free and blocked slots older than planning.history_days. Every step is
// idempotent: a second run the same day does nothing, a run after missed
// nights adds every missing day once.
func (s *Server) rollPractice(ctx context.Context, p *store.Practice, versions []schedule.Version, now time.Time) (rollResult, error) {
	var res rollResult
	today := s.today(p, now)
	target := today.AddDays(p.HorizonDays - 1)
	from := today
	if until, err := schedule.ParseDay(p.PlannedUntil); err == nil && !until.Before(from) {
		from = until.AddDays(1)
	}
	loc := s.location(p.TimeZone)
	cut := today.AddDays(-s.cfg.Planning.HistoryDays).Start(loc)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if !target.Before(from) {
			n, err := s.fillDays(ctx, tx, p, versions, from, target)
			if err != nil {
				return err
			}
			res.Added, res.Days = n, target.Sub(from)+1
			if err := tx.SetPlanned(ctx, p.ID, target.String(), false); err != nil {
				return err
			}
		}
		n, err := tx.TrimSlots(ctx, p.ID, cut)
		res.Removed = n
		return err
	})
	return res, err
}

// roll runs the nightly roll over every generated practice and records the
// run. It is also called at start-up, so nights the server missed are caught
// up at once.
func (s *Server) roll(ctx context.Context, now time.Time) error {
	s.rollMu.Lock()
	defer s.rollMu.Unlock()
	run := &store.PlanningRun{Kind: "roll"}
	if err := s.db.StartRun(ctx, run); err != nil {
		return err
	}
	practices, err := s.db.GeneratedPractices(ctx)
	if err == nil {
		for i, p := range practices {
			versions, verr := s.versions(ctx, p.ID)
			if verr != nil {
				err = verr
				break
			}
			r, rerr := s.rollPractice(ctx, p, versions, now)
			if rerr != nil {
				err = rerr
				break
			}
			run.Practices++
			run.Days += r.Days
			run.Added += r.Added
			run.Removed += r.Removed
			run.Progress = (i + 1) * 100 / len(practices)
		}
	}
	run.State = "done"
	if err != nil {
		run.State, run.Detail = "failed", err.Error()
	}
	if len(practices) == 0 {
		run.Progress = 100
	}
	if uerr := s.db.UpdateRun(ctx, run); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// hoursChange is what changing the hours did.
type hoursChange struct {
	From      schedule.Day
	Removed   int
	Added     int
	Dropped   int                  // new slots dropped because they overlapped a booked one
	Conflicts []*store.Appointment // booked appointments the new hours no longer cover
}

// changeHours stores new hours applying from a local day (today or later)
// and, once the planning exists, regenerates the free slots from that day:
// booked slots are never touched, and appointments that now fall outside the
// hours are returned for the secretary to handle.
func (s *Server) changeHours(ctx context.Context, p *store.Practice, from schedule.Day, spec schedule.Spec, actorID string) (*hoursChange, error) {
	if len(spec) == 0 {
		spec = schedule.Spec{"": schedule.Week{}}
	}
	js, err := json.Marshal(formatSpec(spec))
	if err != nil {
		return nil, err
	}
	loc := s.location(p.TimeZone)
	ch := &hoursChange{From: from}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SaveHours(ctx, p.ID, from.String(), string(js)); err != nil {
			return err
		}
		if p.GeneratedAt.IsZero() {
			return tx.Audit(ctx, &store.AuditEntry{ActorID: actorID, Action: "planning.hours_changed", ObjectType: "practice", ObjectID: p.ID, Detail: "from=" + from.String()})
		}
		rows, err := tx.HoursVersions(ctx, p.ID)
		if err != nil {
			return err
		}
		versions, err := parseVersions(rows)
		if err != nil {
			return err
		}
		start := from.Start(loc)
		if ch.Removed, err = tx.DeleteFreeSlots(ctx, p.ID, start); err != nil {
			return err
		}
		// Blocked slots are made again from the blocks, on the new grid.
		if _, err := tx.DeleteBlockedSlots(ctx, p.ID, start); err != nil {
			return err
		}
		until, err := schedule.ParseDay(p.PlannedUntil)
		if err != nil {
			return err
		}
		if ch.Added, err = s.fillDays(ctx, tx, p, versions, from, until); err != nil {
			return err
		}
		// Booked slots of the old grid stay where they are: a new slot
		// overlapping one would allow a double booking, so it goes.
		if ch.Dropped, err = tx.DeleteSlotsOverlappingBooked(ctx, p.ID, start); err != nil {
			return err
		}
		ch.Added -= ch.Dropped
		return tx.Audit(ctx, &store.AuditEntry{ActorID: actorID, Action: "planning.hours_changed", ObjectType: "practice", ObjectID: p.ID,
			Detail: fmt.Sprintf("from=%s removed=%d added=%d", from, ch.Removed, ch.Added)})
	})
	if err != nil {
		return nil, err
	}
	versions, err := s.versions(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	booked, err := s.db.FindAppointments(ctx, store.AppointmentFilter{PracticeID: p.ID, States: []string{store.AppointmentBooked}, From: from.Start(loc)})
	if err != nil {
		return nil, err
	}
	for _, a := range booked {
		if schedule.Outside(versions, loc, a.Start, a.End, a.LocationID) {
			ch.Conflicts = append(ch.Conflicts, a)
		}
	}
	return ch, nil
}

// freeStarts returns the bookable starts of an appointment of minutes plus
// bufferMinutes in the practice between local days from and to (inclusive):
// enough consecutive free slots at one location, starting no sooner than
// the practice's minimum notice, within the planning.
func (s *Server) freeStarts(ctx context.Context, p *store.Practice, minutes, bufferMinutes int, from, to schedule.Day, now time.Time) ([]schedule.Cell, error) {
	loc := s.location(p.TimeZone)
	need := schedule.SlotsNeeded(minutes, bufferMinutes, p.SlotMinutes)
	// Read a little past the window so a start late on the last day still
	// sees the slots its buffer needs.
	end := to.AddDays(1).Start(loc)
	slots, err := s.db.FindSlotCells(ctx, p.ID, from.Start(loc), end.Add(time.Duration(need)*time.Duration(p.SlotMinutes)*time.Minute))
	if err != nil {
		return nil, err
	}
	cells := make([]schedule.Cell, len(slots))
	multi := false
	for i, sl := range slots {
		cells[i] = schedule.Cell{ID: sl.ID, Start: time.Unix(sl.Start, 0).UTC(), End: time.Unix(sl.End, 0).UTC(), Location: sl.LocationID, Free: sl.Free}
		multi = multi || sl.LocationID != ""
	}
	if multi {
		schedule.SortCells(cells)
	}
	earliest := now.Add(time.Duration(p.MinNoticeMinutes) * time.Minute)
	starts := schedule.Starts(cells, need)
	out := starts[:0]
	for _, c := range starts {
		if c.Start.Before(earliest) || !c.Start.Before(end) {
			continue
		}
		out = append(out, c)
	}
	if multi {
		sortCellsByStart(out)
	}
	return out, nil
}

func sortCellsByStart(cells []schedule.Cell) {
	sort.SliceStable(cells, func(i, j int) bool { return cells[i].Start.Before(cells[j].Start) })
}
