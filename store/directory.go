package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// The public directory: the folded search columns of practice_search (see
// migrations/0004_directory.sql), the search itself, and what its results
// need (the practices' active types, the first free slot).

// SearchKeys are the search columns of one practice. The caller folds the
// texts (lower case, accents removed); the store only compares.
type SearchKeys struct {
	PracticeID       string
	Verified         bool
	Teleconsultation bool // an active teleconsultation type exists
	Name             string
	Specialties      string // '|' between specialties
	City             string
	PostalCode       string // without spaces
	Languages        string // "|fr|en|"
}

// SaveSearchKeys writes (or replaces) a practice's search columns and
// takes it off the list of practices to re-index.
func (tx *Tx) SaveSearchKeys(ctx context.Context, k SearchKeys) error {
	// The row is keyed by name: replace it whole.
	if _, err := tx.ExecContext(ctx, "DELETE FROM practice_search WHERE practice_id = ?", k.PracticeID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO practice_search (name_key, practice_id, verified, teleconsultation,
		specialties_key, city_key, postal_key, languages_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.Name, k.PracticeID, k.Verified, k.Teleconsultation, k.Specialties, k.City, k.PostalCode, k.Languages)
	if err != nil {
		return formatError(err)
	}
	return tx.ClearSearchDirty(ctx, k.PracticeID)
}

// ClearSearchDirty takes a practice off the list of practices to re-index.
func (tx *Tx) ClearSearchDirty(ctx context.Context, practiceID string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM practice_search_dirty WHERE practice_id = ?", practiceID)
	return err
}

// SearchDirty tells whether some practice's search columns must be
// rebuilt: triggers list the practices (and the practices of types) that
// were created or changed.
func (db *DB) SearchDirty(ctx context.Context) (bool, error) {
	var dirty bool
	err := db.rq.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM practice_search_dirty)").Scan(&dirty)
	return dirty, err
}

// SearchDirtyPractices returns the ids of the practices whose search
// columns must be rebuilt.
func (tx *Tx) SearchDirtyPractices(ctx context.Context) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT practice_id FROM practice_search_dirty")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// HasTeleconsultation tells whether the practice has an active
// teleconsultation type.
func (tx *Tx) HasTeleconsultation(ctx context.Context, practiceID string) (bool, error) {
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM appointment_types WHERE practice_id = ?
		AND teleconsultation = 1 AND archived_at IS NULL)`, practiceID).Scan(&ok)
	return ok, err
}

// DirectoryFilter selects verified practices. Words are folded like the
// search columns; every word must occur in its column (a partial match).
type DirectoryFilter struct {
	Name      []string // words of the name
	Specialty []string // words found among the specialties
	City      []string // words of the city
	// PostalPrefix matches postal codes that start with it (folded, no
	// spaces); "" for any.
	PostalPrefix string
	// Teleconsultation keeps practices offering an active teleconsultation type.
	Teleconsultation bool
	// Language keeps practices speaking that ISO 639-1 language; "" for any.
	Language string
	Limit    int // 0: every match
	Offset   int
}

// DirectoryEntry is one result of SearchDirectory.
type DirectoryEntry struct {
	*Practice
	// Teleconsultation tells whether the practice offers an active
	// teleconsultation type.
	Teleconsultation bool
}

// SearchDirectory returns one page of the verified practices matching f, in
// the order of their folded names, and how many match in all. The match
// reads only the narrow search table; the page's practices are then read
// by id.
func (db *DB) SearchDirectory(ctx context.Context, f DirectoryFilter) ([]DirectoryEntry, int, error) {
	where := []string{"verified = 1"}
	var args []any
	words := func(column string, ws []string) {
		for _, w := range ws {
			if w != "" {
				where = append(where, "instr("+column+", ?) > 0")
				args = append(args, w)
			}
		}
	}
	words("name_key", f.Name)
	words("specialties_key", f.Specialty)
	words("city_key", f.City)
	if f.PostalPrefix != "" {
		where = append(where, "substr(postal_key, 1, ?) = ?")
		args = append(args, len(f.PostalPrefix), f.PostalPrefix)
	}
	if f.Language != "" {
		where = append(where, "instr(languages_key, ?) > 0")
		args = append(args, "|"+f.Language+"|")
	}
	if f.Teleconsultation {
		where = append(where, "teleconsultation = 1")
	}
	cond := strings.Join(where, " AND ")
	// The table is clustered by name: the page is read in order, with no
	// sort. The total, when the page does not tell it, is one more scan;
	// count(*) OVER () would materialise every match instead, ten times
	// slower.
	q := "SELECT practice_id, teleconsultation FROM practice_search WHERE " + cond + " ORDER BY name_key, practice_id"
	pageArgs := args
	if f.Limit > 0 {
		q += " LIMIT ? OFFSET ?"
		pageArgs = append(slices.Clip(args), f.Limit, f.Offset)
	}
	rows, err := db.rq.QueryContext(ctx, q, pageArgs...)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	tele := map[string]bool{}
	for rows.Next() {
		var id string
		var t bool
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ids = append(ids, id)
		tele[id] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	total := len(ids)
	if f.Limit > 0 && (f.Offset > 0 || len(ids) == f.Limit) {
		if err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM practice_search WHERE "+cond, args...).Scan(&total); err != nil {
			return nil, 0, err
		}
	}
	if len(ids) == 0 {
		return nil, total, nil
	}
	list, err := db.FindPractices(ctx, PracticeFilter{IDs: ids})
	if err != nil {
		return nil, 0, err
	}
	byID := make(map[string]*Practice, len(list))
	for _, p := range list {
		byID[p.ID] = p
	}
	out := make([]DirectoryEntry, 0, len(ids))
	for _, id := range ids {
		if p := byID[id]; p != nil { // a practice deleted meanwhile is left out
			out = append(out, DirectoryEntry{Practice: p, Teleconsultation: tele[id]})
		}
	}
	return out, total, nil
}

// FindActiveTypesOf returns the active appointment types of the given
// practices, by practice id, each list in the practitioner's order.
func (db *DB) FindActiveTypesOf(ctx context.Context, practiceIDs []string) (map[string][]*AppointmentType, error) {
	out := map[string][]*AppointmentType{}
	if len(practiceIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(practiceIDs))
	for i, id := range practiceIDs {
		args[i] = id
	}
	rows, err := db.rq.QueryContext(ctx, "SELECT "+typeColumns+" FROM appointment_types WHERE archived_at IS NULL AND practice_id IN (?"+
		strings.Repeat(",?", len(practiceIDs)-1)+") ORDER BY practice_id, position", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanType(rows)
		if err != nil {
			return nil, err
		}
		out[t.PracticeID] = append(out[t.PracticeID], t)
	}
	return out, rows.Err()
}

// FirstFreeSlot returns the start of the practice's first free slot
// starting in [from, to). Returns ErrNotFound when there is none.
func (db *DB) FirstFreeSlot(ctx context.Context, practiceID string, from, to time.Time) (time.Time, error) {
	var start int64
	err := db.rq.QueryRowContext(ctx, `SELECT starts_at FROM slots WHERE practice_id = ? AND starts_at >= ? AND starts_at < ?
		AND state = ? ORDER BY starts_at LIMIT 1`, practiceID, from.Unix(), to.Unix(), SlotFree).Scan(&start)
	if err != nil {
		return time.Time{}, formatError(err)
	}
	return time.Unix(start, 0).UTC(), nil
}
