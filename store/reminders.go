package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Reminder states.
const (
	ReminderPending = "pending"
	ReminderSent    = "sent"
	ReminderSkipped = "skipped" // the appointment was no longer booked at that time, or a later reminder superseded it
)

// PracticeNotices are a practice's notice settings. A practice that never
// saved them has the zero value: installation reminders, no SMS.
type PracticeNotices struct {
	PracticeID string
	Reminders  []time.Duration // nil: the installation's [reminders] before
	SMSEnabled bool
	UpdatedAt  time.Time
}

func scanNotices(row *sql.Row, practiceID string) (*PracticeNotices, error) {
	n := &PracticeNotices{PracticeID: practiceID}
	var list string
	var sms int
	var up int64
	err := row.Scan(&list, &sms, &up)
	if err == sql.ErrNoRows {
		return n, nil
	}
	if err != nil {
		return nil, err
	}
	n.SMSEnabled, n.UpdatedAt = sms != 0, time.Unix(up, 0).UTC()
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		n.Reminders = append(n.Reminders, d)
	}
	if list != "" && n.Reminders == nil {
		n.Reminders = []time.Duration{} // explicitly none
	}
	return n, nil
}

const noticesQuery = "SELECT reminders, sms_enabled, updated_at FROM practice_notices WHERE practice_id = ?"

// FindPracticeNotices returns the notice settings of a practice (the zero
// value when it never saved any).
func (db *DB) FindPracticeNotices(ctx context.Context, practiceID string) (*PracticeNotices, error) {
	return scanNotices(db.rq.QueryRowContext(ctx, noticesQuery, practiceID), practiceID)
}

// FindPracticeNotices is FindPracticeNotices inside tx.
func (tx *Tx) FindPracticeNotices(ctx context.Context, practiceID string) (*PracticeNotices, error) {
	return scanNotices(tx.QueryRowContext(ctx, noticesQuery, practiceID), practiceID)
}

// SavePracticeNotices writes n. Reminders nil means the installation
// default; an empty non-nil list means no reminder at all ("none" is stored).
func (tx *Tx) SavePracticeNotices(ctx context.Context, n *PracticeNotices) error {
	list := ""
	if n.Reminders != nil {
		parts := make([]string, 0, len(n.Reminders))
		for _, d := range n.Reminders {
			parts = append(parts, d.String())
		}
		list = strings.Join(parts, ",")
		if list == "" {
			list = "," // explicitly none: parses to an empty list
		}
	}
	sms := 0
	if n.SMSEnabled {
		sms = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO practice_notices (practice_id, reminders, sms_enabled, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (practice_id) DO UPDATE SET reminders = excluded.reminders, sms_enabled = excluded.sms_enabled, updated_at = excluded.updated_at`,
		n.PracticeID, list, sms, tx.now.Unix())
	return formatError(err)
}

// Reminder is one reminder to send before an appointment.
type Reminder struct {
	ID            string
	AppointmentID string
	Offset        time.Duration
	TargetStart   time.Time // the start it was scheduled for
	SendAt        time.Time
	State         string
	DoneAt        time.Time
	// Superseded (DueReminders only): a later reminder of the same
	// appointment is due too, as after a downtime; only the latest is sent.
	Superseded bool
}

const reminderColumns = "id, appointment_id, offset_seconds, target_start, send_at, state, done_at"

func scanReminders(rows *sql.Rows) ([]*Reminder, error) {
	defer rows.Close()
	var out []*Reminder
	for rows.Next() {
		var r Reminder
		var off, target, send int64
		var done sql.NullInt64
		if err := rows.Scan(&r.ID, &r.AppointmentID, &off, &target, &send, &r.State, &done); err != nil {
			return nil, err
		}
		r.Offset, r.TargetStart, r.SendAt, r.DoneAt = time.Duration(off)*time.Second, time.Unix(target, 0).UTC(), time.Unix(send, 0).UTC(), fromUnix(done)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// ScheduleReminders replaces the pending reminders of an appointment by one
// per offset before start. Offsets whose time has already passed are not
// scheduled: the confirmation has just told the patient. fresh says the
// appointment was just created (no reminder to replace: one statement less
// on the booking path).
func (tx *Tx) ScheduleReminders(ctx context.Context, appointmentID string, start time.Time, offsets []time.Duration, fresh bool) error {
	if !fresh {
		if err := tx.DropReminders(ctx, appointmentID); err != nil {
			return err
		}
	}
	var q strings.Builder
	var args []any
	for _, off := range offsets {
		at := start.Add(-off)
		if !at.After(tx.now) {
			continue
		}
		if q.Len() == 0 {
			q.WriteString("INSERT INTO reminders (" + reminderColumns + ") VALUES ")
		} else {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, 'pending', NULL)")
		args = append(args, NewID(), appointmentID, int64(off/time.Second), start.Unix(), at.Unix())
	}
	if q.Len() == 0 {
		return nil
	}
	// A sent reminder for the same start and offset (moved away and back)
	// becomes pending again: it is for a new promise to the patient.
	q.WriteString(" ON CONFLICT (appointment_id, target_start, offset_seconds) DO UPDATE SET state = 'pending', send_at = excluded.send_at, done_at = NULL")
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return formatError(err)
}

// DropReminders deletes the pending reminders of an appointment (cancelled,
// no-show, or about to be re-scheduled). Sent ones stay as history.
func (tx *Tx) DropReminders(ctx context.Context, appointmentID string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM reminders WHERE appointment_id = ? AND state = 'pending'", appointmentID)
	return err
}

// DueReminders returns up to limit pending reminders whose time has come
// (or came while the server was down), oldest first, each marked
// Superseded when a later pending reminder of the same appointment is due
// as well.
func (tx *Tx) DueReminders(ctx context.Context, limit int) ([]*Reminder, error) {
	now := tx.now.Unix()
	rows, err := tx.QueryContext(ctx, `SELECT `+reminderColumns+`, EXISTS (SELECT 1 FROM reminders l WHERE l.appointment_id = r.appointment_id
		AND l.state = 'pending' AND l.send_at <= ? AND (l.send_at > r.send_at OR (l.send_at = r.send_at AND l.id > r.id)))
		FROM reminders r WHERE state = 'pending' AND send_at <= ? ORDER BY send_at, id LIMIT ?`, now, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Reminder
	for rows.Next() {
		var r Reminder
		var off, target, send int64
		var done sql.NullInt64
		if err := rows.Scan(&r.ID, &r.AppointmentID, &off, &target, &send, &r.State, &done, &r.Superseded); err != nil {
			return nil, err
		}
		r.Offset, r.TargetStart, r.SendAt, r.DoneAt = time.Duration(off)*time.Second, time.Unix(target, 0).UTC(), time.Unix(send, 0).UTC(), fromUnix(done)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// FinishReminder moves a pending reminder to state (sent or skipped).
// Returns ErrConflict when it is no longer pending.
func (tx *Tx) FinishReminder(ctx context.Context, id, state string) error {
	res, err := tx.ExecContext(ctx, "UPDATE reminders SET state = ?, done_at = ? WHERE id = ? AND state = 'pending'", state, tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// FindReminders returns the reminders of an appointment, soonest first.
func (db *DB) FindReminders(ctx context.Context, appointmentID string) ([]*Reminder, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+reminderColumns+" FROM reminders WHERE appointment_id = ? ORDER BY send_at, id", appointmentID)
	if err != nil {
		return nil, err
	}
	return scanReminders(rows)
}

// FindAppointmentByID returns the appointment as tx sees it, or ErrNotFound.
func (tx *Tx) FindAppointmentByID(ctx context.Context, id string) (*Appointment, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+appointmentColumns+" FROM appointments WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	list, err := tx.db.scanAppointments(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// AppointmentSequence returns the calendar SEQUENCE of an appointment as tx
// sees it (bumped by every move and state change), or ErrNotFound.
func (tx *Tx) AppointmentSequence(ctx context.Context, id string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT sequence FROM appointments WHERE id = ?", id).Scan(&n)
	return n, formatError(err)
}
