package store

import (
	"context"
	"time"
)

// What the practice settings pages need beyond store/practices.go: the
// durations of the appointment types (a new slot length must divide them),
// the future bookings of a location (it cannot go while it has some), the
// photo document, and the slot tidying after a slot length change.

// TypeDuration is an active appointment type's name and length.
type TypeDuration struct {
	Name    string
	Minutes int
}

// ActiveTypeDurations returns the practice's appointment types that are not
// archived, by position.
func (db *DB) ActiveTypeDurations(ctx context.Context, practiceID string) ([]TypeDuration, error) {
	return activeTypeDurations(ctx, db.rq, practiceID)
}

// ActiveTypeDurations returns, inside the transaction, the practice's
// appointment types that are not archived, by position.
func (tx *Tx) ActiveTypeDurations(ctx context.Context, practiceID string) ([]TypeDuration, error) {
	return activeTypeDurations(ctx, tx, practiceID)
}

func activeTypeDurations(ctx context.Context, q queryer, practiceID string) ([]TypeDuration, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, minutes FROM appointment_types WHERE practice_id = ? AND archived_at IS NULL
		ORDER BY position, created_at, id`, practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TypeDuration
	for rows.Next() {
		var t TypeDuration
		if err := rows.Scan(&t.Name, &t.Minutes); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CountBookedAt returns how many booked slots the practice has at a
// location starting at or after from.
func (db *DB) CountBookedAt(ctx context.Context, practiceID, locationID string, from time.Time) (int, error) {
	var n int
	err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM slots WHERE practice_id = ? AND location_id = ? AND state = 'booked' AND starts_at >= ?",
		practiceID, locationID, from.Unix()).Scan(&n)
	return n, err
}

// CountBookedAt returns, inside the transaction, how many booked slots the
// practice has at a location starting at or after from.
func (tx *Tx) CountBookedAt(ctx context.Context, practiceID, locationID string, from time.Time) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM slots WHERE practice_id = ? AND location_id = ? AND state = 'booked' AND starts_at >= ?",
		practiceID, locationID, from.Unix()).Scan(&n)
	return n, err
}

// DeleteLocationSlots removes the free and blocked slots of a location
// starting at or after from (the location is going away). Booked slots stay.
// It returns how many went.
func (tx *Tx) DeleteLocationSlots(ctx context.Context, practiceID, locationID string, from time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE practice_id = ? AND location_id = ? AND starts_at >= ? AND state IN ('free', 'blocked')",
		practiceID, locationID, from.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteBlockedSlots removes the practice's blocked slots (those no
// appointment holds) starting at or after from: regenerating the planning
// makes them again, on the new grid, from the blocks that stay.
func (tx *Tx) DeleteBlockedSlots(ctx context.Context, practiceID string, from time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM slots WHERE practice_id = ? AND starts_at >= ? AND state = 'blocked' AND appointment_id IS NULL",
		practiceID, from.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// maxSlotSeconds bounds a slot's length (slot_minutes is at most 240), so an
// overlap search reads a short range of the primary key.
const maxSlotSeconds = 240 * 60

// DeleteSlotsOverlappingBooked removes the free and blocked slots starting
// at or after from that overlap a booked slot of the practice (at any
// location: the practitioner is in one place at a time). After the slot
// length changes, the new grid is laid beside the booked slots of the old
// one, which stay: a new free slot overlapping one would allow a double
// booking. It returns how many went.
func (tx *Tx) DeleteSlotsOverlappingBooked(ctx context.Context, practiceID string, from time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM slots WHERE practice_id = ? AND starts_at >= ? AND state IN ('free', 'blocked')
		AND EXISTS (SELECT 1 FROM slots b WHERE b.practice_id = slots.practice_id AND b.state = 'booked'
			AND b.starts_at >= slots.starts_at - ? AND b.starts_at < slots.ends_at AND b.ends_at > slots.starts_at)`,
		practiceID, from.Unix(), maxSlotSeconds)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteDocument removes a document. Returns ErrNotFound.
func (tx *Tx) DeleteDocument(ctx context.Context, id string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM documents WHERE id = ?", id)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
