package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// Absences, holidays and other blocks (seed 004): the practice's staff block
// a time range, a half-day, a day or several days, and the public holidays
// of the practice's country. Free slots inside a block become blocked;
// booked ones stay booked and their appointments are listed for the
// secretary to handle, never deleted. Slots generated later inside a block
// come blocked (fillDays calls BlockNewSlots).

// blocksRoutes are the absences, holidays and blocks pages and API.
func (s *Server) blocksRoutes() []route {
	return []route{
		{method: "GET", path: "/pro/p/{id}/absences", perm: PermPracticeDesk, h: s.handleAbsences, practice: "id"},
		{method: "POST", path: "/pro/p/{id}/absences", perm: PermPracticeDesk, h: s.handleAbsenceCreate, practice: "id"},
		{method: "POST", path: "/pro/p/{id}/absences/{block}/delete", perm: PermPracticeDesk, h: s.handleAbsenceDelete, practice: "id"},
		{method: "POST", path: "/pro/p/{id}/holidays", perm: PermPracticeDesk, h: s.handleHolidaysBlock, practice: "id"},
		{method: "GET", path: "/api/v1/practices/{id}/blocks", perm: PermPracticeDesk, h: s.handleAPIBlocks, practice: "id"},
		{method: "POST", path: "/api/v1/practices/{id}/blocks", perm: PermPracticeDesk, h: s.handleAPIBlockCreate, practice: "id"},
		{method: "DELETE", path: "/api/v1/practices/{id}/blocks/{block}", perm: PermPracticeDesk, h: s.handleAPIBlockDelete, practice: "id"},
		{method: "GET", path: "/api/v1/practices/{id}/holidays", perm: PermPracticeDesk, h: s.handleAPIHolidays, practice: "id"},
	}
}

const (
	// blockMaxSpan is 366 whole days, plus the hour a DST change may add.
	blockMaxSpan   = 366*24*time.Hour + time.Hour
	blockReasonMax = 200
	// blockMiddayMinutes splits a half-day block: morning 00:00–13:00,
	// afternoon 13:00–24:00 local time.
	blockMiddayMinutes = 13 * 60
	// blockMaxDays caps the holidays one request may block.
	blockMaxDays = 100
)

// blockKinds are the kinds of block (the blocks.kind column).
var blockKinds = []string{"absence", "holiday", "other"}

// newBlock is a block to create, before validation.
type newBlock struct {
	Start, End   time.Time
	Kind, Reason string
}

// blockInvalid is a validation failure on a field of the API's block
// (from, to, reason, kind); the page maps it to its own form fields.
func blockInvalid(field, msgID string) *Error {
	e := errorf(ECodeInvalid, msgID)
	e.Field = field
	return e
}

// checkBlock validates b and cleans its reason; pages and the API share it.
// A block must end after it starts, span at most 366 days and not be over
// already.
func checkBlock(b *newBlock, now time.Time) *Error {
	if !b.End.After(b.Start) {
		return blockInvalid("to", "error.block_order")
	}
	if b.End.Sub(b.Start) > blockMaxSpan {
		return blockInvalid("to", "error.block_too_long")
	}
	if !b.End.After(now) {
		return blockInvalid("to", "error.block_past")
	}
	if b.Kind == "" {
		b.Kind = "absence"
	}
	if !validBlockKind(b.Kind) {
		return blockInvalid("kind", "error.block_kind")
	}
	reason, msg := cleanBlockReason(b.Reason)
	if msg != "" {
		return blockInvalid("reason", msg)
	}
	b.Reason = reason
	return nil
}

func validBlockKind(k string) bool {
	for _, x := range blockKinds {
		if x == k {
			return true
		}
	}
	return false
}

// cleanBlockReason trims a reason and checks it: at most 200 characters,
// valid UTF-8, no control characters. It returns the message id of the
// failure, if any.
func cleanBlockReason(v string) (string, string) {
	v = strings.TrimSpace(v)
	if !utf8.ValidString(v) {
		return v, "error.block_reason_invalid"
	}
	if utf8.RuneCountInString(v) > blockReasonMax {
		return v, "error.block_reason_long"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return v, "error.block_reason_invalid"
		}
	}
	return v, ""
}

// blockWallTime returns the instant of minutes after midnight (0–1440) of day in
// loc. A wall time that does not exist there (the hour skipped when clocks
// go forward) moves to the first existing minute after it; 24:00 is the
// start of the next day.
func blockWallTime(day schedule.Day, minutes int, loc *time.Location) time.Time {
	for m := minutes; m < 24*60; m++ {
		if t, ok := schedule.Local(day, m, loc); ok {
			return t
		}
	}
	return day.AddDays(1).Start(loc)
}

// blockDayRange is the whole local days first..last (inclusive) in loc.
func blockDayRange(first, last schedule.Day, loc *time.Location) (time.Time, time.Time) {
	return first.Start(loc), last.AddDays(1).Start(loc)
}

// blocksCover tells whether blocks (sorted by start) together cover [from, to).
func blocksCover(blocks []*store.Block, from, to time.Time) bool {
	at := from
	for _, b := range blocks {
		if !at.Before(to) {
			break
		}
		if !b.End.After(at) {
			continue
		}
		if b.Start.After(at) {
			return false
		}
		at = b.End
	}
	return !at.Before(to)
}

// blockOutcome is what creating blocks did.
type blockOutcome struct {
	Created   []*store.Block
	Skipped   []holiday // holidays already blocked
	Blocked   int       // free slots that became blocked
	Conflicts []*store.BlockConflict
}

// createBlocks stores validated blocks in one transaction with their audit
// entries. days (nil for a plain absence) names the holiday of each block:
// then a block whose day existing blocks already cover is skipped and
// listed, so holidays blocked twice are blocked once; the check runs inside
// the write transaction, so two requests at once cannot both pass it.
// Booked appointments inside the new blocks are returned as conflicts.
func (s *Server) createBlocks(ctx context.Context, r *http.Request, p *store.Practice, actorID string, blocks []newBlock, days []holiday) (*blockOutcome, error) {
	out := &blockOutcome{}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		out.Created, out.Skipped, out.Blocked = nil, nil, 0
		for i, nb := range blocks {
			if days != nil {
				existing, err := tx.BlocksOverlapping(ctx, p.ID, nb.Start, nb.End)
				if err != nil {
					return err
				}
				if blocksCover(existing, nb.Start, nb.End) {
					out.Skipped = append(out.Skipped, days[i])
					continue
				}
			}
			b := &store.Block{PracticeID: p.ID, Start: nb.Start, End: nb.End, Kind: nb.Kind, Reason: nb.Reason, CreatedBy: actorID}
			n, err := tx.CreateBlock(ctx, b)
			if err != nil {
				return err
			}
			out.Created = append(out.Created, b)
			out.Blocked += n
			detail := fmt.Sprintf("practice=%s from=%s to=%s kind=%s blocked=%d", p.ID, b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339), b.Kind, n)
			if err := s.audit(ctx, tx, r, actorID, "block.created", "block", b.ID, detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range out.Created {
		list, err := s.db.FindBlockConflicts(ctx, p.ID, b.Start, b.End)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if !seen[c.ID] {
				seen[c.ID] = true
				out.Conflicts = append(out.Conflicts, c)
			}
		}
	}
	sort.SliceStable(out.Conflicts, func(i, j int) bool { return out.Conflicts[i].Start.Before(out.Conflicts[j].Start) })
	s.workspaceBlocksChanged(p.ID)
	return out, nil
}

// deleteBlock removes a block of the practice: its free-again slots become
// free (unless another block still covers them), booked ones stay booked.
// Returns ErrNotFound for an unknown block or another practice's.
func (s *Server) deleteBlock(ctx context.Context, r *http.Request, p *store.Practice, id, actorID string) error {
	defer s.workspaceBlocksChanged(p.ID)
	return s.db.Update(ctx, func(tx *store.Tx) error {
		b, err := tx.FindBlockByID(ctx, p.ID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteBlock(ctx, p.ID, id); err != nil {
			return err
		}
		// A slot starts at most a day before the block it overlaps.
		if _, err := tx.ReapplyBlocks(ctx, p.ID, b.Start.Add(-24*time.Hour), b.End); err != nil {
			return err
		}
		detail := fmt.Sprintf("practice=%s from=%s to=%s kind=%s", p.ID, b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339), b.Kind)
		return s.audit(ctx, tx, r, actorID, "block.deleted", "block", b.ID, detail)
	})
}

// blockPractice loads the practice of the path's {id}.
func (s *Server) blockPractice(r *http.Request) (*store.Practice, error) {
	return s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
}

// ---- Pages ----

// absenceForm is the page's block form: one of four modes, each with its
// own fields.
type absenceForm struct {
	Mode                                   string // range | half | day | days
	StartDate, StartTime, EndDate, EndTime string
	HalfDate, Half                         string // morning | afternoon
	DayDate                                string
	FirstDay, LastDay                      string
	Reason                                 string
}

func absenceFormFrom(r *http.Request) absenceForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return absenceForm{Mode: v("mode"), StartDate: v("start_date"), StartTime: v("start_time"), EndDate: v("end_date"), EndTime: v("end_time"),
		HalfDate: v("half_date"), Half: v("half"), DayDate: v("day_date"), FirstDay: v("first_day"), LastDay: v("last_day"),
		Reason: r.PostFormValue("reason")}
}

// absenceFields maps checkBlock's fields to each mode's form fields.
var absenceFields = map[string]map[string]string{
	"range": {"from": "start_date", "to": "end_date"},
	"half":  {"from": "half_date", "to": "half_date"},
	"day":   {"from": "day_date", "to": "day_date"},
	"days":  {"from": "first_day", "to": "last_day"},
}

// block turns the form into a block in loc, or names the form field at
// fault and the message id.
func (f absenceForm) block(loc *time.Location) (newBlock, string, string) {
	b := newBlock{Kind: "absence", Reason: f.Reason}
	day := func(v string) (schedule.Day, bool) {
		d, err := schedule.ParseDay(v)
		return d, err == nil
	}
	switch f.Mode {
	case "range":
		sd, ok := day(f.StartDate)
		if !ok {
			return b, "start_date", "error.block_date"
		}
		st, err := schedule.ParseClock(f.StartTime, false)
		if err != nil {
			return b, "start_time", "error.block_time"
		}
		ed, ok := day(f.EndDate)
		if !ok {
			return b, "end_date", "error.block_date"
		}
		et, err := schedule.ParseClock(f.EndTime, true)
		if err != nil {
			return b, "end_time", "error.block_time"
		}
		b.Start, b.End = blockWallTime(sd, st, loc), blockWallTime(ed, et, loc)
	case "half":
		d, ok := day(f.HalfDate)
		if !ok {
			return b, "half_date", "error.block_date"
		}
		switch f.Half {
		case "morning":
			b.Start, b.End = blockWallTime(d, 0, loc), blockWallTime(d, blockMiddayMinutes, loc)
		case "afternoon":
			b.Start, b.End = blockWallTime(d, blockMiddayMinutes, loc), blockWallTime(d, 24*60, loc)
		default:
			return b, "half", "error.block_half"
		}
	case "day":
		d, ok := day(f.DayDate)
		if !ok {
			return b, "day_date", "error.block_date"
		}
		b.Start, b.End = blockDayRange(d, d, loc)
	case "days":
		first, ok := day(f.FirstDay)
		if !ok {
			return b, "first_day", "error.block_date"
		}
		last, ok := day(f.LastDay)
		if !ok {
			return b, "last_day", "error.block_date"
		}
		if last.Before(first) {
			return b, "last_day", "error.block_order"
		}
		b.Start, b.End = blockDayRange(first, last, loc)
	default:
		return b, "mode", "error.block_mode"
	}
	return b, "", ""
}

// blockRow is a block as the pages show it.
type blockRow struct {
	ID, When, Kind, Reason, Who string
}

// blockHolidayRow is a proposed holiday as the page shows it.
type blockHolidayRow struct {
	Value, Date, Name string
	Substitute        bool
}

// blockConflictRow is an appointment inside a new block.
type blockConflictRow struct {
	When, Patient, Type string
}

type absencesPage struct {
	*Page
	Practice    *store.Practice
	Zone        string
	Blocks      []blockRow
	Holidays    []blockHolidayRow
	HolidayNote string // why no holiday is proposed
	Country     string
	Form        absenceForm
	Today       string
}

// Open tells whether a mode's form starts unfolded: the one just sent with
// an error, else the time range.
func (p *absencesPage) Open(mode string) bool {
	if _, ok := absenceFields[p.Form.Mode]; ok {
		return p.Form.Mode == mode
	}
	return mode == "range"
}

// ModeError returns a field's error when it belongs to the mode's form.
func (p *absencesPage) ModeError(mode, field string) string {
	if p.Form.Mode != mode {
		return ""
	}
	return p.FieldError(field)
}

// absencesPage builds the absences page: upcoming blocks and the holidays
// of the next twelve months not blocked yet.
func (s *Server) absencesPage(w http.ResponseWriter, r *http.Request, pr *store.Practice) (*absencesPage, error) {
	ctx := r.Context()
	loc := s.location(pr.TimeZone)
	now := s.clock()
	p := &absencesPage{Page: s.newPage(w, r, "blocks.title"), Practice: pr, Zone: loc.String()}
	p.Loc = loc
	today := s.today(pr, now)
	p.Today = today.String()
	blocks, err := s.db.FindBlocks(ctx, pr.ID, now)
	if err != nil {
		return nil, err
	}
	if p.Blocks, err = s.blockRows(ctx, p.Page, blocks); err != nil {
		return nil, err
	}
	country, ok := holidayCountry(pr.Country)
	if !ok {
		p.Country = pr.Country
		p.HolidayNote = p.T("blocks.holidays_unsupported", "Country", pr.Country)
		return p, nil
	}
	p.Country = p.T("blocks.country." + strings.ToLower(country))
	for _, h := range holidaysFor(country, today, holidayYearAfter(today)) {
		from, to := blockDayRange(h.Day, h.Day, loc)
		if blocksCover(blocks, from, to) {
			continue
		}
		p.Holidays = append(p.Holidays, blockHolidayRow{Value: h.Day.String(), Date: p.Date(from), Name: h.Name, Substitute: h.Substitute})
	}
	return p, nil
}

// blockRows formats blocks for a page, in the page's zone.
func (s *Server) blockRows(ctx context.Context, p *Page, blocks []*store.Block) ([]blockRow, error) {
	names := map[string]string{}
	out := make([]blockRow, 0, len(blocks))
	for _, b := range blocks {
		who, ok := names[b.CreatedBy]
		if !ok && b.CreatedBy != "" {
			u, err := s.db.FindUserByID(ctx, b.CreatedBy)
			switch {
			case err == nil:
				who = u.Name
			case !errors.Is(err, store.ErrNotFound):
				return nil, err
			}
			names[b.CreatedBy] = who
		}
		out = append(out, blockRow{ID: b.ID, When: blockSpan(p, b.Start, b.End), Kind: p.T("blocks.kind." + b.Kind), Reason: b.Reason, Who: who})
	}
	return out, nil
}

// blockSpan says when a block runs, in the page's language and zone: whole
// days as dates, a range within one day as a date and two times.
func blockSpan(p *Page, start, end time.Time) string {
	ls, le := start.In(p.Loc), end.In(p.Loc)
	sd, ed := schedule.DayOf(ls), schedule.DayOf(le)
	if ls.Equal(sd.Start(p.Loc)) && le.Equal(ed.Start(p.Loc)) {
		last := ed.AddDays(-1)
		if last == sd {
			return p.Date(start)
		}
		return p.Date(start) + " – " + p.Date(last.Start(p.Loc))
	}
	hm := func(t time.Time) string { return t.Format("15:04") }
	if sd == ed {
		return p.Date(start) + " " + hm(ls) + "–" + hm(le)
	}
	if ed == sd.AddDays(1) && le.Equal(ed.Start(p.Loc)) {
		return p.Date(start) + " " + hm(ls) + "–24:00"
	}
	return p.DateTime(start) + " – " + p.DateTime(end)
}

func (s *Server) handleAbsences(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.absencesPage(w, r, pr)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "absences", p)
}

func (s *Server) handleAbsenceCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := absenceFormFrom(r)
	b, field, msg := f.block(s.location(pr.TimeZone))
	if msg == "" {
		if e := checkBlock(&b, s.clock()); e != nil {
			field, msg = e.Field, e.Message
			if mapped, ok := absenceFields[f.Mode][field]; ok {
				field = mapped
			}
		}
	}
	if msg != "" {
		p, err := s.absencesPage(w, r, pr)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Form = f
		p.fail(field, msg)
		s.render(w, r, http.StatusUnprocessableEntity, "absences", p)
		return
	}
	out, err := s.createBlocks(ctx, r, pr, actorFrom(r).User.ID, []newBlock{b}, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.renderBlockResult(w, r, pr, "blocks.result_title", out)
}

func (s *Server) handleAbsenceDelete(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	flash := "flash.block_deleted"
	if err := s.deleteBlock(r.Context(), r, pr, r.PathValue("block"), actorFrom(r).User.ID); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.error(w, r, err)
			return
		}
		// Sent twice (or the block was removed meanwhile): nothing to do.
		// The practice's own page answers, whatever the id, so nothing
		// about other practices' blocks shows.
		flash = "flash.block_gone"
	}
	setFlash(w, flash)
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(pr.ID)+"/absences", http.StatusSeeOther)
}

// holidayBlocks validates the holiday days a request asks to block (strict
// YYYY-MM-DD, a public holiday of the practice's country, not over) and
// returns their whole-day blocks, each day once.
func (s *Server) holidayBlocks(pr *store.Practice, values []string, now time.Time) ([]newBlock, []holiday, *Error) {
	if len(values) == 0 {
		return nil, nil, blockInvalid("days", "error.block_no_days")
	}
	if len(values) > blockMaxDays {
		return nil, nil, blockInvalid("days", "error.block_too_many_days")
	}
	loc := s.location(pr.TimeZone)
	var blocks []newBlock
	var days []holiday
	seen := map[schedule.Day]bool{}
	for _, v := range values {
		d, err := schedule.ParseDay(strings.TrimSpace(v))
		if err != nil {
			return nil, nil, blockInvalid("days", "error.block_date")
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		h, ok := holidayOn(pr.Country, d)
		if !ok {
			return nil, nil, blockInvalid("days", "error.block_not_holiday")
		}
		from, to := blockDayRange(d, d, loc)
		b := newBlock{Start: from, End: to, Kind: "holiday", Reason: h.Name}
		if r := []rune(b.Reason); len(r) > blockReasonMax {
			b.Reason = string(r[:blockReasonMax])
		}
		if e := checkBlock(&b, now); e != nil {
			e.Field = "days"
			return nil, nil, e
		}
		blocks, days = append(blocks, b), append(days, h)
	}
	return blocks, days, nil
}

func (s *Server) handleHolidaysBlock(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	blocks, days, e := s.holidayBlocks(pr, r.PostForm["days"], s.clock())
	if e != nil {
		p, err := s.absencesPage(w, r, pr)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Form.Mode = "holidays"
		p.fail(e.Field, e.Message)
		s.render(w, r, http.StatusUnprocessableEntity, "absences", p)
		return
	}
	out, err := s.createBlocks(r.Context(), r, pr, actorFrom(r).User.ID, blocks, days)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.renderBlockResult(w, r, pr, "blocks.result_holidays_title", out)
}

type absenceResultPage struct {
	*Page
	Practice     *store.Practice
	Zone         string
	Created      []blockRow
	Skipped      []blockHolidayRow
	Blocked      int
	Conflicts    []blockConflictRow
	NotGenerated bool
}

// renderBlockResult shows what creating blocks did: how many free slots
// became blocked and the appointments inside, which stay booked.
func (s *Server) renderBlockResult(w http.ResponseWriter, r *http.Request, pr *store.Practice, titleID string, out *blockOutcome) {
	loc := s.location(pr.TimeZone)
	p := &absenceResultPage{Page: s.newPage(w, r, titleID), Practice: pr, Zone: loc.String(), Blocked: out.Blocked, NotGenerated: pr.GeneratedAt.IsZero()}
	p.Loc = loc
	var err error
	if p.Created, err = s.blockRows(r.Context(), p.Page, out.Created); err != nil {
		s.error(w, r, err)
		return
	}
	for _, h := range out.Skipped {
		p.Skipped = append(p.Skipped, blockHolidayRow{Value: h.Day.String(), Date: p.Date(h.Day.Start(loc)), Name: h.Name, Substitute: h.Substitute})
	}
	for _, c := range out.Conflicts {
		p.Conflicts = append(p.Conflicts, blockConflictRow{When: blockSpan(p.Page, c.Start, c.End), Patient: c.PatientName, Type: c.TypeName})
	}
	s.render(w, r, http.StatusOK, "absence_result", p)
}

// ---- API ----

// apiBlock is a block in the API (times RFC 3339 in the practice's zone).
type apiBlock struct {
	ID        string `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	CreatedBy string `json:"created_by"`
}

// apiBlockConflict is a booked appointment inside a new block.
type apiBlockConflict struct {
	ID        string `json:"id"`
	Start     string `json:"start"`
	End       string `json:"end"`
	PatientID string `json:"patient_id"`
	TypeID    string `json:"type_id"`
}

func toAPIBlock(b *store.Block, loc *time.Location) apiBlock {
	return apiBlock{ID: b.ID, From: b.Start.In(loc).Format(time.RFC3339), To: b.End.In(loc).Format(time.RFC3339), Kind: b.Kind, Reason: b.Reason, CreatedBy: b.CreatedBy}
}

// apiBlockInput is the body of POST /api/v1/practices/{id}/blocks.
type apiBlockInput struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
	Kind   string `json:"kind"`
}

// decodeBlockJSON reads one JSON object (64 KiB at most) into v.
func decodeBlockJSON(w http.ResponseWriter, r *http.Request, v any) *Error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		return errorf(ECodeBadRequest, "error.block_bad_json")
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return errorf(ECodeBadRequest, "error.block_bad_json")
	}
	return nil
}

// parseBlockInstant parses an RFC 3339 time with its offset.
func parseBlockInstant(v, field string) (time.Time, *Error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, blockInvalid(field, "error.block_instant")
	}
	return t.UTC(), nil
}

func (s *Server) handleAPIBlocks(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	blocks, err := s.db.FindBlocks(r.Context(), pr.ID, s.clock())
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(pr.TimeZone)
	out := make([]apiBlock, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, toAPIBlock(b, loc))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIBlockCreate(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var in apiBlockInput
	if e := decodeBlockJSON(w, r, &in); e != nil {
		s.error(w, r, e)
		return
	}
	b := newBlock{Kind: in.Kind, Reason: in.Reason}
	var e *Error
	if b.Start, e = parseBlockInstant(in.From, "from"); e != nil {
		s.error(w, r, e)
		return
	}
	if b.End, e = parseBlockInstant(in.To, "to"); e != nil {
		s.error(w, r, e)
		return
	}
	if e := checkBlock(&b, s.clock()); e != nil {
		s.error(w, r, e)
		return
	}
	out, err := s.createBlocks(r.Context(), r, pr, actorFrom(r).User.ID, []newBlock{b}, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(pr.TimeZone)
	conflicts := make([]apiBlockConflict, 0, len(out.Conflicts))
	for _, c := range out.Conflicts {
		conflicts = append(conflicts, apiBlockConflict{ID: c.ID, Start: c.Start.In(loc).Format(time.RFC3339), End: c.End.In(loc).Format(time.RFC3339),
			PatientID: c.PatientID, TypeID: c.TypeID})
	}
	writeJSON(w, http.StatusCreated, map[string]any{"block": toAPIBlock(out.Created[0], loc), "blocked": out.Blocked, "conflicts": conflicts})
}

func (s *Server) handleAPIBlockDelete(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.deleteBlock(r.Context(), r, pr, r.PathValue("block"), actorFrom(r).User.ID); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiHoliday is a public holiday and whether the practice has blocked it.
type apiHoliday struct {
	Date       string `json:"date"`
	Name       string `json:"name"`
	Blocked    bool   `json:"blocked"`
	Substitute bool   `json:"substitute"`
}

// handleAPIHolidays answers GET /api/v1/practices/{id}/holidays?year=YYYY
// (default: this year in the practice's zone): the nationwide public
// holidays of the practice's country, an empty list for a country without a
// calendar.
func (s *Server) handleAPIHolidays(w http.ResponseWriter, r *http.Request) {
	pr, err := s.blockPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	year := s.today(pr, now).Y
	if v := r.URL.Query().Get("year"); v != "" {
		y, err := strconv.Atoi(v)
		if err != nil || len(v) != 4 || y < 2000 || y > 2100 {
			s.error(w, r, blockInvalid("year", "error.block_year"))
			return
		}
		year = y
	}
	loc := s.location(pr.TimeZone)
	first := schedule.Day{Y: year, M: time.January, D: 1}
	last := schedule.Day{Y: year, M: time.December, D: 31}
	from, _ := blockDayRange(first, first, loc)
	blocks, err := s.db.FindBlocks(r.Context(), pr.ID, from)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := []apiHoliday{}
	for _, h := range holidaysFor(pr.Country, first, last) {
		a, b := blockDayRange(h.Day, h.Day, loc)
		out = append(out, apiHoliday{Date: h.Day.String(), Name: h.Name, Blocked: blocksCover(blocks, a, b), Substitute: h.Substitute})
	}
	writeJSON(w, http.StatusOK, out)
}
