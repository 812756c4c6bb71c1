package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Intake kinds: what an intake question asks for.
const (
	IntakeShort    = "short"    // one line of text
	IntakeLong     = "long"     // a paragraph
	IntakeSingle   = "single"   // one of the options
	IntakeMultiple = "multiple" // any of the options
	IntakeYesNo    = "yesno"    // yes or no
	IntakeDate     = "date"     // a calendar date, YYYY-MM-DD
)

// IntakeQuestion is one question a practitioner attaches to an appointment
// type; the patient answers it while booking. Removed questions are
// archived: answers already given keep their own copy of the label.
type IntakeQuestion struct {
	ID         string
	TypeID     string
	Label      string
	Kind       string
	Options    []string // for single and multiple choice
	Required   bool
	Position   int // 1, 2, 3… among the type's active questions
	ArchivedAt time.Time
	CreatedAt  time.Time
}

const intakeColumns = "id, type_id, label, kind, options, required, position, archived_at, created_at"

func scanIntakeQuestions(rows *sql.Rows) ([]*IntakeQuestion, error) {
	defer rows.Close()
	var out []*IntakeQuestion
	for rows.Next() {
		var q IntakeQuestion
		var opts string
		var archived sql.NullInt64
		var c int64
		if err := rows.Scan(&q.ID, &q.TypeID, &q.Label, &q.Kind, &opts, &q.Required, &q.Position, &archived, &c); err != nil {
			return nil, err
		}
		q.Options = []string{}
		if err := json.Unmarshal([]byte(opts), &q.Options); err != nil {
			return nil, fmt.Errorf("store: intake question %s: damaged options: %w", q.ID, err)
		}
		q.ArchivedAt, q.CreatedAt = fromUnix(archived), time.Unix(c, 0).UTC()
		out = append(out, &q)
	}
	return out, rows.Err()
}

func findIntakeQuestions(ctx context.Context, q queryer, typeID string) ([]*IntakeQuestion, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+intakeColumns+" FROM intake_questions WHERE type_id = ? AND archived_at IS NULL ORDER BY position, created_at", typeID)
	if err != nil {
		return nil, err
	}
	return scanIntakeQuestions(rows)
}

// FindIntakeQuestions returns the active questions of an appointment type,
// in order (none: an empty list).
func (db *DB) FindIntakeQuestions(ctx context.Context, typeID string) ([]*IntakeQuestion, error) {
	return findIntakeQuestions(ctx, db.rq, typeID)
}

// FindIntakeQuestions returns the active questions of an appointment type
// inside the transaction.
func (tx *Tx) FindIntakeQuestions(ctx context.Context, typeID string) ([]*IntakeQuestion, error) {
	return findIntakeQuestions(ctx, tx, typeID)
}

// CreateIntakeQuestion adds q (the caller validated it) at the end of its
// type's list, setting its ID, position and creation time.
func (tx *Tx) CreateIntakeQuestion(ctx context.Context, q *IntakeQuestion) error {
	var last int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM intake_questions WHERE type_id = ? AND archived_at IS NULL",
		q.TypeID).Scan(&last); err != nil {
		return err
	}
	q.ID, q.Position, q.CreatedAt, q.ArchivedAt = NewID(), last+1, tx.now, time.Time{}
	_, err := tx.ExecContext(ctx, "INSERT INTO intake_questions ("+intakeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
		q.ID, q.TypeID, q.Label, q.Kind, jsonList(q.Options), q.Required, q.Position, tx.now.Unix())
	return formatError(err)
}

// UpdateIntakeQuestion saves the label, kind, options and required flag of
// the active question q.ID of type q.TypeID. Returns ErrNotFound.
func (tx *Tx) UpdateIntakeQuestion(ctx context.Context, q *IntakeQuestion) error {
	res, err := tx.ExecContext(ctx, "UPDATE intake_questions SET label = ?, kind = ?, options = ?, required = ? WHERE id = ? AND type_id = ? AND archived_at IS NULL",
		q.Label, q.Kind, jsonList(q.Options), q.Required, q.ID, q.TypeID)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ArchiveIntakeQuestion removes the active question id of the type and
// closes the gap in the positions. Returns ErrNotFound.
func (tx *Tx) ArchiveIntakeQuestion(ctx context.Context, typeID, id string) error {
	var pos int
	err := tx.QueryRowContext(ctx, "SELECT position FROM intake_questions WHERE id = ? AND type_id = ? AND archived_at IS NULL", id, typeID).Scan(&pos)
	if err != nil {
		return formatError(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE intake_questions SET archived_at = ?, position = 0 WHERE id = ?", tx.now.Unix(), id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE intake_questions SET position = position - 1 WHERE type_id = ? AND archived_at IS NULL AND position > ?", typeID, pos)
	return err
}

// MoveIntakeQuestion swaps the active question id with its neighbour above
// (delta -1) or below (delta 1). It returns false when there is no such
// neighbour (first or last already), ErrNotFound for an unknown question.
func (tx *Tx) MoveIntakeQuestion(ctx context.Context, typeID, id string, delta int) (bool, error) {
	var pos int
	err := tx.QueryRowContext(ctx, "SELECT position FROM intake_questions WHERE id = ? AND type_id = ? AND archived_at IS NULL", id, typeID).Scan(&pos)
	if err != nil {
		return false, formatError(err)
	}
	var other string
	err = tx.QueryRowContext(ctx, "SELECT id FROM intake_questions WHERE type_id = ? AND archived_at IS NULL AND position = ?", typeID, pos+delta).Scan(&other)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE intake_questions SET position = ? WHERE id = ?", pos+delta, id); err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, "UPDATE intake_questions SET position = ? WHERE id = ?", pos, other)
	return err == nil, err
}

// SaveIntakeAnswers stores the answers document of an appointment (JSON the
// caller built), encrypted and bound to the appointment; a second call
// replaces it.
func (tx *Tx) SaveIntakeAnswers(ctx context.Context, appointmentID string, doc []byte) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO intake_answers (appointment_id, answers, created_at) VALUES (?, ?, ?)
		ON CONFLICT (appointment_id) DO UPDATE SET answers = excluded.answers`,
		appointmentID, s.seal(doc, "intake_answers:"+appointmentID), tx.now.Unix())
	return formatError(err)
}

// FindIntakeAnswers returns the decrypted answers document of an
// appointment, or ErrNotFound when the patient gave none.
func (db *DB) FindIntakeAnswers(ctx context.Context, appointmentID string) ([]byte, error) {
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	var blob []byte
	if err := db.rq.QueryRowContext(ctx, "SELECT answers FROM intake_answers WHERE appointment_id = ?", appointmentID).Scan(&blob); err != nil {
		return nil, formatError(err)
	}
	return s.open(blob, "intake_answers:"+appointmentID)
}

// IntakeAppointmentType returns the type of an appointment inside the
// transaction (the type whose questions its answers follow). Returns
// ErrNotFound.
func (tx *Tx) IntakeAppointmentType(ctx context.Context, appointmentID string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, "SELECT type_id FROM appointments WHERE id = ?", appointmentID).Scan(&id)
	return id, formatError(err)
}
