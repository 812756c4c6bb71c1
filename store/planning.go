package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// HoursVersion is one version of a practice's weekly hours (JSON spec, see
// the practice_hours table) applying from a local day on.
type HoursVersion struct {
	ValidFrom string // YYYY-MM-DD
	Spec      string
	CreatedAt time.Time
}

// SaveHours stores the hours applying from validFrom, replacing a version
// of the same day.
func (tx *Tx) SaveHours(ctx context.Context, practiceID, validFrom, spec string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO practice_hours (practice_id, valid_from, spec, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (practice_id, valid_from) DO UPDATE SET spec = excluded.spec, created_at = excluded.created_at`,
		practiceID, validFrom, spec, tx.now.Unix())
	return formatError(err)
}

// HoursVersions returns the practice's hours versions, oldest first.
func (db *DB) HoursVersions(ctx context.Context, practiceID string) ([]HoursVersion, error) {
	return hoursVersions(ctx, db.rq, practiceID)
}

// HoursVersions returns the practice's hours versions inside the transaction.
func (tx *Tx) HoursVersions(ctx context.Context, practiceID string) ([]HoursVersion, error) {
	return hoursVersions(ctx, tx, practiceID)
}

func hoursVersions(ctx context.Context, q queryer, practiceID string) ([]HoursVersion, error) {
	rows, err := q.QueryContext(ctx, "SELECT valid_from, spec, created_at FROM practice_hours WHERE practice_id = ? ORDER BY valid_from", practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HoursVersion
	for rows.Next() {
		var h HoursVersion
		var c int64
		if err := rows.Scan(&h.ValidFrom, &h.Spec, &c); err != nil {
			return nil, err
		}
		h.CreatedAt = time.Unix(c, 0).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// Location is a place other than the main office where the practitioner
// receives (hospital, clinic).
type Location struct {
	ID, PracticeID, Name, Kind, Address, PostalCode, City string
	Position                                              int
	CreatedAt                                             time.Time
}

// SaveLocation creates (empty ID) or updates a location of its practice.
// Returns ErrNotFound when updating another practice's location.
func (tx *Tx) SaveLocation(ctx context.Context, l *Location) error {
	if l.ID == "" {
		l.ID, l.CreatedAt = NewID(), tx.now
		_, err := tx.ExecContext(ctx, `INSERT INTO practice_locations (id, practice_id, name, kind, address, postal_code, city, position, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, l.ID, l.PracticeID, l.Name, l.Kind, l.Address, l.PostalCode, l.City, l.Position, tx.now.Unix())
		return formatError(err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE practice_locations SET name = ?, kind = ?, address = ?, postal_code = ?, city = ?, position = ?
		WHERE id = ? AND practice_id = ?`, l.Name, l.Kind, l.Address, l.PostalCode, l.City, l.Position, l.ID, l.PracticeID)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteLocation removes a location of the practice. Returns ErrNotFound.
func (tx *Tx) DeleteLocation(ctx context.Context, practiceID, id string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM practice_locations WHERE id = ? AND practice_id = ?", id, practiceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Locations returns the practice's extra locations, in order.
func (db *DB) Locations(ctx context.Context, practiceID string) ([]*Location, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT id, practice_id, name, kind, address, postal_code, city, position, created_at
		FROM practice_locations WHERE practice_id = ? ORDER BY position, created_at`, practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Location
	for rows.Next() {
		var l Location
		var c int64
		if err := rows.Scan(&l.ID, &l.PracticeID, &l.Name, &l.Kind, &l.Address, &l.PostalCode, &l.City, &l.Position, &c); err != nil {
			return nil, err
		}
		l.CreatedAt = time.Unix(c, 0).UTC()
		out = append(out, &l)
	}
	return out, rows.Err()
}

// Slot states.
const (
	SlotFree    = "free"
	SlotBooked  = "booked"
	SlotBlocked = "blocked"
)

// Slot is one cell of the rolling planning.
type Slot struct {
	ID            string
	PracticeID    string
	Start, End    time.Time
	LocationID    string
	Day           string
	State         string
	AppointmentID string
	BlockID       string
}

// InsertSlots adds free slots to the planning in the caller's transaction,
// many rows per prepared statement (the initial generation writes
// thousands). A slot that already exists (same practice, start and
// location) is left as it is, so generating a day twice adds nothing. It
// returns how many were added.
func (tx *Tx) InsertSlots(ctx context.Context, practiceID string, slots []Slot) (int, error) {
	const batch = 500 // 7 parameters each: well under SQLite's limit
	added := 0
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for i := 0; i < len(slots); i += batch {
		part := slots[i:min(i+batch, len(slots))]
		args := make([]any, 0, len(part)*7)
		for _, s := range part {
			args = append(args, practiceID, s.Start.Unix(), s.LocationID, s.End.Unix(), s.Day, slotID(s.Start))
		}
		var res sql.Result
		var err error
		if len(part) == batch {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertSlotsSQL(batch)); err != nil {
					return added, err
				}
			}
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertSlotsSQL(len(part)), args...)
		}
		if err != nil {
			return added, formatError(err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	return added, nil
}

func insertSlotsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO slots (practice_id, starts_at, location_id, ends_at, day, state, id) VALUES ")
	for j := 0; j < n; j++ {
		if j > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,'free',?)")
	}
	sb.WriteString(" ON CONFLICT DO NOTHING")
	return sb.String()
}

// slotID makes a slot's public id: 4 bytes of its start (in minutes) then
// 8 random bytes, in lower-case base32 (20 characters). Opaque and not
// guessable, yet ordered by time, so the thousands of ids one generation
// inserts land on neighbouring pages of the id index instead of dirtying a
// random page each (measured: 180 ms → 24 ms for 5,000 slots next to 1 M).
func slotID(start time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(start.Unix()/60))
	if _, err := rand.Read(b[4:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// SlotCellsQuery is the read behind FindSlotCells: one range of the slots
// table's clustered primary key (TestSlotsQueryPlan checks its plan).
const SlotCellsQuery = `SELECT id, starts_at, ends_at, location_id, state = 'free' FROM slots
	WHERE practice_id = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at, location_id`

// SlotCell is the lean form of a slot the free-start search reads.
type SlotCell struct {
	ID         string
	Start, End int64
	LocationID string
	Free       bool
}

// FindSlotCells returns the practice's slots starting in [from, to) with
// only what the free-start search needs: the hot read of the booking pages.
func (db *DB) FindSlotCells(ctx context.Context, practiceID string, from, to time.Time) ([]SlotCell, error) {
	rows, err := db.rq.QueryContext(ctx, SlotCellsQuery, practiceID, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]SlotCell, 0, 256)
	for rows.Next() {
		var c SlotCell
		if err := rows.Scan(&c.ID, &c.Start, &c.End, &c.LocationID, &c.Free); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const slotColumns = "id, practice_id, starts_at, ends_at, location_id, day, state, COALESCE(appointment_id, ''), COALESCE(block_id, '')"

func scanSlots(rows *sql.Rows) ([]Slot, error) {
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var s Slot
		var st, en int64
		if err := rows.Scan(&s.ID, &s.PracticeID, &st, &en, &s.LocationID, &s.Day, &s.State, &s.AppointmentID, &s.BlockID); err != nil {
			return nil, err
		}
		s.Start, s.End = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// FindSlots returns the practice's slots starting in [from, to), by start.
func (db *DB) FindSlots(ctx context.Context, practiceID string, from, to time.Time) ([]Slot, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+slotColumns+" FROM slots WHERE practice_id = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at, location_id",
		practiceID, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	return scanSlots(rows)
}

// FindSlots returns the practice's slots starting in [from, to) inside the transaction.
func (tx *Tx) FindSlots(ctx context.Context, practiceID string, from, to time.Time) ([]Slot, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+slotColumns+" FROM slots WHERE practice_id = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at, location_id",
		practiceID, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	return scanSlots(rows)
}

// FindSlotByID returns one slot, or ErrNotFound.
func (db *DB) FindSlotByID(ctx context.Context, id string) (*Slot, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+slotColumns+" FROM slots WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	list, err := scanSlots(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// CountSlots returns the practice's slots per state.
func (db *DB) CountSlots(ctx context.Context, practiceID string) (map[string]int, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT state, count(*) FROM slots WHERE practice_id = ? GROUP BY state", practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// DeleteFreeSlots removes the practice's free slots starting at or after
// from (hours changed: they are generated again). Booked and blocked slots
// stay. It returns how many went.
func (tx *Tx) DeleteFreeSlots(ctx context.Context, practiceID string, from time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE practice_id = ? AND starts_at >= ? AND state = 'free'", practiceID, from.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// TrimSlots removes the practice's free and blocked slots that ended before
// before: the planning keeps history_days of past slots. Booked slots (and
// the appointments themselves) stay. It returns how many went.
func (tx *Tx) TrimSlots(ctx context.Context, practiceID string, before time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE practice_id = ? AND starts_at < ? AND ends_at <= ? AND state IN ('free', 'blocked')",
		practiceID, before.Unix(), before.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// SetPlanned records how far the practice's planning reaches and, with
// initial true, that the one-time initial generation happened. With initial
// true it returns ErrConflict when the generation already happened.
func (tx *Tx) SetPlanned(ctx context.Context, practiceID, until string, initial bool) error {
	q := "UPDATE practices SET planned_until = ?, updated_at = ? WHERE id = ?"
	if initial {
		q = "UPDATE practices SET planned_until = ?, updated_at = ?, generated_at = " + strconv.FormatInt(tx.now.Unix(), 10) + " WHERE id = ? AND generated_at IS NULL"
	}
	res, err := tx.ExecContext(ctx, q, until, tx.now.Unix(), practiceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.FindPracticeByID(ctx, practiceID); err != nil {
			return err
		}
		return ErrConflict
	}
	return nil
}

// GeneratedPractices returns the practices whose planning exists (initial
// generation done): the ones the nightly roll extends.
func (db *DB) GeneratedPractices(ctx context.Context) ([]*Practice, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE generated_at IS NOT NULL ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Practice
	for rows.Next() {
		p, err := scanPractice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// BookSlots marks slots of the practice booked by an appointment, all or
// none: it returns ErrConflict unless every one was free. This is the claim
// of DESIGN §4: the check and the flip are one statement in one write
// transaction.
func (tx *Tx) BookSlots(ctx context.Context, practiceID, appointmentID string, slotIDs []string) error {
	if len(slotIDs) == 0 {
		return ErrConflict
	}
	args := []any{appointmentID, practiceID}
	for _, id := range slotIDs {
		args = append(args, id)
	}
	res, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked', appointment_id = ? WHERE +practice_id = ? AND state = 'free' AND id IN (?"+
		strings.Repeat(",?", len(slotIDs)-1)+")", args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); int(n) != len(slotIDs) {
		return ErrConflict // the transaction is rolled back by the caller
	}
	return nil
}

// ReleaseSlots frees the slots an appointment held (cancelled or moved).
func (tx *Tx) ReleaseSlots(ctx context.Context, appointmentID string) (int, error) {
	res, err := tx.ExecContext(ctx, "UPDATE slots SET state = CASE WHEN block_id IS NULL THEN 'free' ELSE 'blocked' END, appointment_id = NULL WHERE appointment_id = ?", appointmentID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Block is an absence, a holiday or another blocked range of a practice.
type Block struct {
	ID, PracticeID string
	Start, End     time.Time
	Kind, Reason   string
	CreatedBy      string
	CreatedAt      time.Time
}

// CreateBlock stores b and blocks the free slots in its range; booked slots
// stay booked (the caller lists them as conflicts). It returns how many slots
// it blocked.
func (tx *Tx) CreateBlock(ctx context.Context, b *Block) (int, error) {
	if b.ID == "" {
		b.ID = NewID()
	}
	if b.Kind == "" {
		b.Kind = "absence"
	}
	b.CreatedAt = tx.now
	if _, err := tx.ExecContext(ctx, "INSERT INTO blocks (id, practice_id, starts_at, ends_at, kind, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		b.ID, b.PracticeID, b.Start.Unix(), b.End.Unix(), b.Kind, b.Reason, b.CreatedBy, tx.now.Unix()); err != nil {
		return 0, formatError(err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE slots SET state = 'blocked', block_id = ? WHERE practice_id = ? AND state = 'free'
		AND starts_at < ? AND ends_at > ?`, b.ID, b.PracticeID, b.End.Unix(), b.Start.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	// Booked slots inside remember the block, so they become blocked (not
	// free) if their appointment is cancelled.
	if _, err := tx.ExecContext(ctx, `UPDATE slots SET block_id = ? WHERE practice_id = ? AND state = 'booked' AND block_id IS NULL
		AND starts_at < ? AND ends_at > ?`, b.ID, b.PracticeID, b.End.Unix(), b.Start.Unix()); err != nil {
		return 0, err
	}
	return int(n), nil
}

// BlockNewSlots blocks freshly generated free slots that fall in an existing
// block (generation and the nightly roll call it for the days they add).
func (tx *Tx) BlockNewSlots(ctx context.Context, practiceID string, from, to time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE slots SET state = 'blocked', block_id = (
			SELECT b.id FROM blocks b WHERE b.practice_id = slots.practice_id AND b.starts_at < slots.ends_at AND b.ends_at > slots.starts_at LIMIT 1)
		WHERE practice_id = ? AND state = 'free' AND starts_at >= ? AND starts_at < ? AND EXISTS (
			SELECT 1 FROM blocks b WHERE b.practice_id = slots.practice_id AND b.starts_at < slots.ends_at AND b.ends_at > slots.starts_at)`,
		practiceID, from.Unix(), to.Unix())
	return err
}

// DeleteBlock removes a block of the practice and frees its slots (booked
// ones stay booked). Returns ErrNotFound.
func (tx *Tx) DeleteBlock(ctx context.Context, practiceID, id string) error {
	var from, to int64
	err := tx.QueryRowContext(ctx, "SELECT starts_at, ends_at FROM blocks WHERE id = ? AND practice_id = ?", id, practiceID).Scan(&from, &to)
	if err != nil {
		return formatError(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM blocks WHERE id = ?", id); err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, "UPDATE slots SET state = CASE WHEN state = 'blocked' THEN 'free' ELSE state END, block_id = NULL WHERE block_id = ?", id); err != nil {
		return err
	}
	// Slots another, overlapping block still covers stay blocked by it.
	_, err = tx.ReapplyBlocks(ctx, practiceID, time.Unix(from, 0), time.Unix(to, 0))
	return err
}

// FindBlocks returns the practice's blocks ending after from, by start.
func (db *DB) FindBlocks(ctx context.Context, practiceID string, from time.Time) ([]*Block, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT id, practice_id, starts_at, ends_at, kind, reason, created_by, created_at FROM blocks WHERE practice_id = ? AND ends_at > ? ORDER BY starts_at",
		practiceID, from.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Block
	for rows.Next() {
		var b Block
		var s, e, c int64
		if err := rows.Scan(&b.ID, &b.PracticeID, &s, &e, &b.Kind, &b.Reason, &b.CreatedBy, &c); err != nil {
			return nil, err
		}
		b.Start, b.End, b.CreatedAt = time.Unix(s, 0).UTC(), time.Unix(e, 0).UTC(), time.Unix(c, 0).UTC()
		out = append(out, &b)
	}
	return out, rows.Err()
}

// PlanningRun records what a generation or nightly roll did.
type PlanningRun struct {
	ID, Kind, PracticeID, State, Detail string
	StartedAt, FinishedAt               time.Time
	Practices, Days, Added, Removed     int
	Progress                            int
}

// StartRun records the start of a run.
func (db *DB) StartRun(ctx context.Context, r *PlanningRun) error {
	r.ID, r.StartedAt, r.State = NewID(), db.Now(), "running"
	_, err := db.write.ExecContext(ctx, "INSERT INTO planning_runs (id, kind, practice_id, started_at, state) VALUES (?, ?, ?, ?, ?)",
		r.ID, r.Kind, r.PracticeID, r.StartedAt.Unix(), r.State)
	return err
}

// UpdateRun records a run's progress or, with a final state, its end.
func (db *DB) UpdateRun(ctx context.Context, r *PlanningRun) error {
	var fin any
	if r.State != "running" {
		r.FinishedAt = db.Now()
		fin = r.FinishedAt.Unix()
	}
	_, err := db.write.ExecContext(ctx, `UPDATE planning_runs SET state = ?, finished_at = ?, practices = ?, days = ?, added = ?, removed = ?,
		progress = ?, detail = ? WHERE id = ?`, r.State, fin, r.Practices, r.Days, r.Added, r.Removed, r.Progress, r.Detail, r.ID)
	return err
}

// FailInterruptedRuns marks runs still "running" as failed: at start-up no
// run can be in progress, so those were cut off by a stop or a crash.
func (db *DB) FailInterruptedRuns(ctx context.Context) (int, error) {
	res, err := db.write.ExecContext(ctx, "UPDATE planning_runs SET state = 'failed', finished_at = ?, detail = 'interrupted' WHERE state = 'running'", db.Now().Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// FindRuns returns runs, newest first; practiceID "" for all.
func (db *DB) FindRuns(ctx context.Context, practiceID string, limit int) ([]*PlanningRun, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.rq.QueryContext(ctx, `SELECT id, kind, practice_id, state, detail, started_at, finished_at, practices, days, added, removed, progress
		FROM planning_runs WHERE (? = '' OR practice_id = ?) ORDER BY started_at DESC, rowid DESC LIMIT ?`, practiceID, practiceID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*PlanningRun
	for rows.Next() {
		var r PlanningRun
		var s int64
		var f sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Kind, &r.PracticeID, &r.State, &r.Detail, &s, &f, &r.Practices, &r.Days, &r.Added, &r.Removed, &r.Progress); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = time.Unix(s, 0).UTC(), fromUnix(f)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// FindRunByID returns one run, or ErrNotFound.
func (db *DB) FindRunByID(ctx context.Context, id string) (*PlanningRun, error) {
	var r PlanningRun
	var st int64
	var f sql.NullInt64
	err := db.rq.QueryRowContext(ctx, `SELECT id, kind, practice_id, state, detail, started_at, finished_at, practices, days, added, removed, progress
		FROM planning_runs WHERE id = ?`, id).Scan(&r.ID, &r.Kind, &r.PracticeID, &r.State, &r.Detail, &st, &f, &r.Practices, &r.Days, &r.Added, &r.Removed, &r.Progress)
	if err != nil {
		return nil, formatError(err)
	}
	r.StartedAt, r.FinishedAt = time.Unix(st, 0).UTC(), fromUnix(f)
	return &r, nil
}
