package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"
)

// Visit is what happened in a teleconsultation's video room.
type Visit struct {
	AppointmentID   string
	AdmittedAt      time.Time // zero until staff admits the patient
	PatientJoinedAt time.Time
	StaffJoinedAt   time.Time
	CreatedAt       time.Time
}

// VisitLinkMAC returns the secret of an appointment's visit link: an
// HMAC-SHA256 of the appointment id under a key derived from the at-rest
// key. Nothing of it is stored, so the database alone yields no link.
// Returns ErrNoKey when the store was opened without the key.
func (db *DB) VisitLinkMAC(appointmentID string) ([]byte, error) {
	if len(db.linkKey) == 0 {
		return nil, ErrNoKey
	}
	m := hmac.New(sha256.New, db.linkKey)
	m.Write([]byte("visit-link:" + appointmentID))
	return m.Sum(nil), nil
}

// deriveLinkKey derives the visit-link key from the at-rest key, so the
// link secret and the encryption never share a key.
func deriveLinkKey(key []byte) []byte {
	if len(key) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("daraport visit link key v1"))
	return m.Sum(nil)
}

// FindVisit returns the visit record of an appointment. Returns ErrNotFound
// when nobody has opened its room yet.
func (db *DB) FindVisit(ctx context.Context, appointmentID string) (*Visit, error) {
	var v Visit
	var admitted, patient, staff sql.NullInt64
	var created int64
	err := db.rq.QueryRowContext(ctx, `SELECT appointment_id, admitted_at, patient_joined_at, staff_joined_at, created_at
		FROM visits WHERE appointment_id = ?`, appointmentID).Scan(&v.AppointmentID, &admitted, &patient, &staff, &created)
	if err != nil {
		return nil, formatError(err)
	}
	v.AdmittedAt, v.PatientJoinedAt, v.StaffJoinedAt = unixOrZero(admitted), unixOrZero(patient), unixOrZero(staff)
	v.CreatedAt = time.Unix(created, 0).UTC()
	return &v, nil
}

func unixOrZero(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Int64, 0).UTC()
}

// VisitJoined records the first time a party ("staff" or "patient") opened
// the room; later joins keep the first time.
func (tx *Tx) VisitJoined(ctx context.Context, appointmentID, role string) error {
	col := "patient_joined_at"
	switch role {
	case "staff":
		col = "staff_joined_at"
	case "patient":
	default:
		return errors.New("store: unknown visit role")
	}
	now := tx.now.Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO visits (appointment_id, `+col+`, created_at) VALUES (?, ?, ?)
		ON CONFLICT (appointment_id) DO UPDATE SET `+col+` = COALESCE(`+col+`, excluded.`+col+`)`, appointmentID, now, now)
	return formatError(err)
}

// AdmitVisit records that staff let the patient in (the first time counts).
func (tx *Tx) AdmitVisit(ctx context.Context, appointmentID string) error {
	now := tx.now.Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO visits (appointment_id, admitted_at, created_at) VALUES (?, ?, ?)
		ON CONFLICT (appointment_id) DO UPDATE SET admitted_at = COALESCE(admitted_at, excluded.admitted_at)`, appointmentID, now, now)
	return formatError(err)
}
