package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Booking request states (assisted scheduling).
const (
	RequestOpen      = "open"      // waiting for the practice to propose a time
	RequestProposed  = "proposed"  // a time was proposed; the patient confirms or declines
	RequestBooked    = "booked"    // the patient confirmed: AppointmentID is the booking
	RequestDeclined  = "declined"  // the patient or the practice declined
	RequestCancelled = "cancelled" // the patient withdrew it
)

// BookingRequest is a patient's request for a time (assisted scheduling):
// free-text preferences the practice answers with a proposed slot.
// Preferences are encrypted at rest.
type BookingRequest struct {
	ID            string
	PracticeID    string
	PatientID     string
	TypeID        string // "" until the patient or the practice chooses one
	Preferences   string
	State         string
	ProposedSlot  string // slot id of the proposed start
	AppointmentID string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

const requestColumns = "id, practice_id, patient_id, type_id, preferences, state, proposed_slot, appointment_id, created_at, updated_at"

func (db *DB) scanRequests(rows *sql.Rows) ([]*BookingRequest, error) {
	defer rows.Close()
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	var out []*BookingRequest
	for rows.Next() {
		var r BookingRequest
		var blob []byte
		var c, u int64
		if err := rows.Scan(&r.ID, &r.PracticeID, &r.PatientID, &r.TypeID, &blob, &r.State, &r.ProposedSlot, &r.AppointmentID, &c, &u); err != nil {
			return nil, err
		}
		plain, err := s.open(blob, "booking_requests:"+r.ID)
		if err != nil {
			return nil, err
		}
		r.Preferences, r.CreatedAt, r.UpdatedAt = string(plain), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

// CreateBookingRequest inserts r (the caller validated it) in state open,
// its preferences encrypted, setting its ID and times.
func (tx *Tx) CreateBookingRequest(ctx context.Context, r *BookingRequest) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	r.ID, r.State, r.ProposedSlot, r.AppointmentID, r.CreatedAt, r.UpdatedAt = NewID(), RequestOpen, "", "", tx.now, tx.now
	_, err = tx.ExecContext(ctx, "INSERT INTO booking_requests ("+requestColumns+") VALUES (?, ?, ?, ?, ?, ?, '', '', ?, ?)",
		r.ID, r.PracticeID, r.PatientID, r.TypeID, s.seal([]byte(r.Preferences), "booking_requests:"+r.ID), r.State, tx.now.Unix(), tx.now.Unix())
	return formatError(err)
}

// FindBookingRequestByID returns the request, or ErrNotFound.
func (db *DB) FindBookingRequestByID(ctx context.Context, id string) (*BookingRequest, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+requestColumns+" FROM booking_requests WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	list, err := db.scanRequests(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// CountActiveBookingRequests returns how many of the patient's requests to
// the practice are still open or proposed, in the transaction.
func (tx *Tx) CountActiveBookingRequests(ctx context.Context, practiceID, patientID string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM booking_requests WHERE practice_id = ? AND patient_id = ? AND state IN (?, ?)",
		practiceID, patientID, RequestOpen, RequestProposed).Scan(&n)
	return n, err
}

// BookingRequestFilter selects requests; empty fields mean any.
type BookingRequestFilter struct {
	PracticeID string
	PatientID  string
	States     []string
}

// FindBookingRequests returns the requests matching f, oldest first (the
// order the practice answers them in).
func (db *DB) FindBookingRequests(ctx context.Context, f BookingRequestFilter) ([]*BookingRequest, error) {
	where, args := []string{"1=1"}, []any{}
	if f.PracticeID != "" {
		where, args = append(where, "practice_id = ?"), append(args, f.PracticeID)
	}
	if f.PatientID != "" {
		where, args = append(where, "patient_id = ?"), append(args, f.PatientID)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(",?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	rows, err := db.rq.QueryContext(ctx, "SELECT "+requestColumns+" FROM booking_requests WHERE "+strings.Join(where, " AND ")+
		" ORDER BY created_at, rowid", args...)
	if err != nil {
		return nil, err
	}
	return db.scanRequests(rows)
}

// BookingRequestChange is a state change of a request: it applies only if
// the request is still in state From. Empty TypeID keeps the type.
type BookingRequestChange struct {
	From, To      string
	TypeID        string
	ProposedSlot  string
	AppointmentID string
}

// ChangeBookingRequest moves request id from c.From to c.To, setting the
// proposed slot and appointment as given. Returns ErrConflict when it is no
// longer in state c.From (a concurrent change won), ErrNotFound when it does
// not exist.
func (tx *Tx) ChangeBookingRequest(ctx context.Context, id string, c BookingRequestChange) error {
	res, err := tx.ExecContext(ctx, `UPDATE booking_requests SET state = ?, type_id = CASE WHEN ? <> '' THEN ? ELSE type_id END,
		proposed_slot = ?, appointment_id = ?, updated_at = ? WHERE id = ? AND state = ?`,
		c.To, c.TypeID, c.TypeID, c.ProposedSlot, c.AppointmentID, tx.now.Unix(), id, c.From)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM booking_requests WHERE id = ?", id).Scan(&x); err != nil {
			return formatError(err)
		}
		return ErrConflict
	}
	return nil
}
