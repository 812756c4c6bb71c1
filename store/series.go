package store

import (
	"context"
	"time"
)

// Series is a recurring booking: one type every IntervalWeeks weeks, Count
// times, for one patient, booked by the practice's staff. Its appointments
// carry its id (appointments.series_id).
type Series struct {
	ID            string
	PracticeID    string
	PatientID     string
	TypeID        string
	FirstStart    time.Time
	IntervalWeeks int
	Count         int
	CreatedBy     string
	CreatedAt     time.Time
}

// CreateSeries stores s (its appointments are made separately and tagged
// with SetAppointmentSeries).
func (tx *Tx) CreateSeries(ctx context.Context, s *Series) error {
	if s.ID == "" {
		s.ID = NewID()
	}
	s.CreatedAt = tx.now
	_, err := tx.ExecContext(ctx, `INSERT INTO series (id, practice_id, patient_id, type_id, first_start, interval_weeks, count, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.PracticeID, s.PatientID, s.TypeID, s.FirstStart.Unix(), s.IntervalWeeks, s.Count, s.CreatedBy, tx.now.Unix())
	return formatError(err)
}

// SetAppointmentSeries records that an appointment belongs to a series.
// Returns ErrNotFound when the appointment does not exist.
func (tx *Tx) SetAppointmentSeries(ctx context.Context, appointmentID, seriesID string) error {
	res, err := tx.ExecContext(ctx, "UPDATE appointments SET series_id = ? WHERE id = ?", seriesID, appointmentID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SeriesSummary is a series with how its appointments stand, for the staff.
type SeriesSummary struct {
	Series
	Booked, Cancelled int
	Next              time.Time // the next booked appointment, zero when none is left
}

// FindSeries returns the practice's series, newest first (at most limit).
func (db *DB) FindSeries(ctx context.Context, practiceID string, limit int) ([]*SeriesSummary, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT s.id, s.practice_id, s.patient_id, s.type_id, s.first_start, s.interval_weeks, s.count, s.created_by, s.created_at,
			(SELECT count(*) FROM appointments a WHERE a.series_id = s.id AND a.state = 'booked'),
			(SELECT count(*) FROM appointments a WHERE a.series_id = s.id AND a.state = 'cancelled'),
			COALESCE((SELECT min(a.starts_at) FROM appointments a WHERE a.series_id = s.id AND a.state = 'booked' AND a.starts_at > ?), 0)
		FROM series s WHERE s.practice_id = ? ORDER BY s.created_at DESC, s.id LIMIT ?`, db.Now().Unix(), practiceID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SeriesSummary
	for rows.Next() {
		var s SeriesSummary
		var first, created, next int64
		if err := rows.Scan(&s.ID, &s.PracticeID, &s.PatientID, &s.TypeID, &first, &s.IntervalWeeks, &s.Count, &s.CreatedBy, &created,
			&s.Booked, &s.Cancelled, &next); err != nil {
			return nil, err
		}
		s.FirstStart, s.CreatedAt = time.Unix(first, 0).UTC(), time.Unix(created, 0).UTC()
		if next > 0 {
			s.Next = time.Unix(next, 0).UTC()
		}
		out = append(out, &s)
	}
	return out, rows.Err()
}

// AppointmentSeries returns the series id of an appointment ("" when it is
// not part of one). Returns ErrNotFound.
func (db *DB) AppointmentSeries(ctx context.Context, appointmentID string) (string, error) {
	var id string
	err := db.rq.QueryRowContext(ctx, "SELECT series_id FROM appointments WHERE id = ?", appointmentID).Scan(&id)
	return id, formatError(err)
}

// PatientContact is a patient as the staff pick them from a list.
type PatientContact struct {
	ID, Name, Email string
}

// PracticePatients returns the patients who had an appointment with the
// practice, most recent first (at most limit): the staff's list to choose
// from when booking a series.
func (db *DB) PracticePatients(ctx context.Context, practiceID string, limit int) ([]PatientContact, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT u.id, u.name, u.email FROM users u JOIN (
			SELECT patient_id, max(starts_at) AS last FROM appointments WHERE practice_id = ? GROUP BY patient_id) a ON a.patient_id = u.id
		ORDER BY a.last DESC LIMIT ?`, practiceID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PatientContact
	for rows.Next() {
		var c PatientContact
		if err := rows.Scan(&c.ID, &c.Name, &c.Email); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
