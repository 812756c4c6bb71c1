package store

import (
	"context"
	"database/sql"
)

// TypeSpan is what the free-slot query needs of an appointment type: how
// long it lasts and the buffer after it.
type TypeSpan struct {
	ID, PracticeID       string
	Minutes, BufferAfter int
	Archived             bool
}

// FindTypeSpan returns the duration and buffer of an appointment type of the
// practice. Returns ErrNotFound when the type does not exist or belongs to
// another practice (an archived type is returned with Archived set).
func (db *DB) FindTypeSpan(ctx context.Context, practiceID, id string) (*TypeSpan, error) {
	var t TypeSpan
	var archived sql.NullInt64
	err := db.rq.QueryRowContext(ctx, `SELECT id, practice_id, minutes, buffer_after_minutes, archived_at
		FROM appointment_types WHERE id = ? AND practice_id = ?`, id, practiceID).Scan(&t.ID, &t.PracticeID, &t.Minutes, &t.BufferAfter, &archived)
	if err != nil {
		return nil, formatError(err)
	}
	t.Archived = archived.Valid
	return &t, nil
}
