package store

import (
	"context"
	"strings"
)

// OnAllowlist tells whether the practice registered that patient e-mail.
func (tx *Tx) OnAllowlist(ctx context.Context, practiceID, email string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM allowlist WHERE practice_id = ? AND email = ?", practiceID, strings.TrimSpace(email)).Scan(&n)
	return n > 0, err
}

// AddToAllowlist registers patient e-mails for a practice; known ones are
// kept. It returns how many were new.
func (tx *Tx) AddToAllowlist(ctx context.Context, practiceID, by string, emails ...string) (int, error) {
	added := 0
	for _, e := range emails {
		res, err := tx.ExecContext(ctx, "INSERT INTO allowlist (practice_id, email, added_by, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			practiceID, strings.TrimSpace(e), by, tx.now.Unix())
		if err != nil {
			return added, formatError(err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	return added, nil
}

// Banned tells whether the practice banned the patient.
func (tx *Tx) Banned(ctx context.Context, practiceID, patientID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM bans WHERE practice_id = ? AND patient_id = ?", practiceID, patientID).Scan(&n)
	return n > 0, err
}

// Ban bans a patient from a practice (again: the reason is updated).
func (tx *Tx) Ban(ctx context.Context, practiceID, patientID, reason, by string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO bans (practice_id, patient_id, reason, banned_by, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (practice_id, patient_id) DO UPDATE SET reason = excluded.reason, banned_by = excluded.banned_by`,
		practiceID, patientID, reason, by, tx.now.Unix())
	return formatError(err)
}

// CountFutureAppointments returns the patient's booked appointments with the
// practice that have not started yet.
func (tx *Tx) CountFutureAppointments(ctx context.Context, practiceID, patientID string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM appointments WHERE practice_id = ? AND patient_id = ? AND state = 'booked' AND starts_at > ?",
		practiceID, patientID, tx.now.Unix()).Scan(&n)
	return n, err
}

// KnownPatient tells whether the patient already had an appointment with the
// practice (attended, or booked in the past): "existing patients only" types
// are for them.
func (tx *Tx) KnownPatient(ctx context.Context, practiceID, patientID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM appointments WHERE practice_id = ? AND patient_id = ?
		AND (state = 'attended' OR (state IN ('booked', 'no_show') AND starts_at < ?))`, practiceID, patientID, tx.now.Unix()).Scan(&n)
	return n > 0, err
}

// FindAppointmentByKey returns the patient's appointment made with that
// idempotency key, or ErrNotFound.
func (tx *Tx) FindAppointmentByKey(ctx context.Context, patientID, key string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, "SELECT id FROM appointments WHERE patient_id = ? AND idempotency_key = ?", patientID, key).Scan(&id)
	return id, formatError(err)
}

// SlotRun returns the n slots of the practice that follow one another from
// the slot firstID at one location (each starting where the previous ends),
// or ErrNotFound when there are not n such slots. States are returned as
// they are: the claim (BookSlots) checks they are free.
func (tx *Tx) SlotRun(ctx context.Context, practiceID, firstID string, n int) ([]Slot, error) {
	// One query: the run starts at the first slot's start, at its location.
	rows, err := tx.QueryContext(ctx, `SELECT s.id, s.practice_id, s.starts_at, s.ends_at, s.location_id, s.day, s.state,
		COALESCE(s.appointment_id, ''), COALESCE(s.block_id, '') FROM slots f JOIN slots s
		ON s.practice_id = f.practice_id AND s.location_id = f.location_id AND s.starts_at >= f.starts_at
		WHERE f.id = ? AND f.practice_id = ? ORDER BY s.starts_at LIMIT ?`, firstID, practiceID, n)
	if err != nil {
		return nil, err
	}
	run, err := scanSlots(rows)
	if err != nil {
		return nil, err
	}
	if len(run) < n || run[0].ID != firstID {
		return nil, ErrNotFound
	}
	for i := 1; i < n; i++ {
		if !run[i].Start.Equal(run[i-1].End) {
			return nil, ErrNotFound
		}
	}
	return run, nil
}

// SetAppointmentState moves an appointment from one state to another and
// bumps its calendar sequence. Returns ErrConflict when it is no longer in
// state from (a concurrent change won), ErrNotFound when it does not exist.
func (tx *Tx) SetAppointmentState(ctx context.Context, id, from, to string) error {
	res, err := tx.ExecContext(ctx, "UPDATE appointments SET state = ?, sequence = sequence + 1, updated_at = ? WHERE id = ? AND state = ?",
		to, tx.now.Unix(), id, from)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM appointments WHERE id = ?", id).Scan(&x); err != nil {
			return formatError(err)
		}
		return ErrConflict
	}
	return nil
}

// MoveAppointment gives a booked appointment new times (same id, sequence
// bumped). Returns ErrConflict unless it is still booked.
func (tx *Tx) MoveAppointment(ctx context.Context, id, locationID string, start, end int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE appointments SET starts_at = ?, ends_at = ?, location_id = ?, sequence = sequence + 1, updated_at = ?
		WHERE id = ? AND state = 'booked'`, start, end, locationID, tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}
