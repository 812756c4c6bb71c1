package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Practice states: a practice is public only once verified.
const (
	PracticePending  = "pending"
	PracticeVerified = "verified"
	PracticeRejected = "rejected"
)

// Practice is one practitioner's office (the seed's "officine").
type Practice struct {
	ID             string
	Name           string
	OrganizationID string
	TimeZone       string
	Status         string
	VerifiedAt     time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const practiceColumns = "id, name, COALESCE(organization_id, ''), time_zone, status, verified_at, created_at, updated_at"

func scanPractice(row interface{ Scan(...any) error }) (*Practice, error) {
	var p Practice
	var v sql.NullInt64
	var c, u int64
	if err := row.Scan(&p.ID, &p.Name, &p.OrganizationID, &p.TimeZone, &p.Status, &v, &c, &u); err != nil {
		return nil, formatError(err)
	}
	p.VerifiedAt, p.CreatedAt, p.UpdatedAt = fromUnix(v), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
	return &p, nil
}

// CreatePractice inserts p, setting its ID and timestamps.
func (tx *Tx) CreatePractice(ctx context.Context, p *Practice) error {
	if p.ID == "" {
		p.ID = NewID()
	}
	if p.Status == "" {
		p.Status = PracticePending
	}
	if p.Status == PracticeVerified && p.VerifiedAt.IsZero() {
		p.VerifiedAt = tx.now
	}
	p.CreatedAt, p.UpdatedAt = tx.now, tx.now
	var org any
	if p.OrganizationID != "" {
		org = p.OrganizationID
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO practices (id, name, organization_id, time_zone, status, verified_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.Name, org, p.TimeZone, p.Status, unix(p.VerifiedAt), tx.now.Unix(), tx.now.Unix())
	return formatError(err)
}

// FindPracticeByID returns the practice, or ErrNotFound.
func (db *DB) FindPracticeByID(ctx context.Context, id string) (*Practice, error) {
	return scanPractice(db.read.QueryRowContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE id = ?", id))
}

// FindPracticeByID returns the practice inside the transaction, or ErrNotFound.
func (tx *Tx) FindPracticeByID(ctx context.Context, id string) (*Practice, error) {
	return scanPractice(tx.QueryRowContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE id = ?", id))
}

// PracticeFilter selects practices.
type PracticeFilter struct {
	Status         string // "" for any
	IDs            []string
	OrganizationID string
}

// FindPractices returns practices matching f, by name.
func (db *DB) FindPractices(ctx context.Context, f PracticeFilter) ([]*Practice, error) {
	where, args := []string{"1=1"}, []any{}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.OrganizationID != "" {
		where = append(where, "organization_id = ?")
		args = append(args, f.OrganizationID)
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
	rows, err := db.read.QueryContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE "+strings.Join(where, " AND ")+" ORDER BY name COLLATE NOCASE, id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Practice
	for rows.Next() {
		p, err := scanPractice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPracticeStatus changes a practice's verification status.
func (tx *Tx) SetPracticeStatus(ctx context.Context, id, status string) error {
	var v any
	if status == PracticeVerified {
		v = tx.now.Unix()
	}
	res, err := tx.ExecContext(ctx, "UPDATE practices SET status = ?, verified_at = ?, updated_at = ? WHERE id = ?", status, v, tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Organization groups practices.
type Organization struct {
	ID        string
	Name      string
	Kind      string
	CreatedAt time.Time
}

// CreateOrganization inserts o.
func (tx *Tx) CreateOrganization(ctx context.Context, o *Organization) error {
	if o.ID == "" {
		o.ID = NewID()
	}
	if o.Kind == "" {
		o.Kind = "clinic"
	}
	o.CreatedAt = tx.now
	_, err := tx.ExecContext(ctx, "INSERT INTO organizations (id, name, kind, created_at) VALUES (?, ?, ?, ?)", o.ID, o.Name, o.Kind, tx.now.Unix())
	return formatError(err)
}

// FindOrganizationByID returns the organization, or ErrNotFound.
func (db *DB) FindOrganizationByID(ctx context.Context, id string) (*Organization, error) {
	return findOrganizationByID(ctx, db.read, id)
}

// FindOrganizationByID returns the organization inside the transaction, or ErrNotFound.
func (tx *Tx) FindOrganizationByID(ctx context.Context, id string) (*Organization, error) {
	return findOrganizationByID(ctx, tx, id)
}

func findOrganizationByID(ctx context.Context, q queryer, id string) (*Organization, error) {
	var o Organization
	var c int64
	err := q.QueryRowContext(ctx, "SELECT id, name, kind, created_at FROM organizations WHERE id = ?", id).Scan(&o.ID, &o.Name, &o.Kind, &c)
	if err != nil {
		return nil, formatError(err)
	}
	o.CreatedAt = time.Unix(c, 0).UTC()
	return &o, nil
}

// FindOrganizations returns every organization, by name.
func (db *DB) FindOrganizations(ctx context.Context) ([]*Organization, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT id, name, kind, created_at FROM organizations ORDER BY name COLLATE NOCASE, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Organization
	for rows.Next() {
		var o Organization
		var c int64
		if err := rows.Scan(&o.ID, &o.Name, &o.Kind, &c); err != nil {
			return nil, err
		}
		o.CreatedAt = time.Unix(c, 0).UTC()
		out = append(out, &o)
	}
	return out, rows.Err()
}

// SetPracticeOrganization puts a practice in an organization, or takes it
// out with orgID "". Returns ErrNotFound for an unknown practice.
func (tx *Tx) SetPracticeOrganization(ctx context.Context, practiceID, orgID string) error {
	var org any
	if orgID != "" {
		org = orgID
	}
	res, err := tx.ExecContext(ctx, "UPDATE practices SET organization_id = ?, updated_at = ? WHERE id = ?", org, tx.now.Unix(), practiceID)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
