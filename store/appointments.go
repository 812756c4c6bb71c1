package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Appointment states and payment states (DESIGN §3).
const (
	AppointmentBooked    = "booked"
	AppointmentCancelled = "cancelled"
	AppointmentAttended  = "attended"
	AppointmentNoShow    = "no_show"
)

// Appointment is a patient's booking in a practice. Reason is encrypted at rest.
type Appointment struct {
	ID           string
	PracticeID   string
	PatientID    string
	TypeID       string
	LocationID   string
	Start, End   time.Time
	Reason       string
	Phone        string
	State        string
	PaymentState string
	Source       string
	Sequence     int
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// IdempotencyKey, when set, makes a repeated submission find the first
	// booking instead of making a second (unique per patient).
	IdempotencyKey string
}

// CreateAppointment inserts a (its slots are claimed separately with BookSlots).
func (tx *Tx) CreateAppointment(ctx context.Context, a *Appointment) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	if a.ID == "" {
		a.ID = NewID()
	}
	if a.State == "" {
		a.State = AppointmentBooked
	}
	if a.PaymentState == "" {
		a.PaymentState = "none"
	}
	if a.Source == "" {
		a.Source = "online"
	}
	a.CreatedAt, a.UpdatedAt = tx.now, tx.now
	_, err = tx.ExecContext(ctx, `INSERT INTO appointments (id, practice_id, patient_id, type_id, location_id, starts_at, ends_at, reason, phone,
		state, payment_state, source, sequence, created_at, updated_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.PracticeID, a.PatientID, a.TypeID, a.LocationID, a.Start.Unix(), a.End.Unix(), s.seal([]byte(a.Reason), "appointments.reason:"+a.ID),
		a.Phone, a.State, a.PaymentState, a.Source, a.Sequence, tx.now.Unix(), tx.now.Unix(), a.IdempotencyKey)
	return formatError(err)
}

const appointmentColumns = `id, practice_id, patient_id, type_id, location_id, starts_at, ends_at, reason, phone, state, payment_state,
	source, sequence, created_at, updated_at`

func (db *DB) scanAppointments(rows *sql.Rows) ([]*Appointment, error) {
	defer rows.Close()
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	var out []*Appointment
	for rows.Next() {
		var a Appointment
		var st, en, c, u int64
		var reason []byte
		if err := rows.Scan(&a.ID, &a.PracticeID, &a.PatientID, &a.TypeID, &a.LocationID, &st, &en, &reason, &a.Phone, &a.State,
			&a.PaymentState, &a.Source, &a.Sequence, &c, &u); err != nil {
			return nil, err
		}
		if len(reason) > 0 {
			p, err := s.open(reason, "appointments.reason:"+a.ID)
			if err != nil {
				return nil, err
			}
			a.Reason = string(p)
		}
		a.Start, a.End, a.CreatedAt, a.UpdatedAt = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC(), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
		out = append(out, &a)
	}
	return out, rows.Err()
}

// FindAppointmentByID returns the appointment, or ErrNotFound.
func (db *DB) FindAppointmentByID(ctx context.Context, id string) (*Appointment, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+appointmentColumns+" FROM appointments WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	list, err := db.scanAppointments(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// AppointmentFilter selects appointments.
type AppointmentFilter struct {
	PracticeID string
	PatientID  string
	States     []string // nil: any
	From, To   time.Time
	IDs        []string
}

// FindAppointments returns appointments matching f, by start.
func (db *DB) FindAppointments(ctx context.Context, f AppointmentFilter) ([]*Appointment, error) {
	where, args := []string{"1=1"}, []any{}
	if f.PracticeID != "" {
		where, args = append(where, "practice_id = ?"), append(args, f.PracticeID)
	}
	if f.PatientID != "" {
		where, args = append(where, "patient_id = ?"), append(args, f.PatientID)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(",?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		where = append(where, "id IN (?"+strings.Repeat(",?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if !f.From.IsZero() {
		where, args = append(where, "ends_at > ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		where, args = append(where, "starts_at < ?"), append(args, f.To.Unix())
	}
	rows, err := db.rq.QueryContext(ctx, "SELECT "+appointmentColumns+" FROM appointments WHERE "+strings.Join(where, " AND ")+" ORDER BY starts_at, id", args...)
	if err != nil {
		return nil, err
	}
	return db.scanAppointments(rows)
}
