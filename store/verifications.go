package store

import (
	"context"
	"database/sql"
	"time"
)

// Verification states.
const (
	VerificationPending  = "pending"
	VerificationApproved = "approved"
	VerificationRejected = "rejected"
)

// Verification is a practitioner's request to be verified with a proof of profession.
type Verification struct {
	ID         string
	UserID     string
	PracticeID string
	DocumentID string
	Profession string
	RPPS       string
	State      string
	Note       string
	DecidedBy  string
	DecidedAt  time.Time
	CreatedAt  time.Time
}

const verificationColumns = "id, user_id, practice_id, COALESCE(document_id, ''), profession, rpps, state, note, decided_by, decided_at, created_at"

func scanVerification(row interface{ Scan(...any) error }) (*Verification, error) {
	var v Verification
	var d sql.NullInt64
	var c int64
	if err := row.Scan(&v.ID, &v.UserID, &v.PracticeID, &v.DocumentID, &v.Profession, &v.RPPS, &v.State, &v.Note, &v.DecidedBy, &d, &c); err != nil {
		return nil, formatError(err)
	}
	v.DecidedAt, v.CreatedAt = fromUnix(d), time.Unix(c, 0).UTC()
	return &v, nil
}

// CreateVerification inserts v as pending.
func (tx *Tx) CreateVerification(ctx context.Context, v *Verification) error {
	if v.ID == "" {
		v.ID = NewID()
	}
	v.State, v.CreatedAt = VerificationPending, tx.now
	var doc any
	if v.DocumentID != "" {
		doc = v.DocumentID
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO verifications (id, user_id, practice_id, document_id, profession, rpps, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		v.ID, v.UserID, v.PracticeID, doc, v.Profession, v.RPPS, v.State, tx.now.Unix())
	return formatError(err)
}

// FindVerificationByID returns the verification, or ErrNotFound.
func (db *DB) FindVerificationByID(ctx context.Context, id string) (*Verification, error) {
	return scanVerification(db.rq.QueryRowContext(ctx, "SELECT "+verificationColumns+" FROM verifications WHERE id = ?", id))
}

// FindVerifications returns verifications in state ("" for all), oldest first;
// with userID set, only that user's.
func (db *DB) FindVerifications(ctx context.Context, state, userID string) ([]*Verification, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+verificationColumns+" FROM verifications WHERE (? = '' OR state = ?) AND (? = '' OR user_id = ?) ORDER BY created_at, id",
		state, state, userID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Verification
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// DecideVerification approves or rejects a pending verification. Returns
// ErrNotFound, or ErrConflict if it was already decided.
func (tx *Tx) DecideVerification(ctx context.Context, id, state, note, by string) error {
	res, err := tx.ExecContext(ctx, "UPDATE verifications SET state = ?, note = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
		state, note, by, tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM verifications WHERE id = ?", id).Scan(&x); err != nil {
			return formatError(err)
		}
		return ErrConflict
	}
	return nil
}
