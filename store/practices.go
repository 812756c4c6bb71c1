package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Practice states: a practice is public only once verified.
const (
	PracticePending  = "pending"
	PracticeVerified = "verified"
	PracticeRejected = "rejected"
)

// Practice is one practitioner's office (the seed's "officine") with its
// settings (seed 004's 17 items, structured).
type Practice struct {
	ID             string
	Name           string
	OrganizationID string
	TimeZone       string
	Status         string
	VerifiedAt     time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Settings
	GeneratedAt  time.Time // the initial planning generation; zero before
	PlannedUntil string    // last local day with slots (YYYY-MM-DD), "" before generation
}

// Settings are the practice settings a practitioner edits.
type Settings struct {
	Specialties         []string // main function first
	Diplomas            []string
	PaymentMeans        []string
	Transport           []string
	Access              []string
	Languages           []string
	VisitTypes          string
	PhotoDocumentID     string
	ConventionSector    string
	Vitale              bool
	PatientCanCancel    bool
	CancelCutoffHours   int
	SlotMinutes         int
	HorizonDays         int
	MinNoticeMinutes    int
	MaxFuturePerPatient int
	Address             string
	PostalCode          string
	City                string
	Country             string
	SecretaryPhone      string
	BookingMode         string // free | allowlist
	ReasonMode          string // free | table
}

// DefaultSettings are a new practice's settings.
func DefaultSettings() Settings {
	return Settings{Specialties: []string{}, Diplomas: []string{}, PaymentMeans: []string{}, Transport: []string{},
		Access: []string{}, Languages: []string{}, PatientCanCancel: true, CancelCutoffHours: 24, SlotMinutes: 15,
		HorizonDays: 90, MinNoticeMinutes: 60, MaxFuturePerPatient: 3, Country: "FR", BookingMode: "free", ReasonMode: "free"}
}

const practiceColumns = `id, name, COALESCE(organization_id, ''), time_zone, status, verified_at, created_at, updated_at,
	specialties, diplomas, payment_means, transport, access, languages, visit_types, photo_document_id, convention_sector,
	vitale, patient_can_cancel, cancel_cutoff_hours, slot_minutes, horizon_days, min_notice_minutes, max_future_per_patient,
	address, postal_code, city, country, secretary_phone, booking_mode, reason_mode, generated_at, planned_until`

func scanPractice(row interface{ Scan(...any) error }) (*Practice, error) {
	var p Practice
	var v, g sql.NullInt64
	var c, u int64
	var lists [6]string
	st := &p.Settings
	if err := row.Scan(&p.ID, &p.Name, &p.OrganizationID, &p.TimeZone, &p.Status, &v, &c, &u,
		&lists[0], &lists[1], &lists[2], &lists[3], &lists[4], &lists[5], &st.VisitTypes, &st.PhotoDocumentID, &st.ConventionSector,
		&st.Vitale, &st.PatientCanCancel, &st.CancelCutoffHours, &st.SlotMinutes, &st.HorizonDays, &st.MinNoticeMinutes, &st.MaxFuturePerPatient,
		&st.Address, &st.PostalCode, &st.City, &st.Country, &st.SecretaryPhone, &st.BookingMode, &st.ReasonMode, &g, &p.PlannedUntil); err != nil {
		return nil, formatError(err)
	}
	for i, dst := range []*[]string{&st.Specialties, &st.Diplomas, &st.PaymentMeans, &st.Transport, &st.Access, &st.Languages} {
		*dst = []string{}
		if err := json.Unmarshal([]byte(lists[i]), dst); err != nil {
			return nil, fmt.Errorf("store: practice %s: damaged list: %w", p.ID, err)
		}
	}
	p.VerifiedAt, p.CreatedAt, p.UpdatedAt, p.GeneratedAt = fromUnix(v), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC(), fromUnix(g)
	return &p, nil
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// UpdateSettings replaces the practice's settings (the caller validated them).
// Returns ErrNotFound.
func (tx *Tx) UpdateSettings(ctx context.Context, id string, st Settings) error {
	res, err := tx.ExecContext(ctx, `UPDATE practices SET specialties = ?, diplomas = ?, payment_means = ?, transport = ?,
		access = ?, languages = ?, visit_types = ?, photo_document_id = ?, convention_sector = ?, vitale = ?,
		patient_can_cancel = ?, cancel_cutoff_hours = ?, slot_minutes = ?, horizon_days = ?, min_notice_minutes = ?,
		max_future_per_patient = ?, address = ?, postal_code = ?, city = ?, country = ?, secretary_phone = ?,
		booking_mode = ?, reason_mode = ?, updated_at = ? WHERE id = ?`,
		jsonList(st.Specialties), jsonList(st.Diplomas), jsonList(st.PaymentMeans), jsonList(st.Transport), jsonList(st.Access),
		jsonList(st.Languages), st.VisitTypes, st.PhotoDocumentID, st.ConventionSector, st.Vitale, st.PatientCanCancel,
		st.CancelCutoffHours, st.SlotMinutes, st.HorizonDays, st.MinNoticeMinutes, st.MaxFuturePerPatient, st.Address,
		st.PostalCode, st.City, st.Country, st.SecretaryPhone, st.BookingMode, st.ReasonMode, tx.now.Unix(), id)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UpdatePracticeName renames a practice and sets its time zone.
func (tx *Tx) UpdatePracticeName(ctx context.Context, id, name, zone string) error {
	res, err := tx.ExecContext(ctx, "UPDATE practices SET name = ?, time_zone = ?, updated_at = ? WHERE id = ?", name, zone, tx.now.Unix(), id)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
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
	if p.Settings.SlotMinutes == 0 {
		p.Settings = DefaultSettings()
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO practices (id, name, organization_id, time_zone, status, verified_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.Name, org, p.TimeZone, p.Status, unix(p.VerifiedAt), tx.now.Unix(), tx.now.Unix())
	if err != nil {
		return formatError(err)
	}
	return tx.UpdateSettings(ctx, p.ID, p.Settings)
}

// FindPracticeByID returns the practice, or ErrNotFound.
func (db *DB) FindPracticeByID(ctx context.Context, id string) (*Practice, error) {
	epoch := db.targetEpoch.Load()
	if p := db.targets.practice(id, epoch); p != nil {
		return p, nil
	}
	p, err := scanPractice(db.rq.QueryRowContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE id = ?", id))
	if err == nil {
		db.targets.put(p, nil, epoch)
	}
	return p, err
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
	rows, err := db.rq.QueryContext(ctx, "SELECT "+practiceColumns+" FROM practices WHERE "+strings.Join(where, " AND ")+" ORDER BY name COLLATE NOCASE, id", args...)
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
	return findOrganizationByID(ctx, db.rq, id)
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
	rows, err := db.rq.QueryContext(ctx, "SELECT id, name, kind, created_at FROM organizations ORDER BY name COLLATE NOCASE, id")
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

// TeleconsultationPractices returns the ids of the practices offering at
// least one active teleconsultation type.
func (db *DB) TeleconsultationPractices(ctx context.Context) (map[string]bool, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT DISTINCT practice_id FROM appointment_types WHERE teleconsultation = 1 AND archived_at IS NULL")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
