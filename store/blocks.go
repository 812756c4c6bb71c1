package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Blocks beyond CreateBlock, DeleteBlock, FindBlocks and BlockNewSlots
// (planning.go): one block by id, the blocks over a range inside a write
// transaction, putting overlapping blocks back on slots after a deletion,
// and the appointments a block leaves in place with the names the staff
// needs to handle them.

const blockColumns = "id, practice_id, starts_at, ends_at, kind, reason, created_by, created_at"

func scanBlockRows(rows *sql.Rows) ([]*Block, error) {
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

// FindBlockByID returns the practice's block with that id inside the
// transaction. Returns ErrNotFound when there is none (or it belongs to
// another practice).
func (tx *Tx) FindBlockByID(ctx context.Context, practiceID, id string) (*Block, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+blockColumns+" FROM blocks WHERE id = ? AND practice_id = ?", id, practiceID)
	if err != nil {
		return nil, err
	}
	list, err := scanBlockRows(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// BlocksOverlapping returns the practice's blocks that overlap [from, to),
// by start, inside the transaction (so a check and the insert that depends
// on it see the same data).
func (tx *Tx) BlocksOverlapping(ctx context.Context, practiceID string, from, to time.Time) ([]*Block, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+blockColumns+" FROM blocks WHERE practice_id = ? AND starts_at < ? AND ends_at > ? ORDER BY starts_at, id",
		practiceID, to.Unix(), from.Unix())
	if err != nil {
		return nil, err
	}
	return scanBlockRows(rows)
}

// ReapplyBlocks puts the practice's remaining blocks back on the slots that
// start in [from, to): free slots inside a block become blocked again, and
// booked slots inside a block remember it (so cancelling their appointment
// leaves them blocked). DeleteBlock frees every slot of the deleted block,
// even those another, overlapping block still covers; calling this over the
// deleted block's range afterwards repairs them. It returns how many free
// slots became blocked.
func (tx *Tx) ReapplyBlocks(ctx context.Context, practiceID string, from, to time.Time) (int, error) {
	const covering = `(SELECT b.id FROM blocks b WHERE b.practice_id = slots.practice_id AND b.starts_at < slots.ends_at AND b.ends_at > slots.starts_at
		ORDER BY b.starts_at, b.id LIMIT 1)`
	res, err := tx.ExecContext(ctx, `UPDATE slots SET state = 'blocked', block_id = `+covering+`
		WHERE practice_id = ? AND state = 'free' AND starts_at >= ? AND starts_at < ? AND `+covering+` IS NOT NULL`,
		practiceID, from.Unix(), to.Unix())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE slots SET block_id = `+covering+`
		WHERE practice_id = ? AND state = 'booked' AND block_id IS NULL AND starts_at >= ? AND starts_at < ? AND `+covering+` IS NOT NULL`,
		practiceID, from.Unix(), to.Unix()); err != nil {
		return 0, err
	}
	return int(n), nil
}

// BlockConflict is a booked appointment inside a block, with the names the
// staff reads to handle it.
type BlockConflict struct {
	*Appointment
	PatientName string
	TypeName    string
}

// FindBlockConflicts returns the practice's booked appointments that
// overlap [from, to), by start, with the patient's and the type's names.
func (db *DB) FindBlockConflicts(ctx context.Context, practiceID string, from, to time.Time) ([]*BlockConflict, error) {
	list, err := db.FindAppointments(ctx, AppointmentFilter{PracticeID: practiceID, States: []string{AppointmentBooked}, From: from, To: to})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	patients, types := map[string]string{}, map[string]string{}
	for _, a := range list {
		patients[a.PatientID], types[a.TypeID] = "", ""
	}
	if err := db.blockConflictNames(ctx, "SELECT id, name FROM users WHERE id IN ", patients); err != nil {
		return nil, err
	}
	if err := db.blockConflictNames(ctx, "SELECT id, name FROM appointment_types WHERE id IN ", types); err != nil {
		return nil, err
	}
	out := make([]*BlockConflict, len(list))
	for i, a := range list {
		out[i] = &BlockConflict{Appointment: a, PatientName: patients[a.PatientID], TypeName: types[a.TypeID]}
	}
	return out, nil
}

// blockConflictNames fills into[id] with the name column of the rows whose id is a key.
func (db *DB) blockConflictNames(ctx context.Context, query string, into map[string]string) error {
	args := make([]any, 0, len(into))
	for id := range into {
		args = append(args, id)
	}
	rows, err := db.rq.QueryContext(ctx, query+"(?"+strings.Repeat(",?", len(args)-1)+")", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		into[id] = name
	}
	return rows.Err()
}
