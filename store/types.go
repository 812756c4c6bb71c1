package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AppointmentType is one of a practice's visit reasons (the seed's "motifs"):
// how long it lasts, what it costs and who may book it. Removed types are
// archived, not deleted: past appointments keep pointing at them.
type AppointmentType struct {
	ID               string
	PracticeID       string
	Name             string
	Minutes          int
	Price            int64  // minor units of Currency
	FirstPrice       *int64 // price of a first visit, if different; nil for none
	Currency         string // ISO 4217
	Teleconsultation bool
	BufferAfter      int  // minutes kept free after the visit
	NewPatients      bool // bookable by new patients (false: existing patients only)
	Position         int  // 1, 2, 3… among the practice's active types
	ArchivedAt       time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Archived tells whether the type was removed.
func (t *AppointmentType) Archived() bool { return !t.ArchivedAt.IsZero() }

const typeColumns = `id, practice_id, name, minutes, price_amount, first_price_amount, currency, teleconsultation,
	buffer_after_minutes, new_patients, position, archived_at, created_at, updated_at`

func scanType(row interface{ Scan(...any) error }) (*AppointmentType, error) {
	var t AppointmentType
	var first, archived sql.NullInt64
	var c, u int64
	if err := row.Scan(&t.ID, &t.PracticeID, &t.Name, &t.Minutes, &t.Price, &first, &t.Currency, &t.Teleconsultation,
		&t.BufferAfter, &t.NewPatients, &t.Position, &archived, &c, &u); err != nil {
		return nil, formatError(err)
	}
	if first.Valid {
		v := first.Int64
		t.FirstPrice = &v
	}
	t.ArchivedAt, t.CreatedAt, t.UpdatedAt = fromUnix(archived), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
	return &t, nil
}

func nullPrice(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// typeNameTaken tells whether another active type of the practice has the
// same name, compared case-insensitively (Unicode simple folding, so "É" and
// "é" match, which SQLite's lower() would miss).
func typeNameTaken(ctx context.Context, q queryer, practiceID, name, exceptID string) (bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, name FROM appointment_types WHERE practice_id = ? AND archived_at IS NULL", practiceID)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n string
		if err := rows.Scan(&id, &n); err != nil {
			return false, err
		}
		if id != exceptID && strings.EqualFold(strings.TrimSpace(n), strings.TrimSpace(name)) {
			return true, nil
		}
	}
	return false, rows.Err()
}

// errTypeNameTaken is returned (wrapped in ErrConflict) when a name is in use.
var errTypeNameTaken = errors.New("appointment type name already in use")

// CreateType adds t (the caller validated it) at the end of its practice's
// list, setting its ID, position and timestamps. Returns ErrConflict when
// another active type of the practice has the same name (case-insensitive).
func (tx *Tx) CreateType(ctx context.Context, t *AppointmentType) error {
	taken, err := typeNameTaken(ctx, tx, t.PracticeID, t.Name, "")
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("%w: %w", ErrConflict, errTypeNameTaken)
	}
	var last int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM appointment_types WHERE practice_id = ? AND archived_at IS NULL",
		t.PracticeID).Scan(&last); err != nil {
		return err
	}
	if t.Currency == "" {
		t.Currency = "EUR"
	}
	t.ID, t.Position, t.CreatedAt, t.UpdatedAt, t.ArchivedAt = NewID(), last+1, tx.now, tx.now, time.Time{}
	_, err = tx.ExecContext(ctx, "INSERT INTO appointment_types ("+typeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
		t.ID, t.PracticeID, t.Name, t.Minutes, t.Price, nullPrice(t.FirstPrice), t.Currency, t.Teleconsultation,
		t.BufferAfter, t.NewPatients, t.Position, tx.now.Unix(), tx.now.Unix())
	return formatError(err)
}

// UpdateType saves the editable fields of t (name, duration, prices,
// currency, flags, buffer) over the active type t.ID of t.PracticeID; the
// position and dates are kept and t is refreshed from the stored row.
// Returns ErrNotFound when no active type has that id in that practice, and
// ErrConflict when another active type has the same name.
func (tx *Tx) UpdateType(ctx context.Context, t *AppointmentType) error {
	cur, err := scanType(tx.QueryRowContext(ctx, "SELECT "+typeColumns+" FROM appointment_types WHERE id = ? AND practice_id = ?", t.ID, t.PracticeID))
	if err != nil {
		return err
	}
	if cur.Archived() {
		return ErrNotFound
	}
	taken, err := typeNameTaken(ctx, tx, t.PracticeID, t.Name, t.ID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("%w: %w", ErrConflict, errTypeNameTaken)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE appointment_types SET name = ?, minutes = ?, price_amount = ?, first_price_amount = ?,
		currency = ?, teleconsultation = ?, buffer_after_minutes = ?, new_patients = ?, updated_at = ? WHERE id = ?`,
		t.Name, t.Minutes, t.Price, nullPrice(t.FirstPrice), t.Currency, t.Teleconsultation, t.BufferAfter, t.NewPatients,
		tx.now.Unix(), t.ID); err != nil {
		return formatError(err)
	}
	t.Position, t.CreatedAt, t.UpdatedAt, t.ArchivedAt = cur.Position, cur.CreatedAt, tx.now, time.Time{}
	return nil
}

// ArchiveType removes a type of the practice from its list and from booking;
// the row stays for the appointments that use it, and the remaining types
// keep contiguous positions. Archiving an archived type changes nothing.
// Returns ErrNotFound when the practice has no such type.
func (tx *Tx) ArchiveType(ctx context.Context, practiceID, id string) error {
	t, err := scanType(tx.QueryRowContext(ctx, "SELECT "+typeColumns+" FROM appointment_types WHERE id = ? AND practice_id = ?", id, practiceID))
	if err != nil {
		return err
	}
	if t.Archived() {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE appointment_types SET archived_at = ?, updated_at = ? WHERE id = ?", tx.now.Unix(), tx.now.Unix(), id); err != nil {
		return err
	}
	list, err := findTypes(ctx, tx, practiceID, false)
	if err != nil {
		return err
	}
	return tx.renumberTypes(ctx, list)
}

// MoveType moves an active type of the practice delta places in its list
// (-1: up one, swapping with the type above; 1: down one). A move past
// either end stops there. Positions stay 1, 2, 3… It reports whether the
// type moved. Returns ErrNotFound when the practice has no such active type.
func (tx *Tx) MoveType(ctx context.Context, practiceID, id string, delta int) (bool, error) {
	list, err := findTypes(ctx, tx, practiceID, false)
	if err != nil {
		return false, err
	}
	from := -1
	for i, t := range list {
		if t.ID == id {
			from = i
		}
	}
	if from < 0 {
		return false, ErrNotFound
	}
	to := min(max(from+delta, 0), len(list)-1)
	moved := list[from]
	list = append(list[:from], list[from+1:]...)
	list = append(list[:to], append([]*AppointmentType{moved}, list[to:]...)...)
	return to != from, tx.renumberTypes(ctx, list)
}

// renumberTypes stores positions 1..n for list, in its order, touching only
// the rows whose position changes.
func (tx *Tx) renumberTypes(ctx context.Context, list []*AppointmentType) error {
	for i, t := range list {
		if t.Position == i+1 {
			continue
		}
		if _, err := tx.ExecContext(ctx, "UPDATE appointment_types SET position = ?, updated_at = ? WHERE id = ?", i+1, tx.now.Unix(), t.ID); err != nil {
			return err
		}
		t.Position = i + 1
	}
	return nil
}

// FindTypes returns the practice's active types in list order, followed,
// when includeArchived is set, by its archived types (newest removal first).
func (db *DB) FindTypes(ctx context.Context, practiceID string, includeArchived bool) ([]*AppointmentType, error) {
	return findTypes(ctx, db.rq, practiceID, includeArchived)
}

// FindTypes is FindTypes inside the transaction.
func (tx *Tx) FindTypes(ctx context.Context, practiceID string, includeArchived bool) ([]*AppointmentType, error) {
	return findTypes(ctx, tx, practiceID, includeArchived)
}

func findTypes(ctx context.Context, q queryer, practiceID string, includeArchived bool) ([]*AppointmentType, error) {
	query := "SELECT " + typeColumns + " FROM appointment_types WHERE practice_id = ?"
	if !includeArchived {
		query += " AND archived_at IS NULL"
	}
	query += " ORDER BY archived_at IS NOT NULL, archived_at DESC, position, created_at, id"
	rows, err := q.QueryContext(ctx, query, practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AppointmentType
	for rows.Next() {
		t, err := scanType(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// FindTypeByID returns a type, archived or not (past appointments point at
// archived ones); callers check PracticeID and Archived. Returns ErrNotFound.
func (db *DB) FindTypeByID(ctx context.Context, id string) (*AppointmentType, error) {
	epoch := db.targetEpoch.Load()
	if t := db.targets.typ(id, epoch); t != nil {
		return t, nil
	}
	t, err := scanType(db.rq.QueryRowContext(ctx, "SELECT "+typeColumns+" FROM appointment_types WHERE id = ?", id))
	if err == nil {
		db.targets.put(nil, t, epoch)
	}
	return t, err
}

// FindTypeByID is FindTypeByID inside the transaction.
func (tx *Tx) FindTypeByID(ctx context.Context, id string) (*AppointmentType, error) {
	return scanType(tx.QueryRowContext(ctx, "SELECT "+typeColumns+" FROM appointment_types WHERE id = ?", id))
}
