package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"
)

// SlotHeld is the state of a slot offered to a waiting patient: not free, so
// booking and the free-start search skip it without reading the offers.
const SlotHeld = "held"

// WaitlistEntry is a patient waiting for an earlier time of a type.
type WaitlistEntry struct {
	ID         string
	PracticeID string
	PatientID  string
	TypeID     string
	Before     time.Time // only times starting before it; zero: any
	CreatedAt  time.Time
}

// AddToWaitlist stores e. Returns ErrConflict when the patient already
// waits for that type.
func (tx *Tx) AddToWaitlist(ctx context.Context, e *WaitlistEntry) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.CreatedAt = tx.now
	var before int64
	if !e.Before.IsZero() {
		before = e.Before.Unix()
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO waitlist (id, practice_id, patient_id, type_id, before_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		e.ID, e.PracticeID, e.PatientID, e.TypeID, before, tx.now.UnixNano()/1e3)
	return formatError(err)
}

const waitlistColumns = "id, practice_id, patient_id, type_id, before_at, created_at"

func scanWaitlist(rows *sql.Rows) ([]*WaitlistEntry, error) {
	defer rows.Close()
	var out []*WaitlistEntry
	for rows.Next() {
		var e WaitlistEntry
		var before, created int64
		if err := rows.Scan(&e.ID, &e.PracticeID, &e.PatientID, &e.TypeID, &before, &created); err != nil {
			return nil, err
		}
		if before > 0 {
			e.Before = time.Unix(before, 0).UTC()
		}
		e.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

// PatientWaitlist returns the patient's waitlist entries, oldest first.
func (db *DB) PatientWaitlist(ctx context.Context, patientID string) ([]*WaitlistEntry, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+waitlistColumns+" FROM waitlist WHERE patient_id = ? ORDER BY created_at, id", patientID)
	if err != nil {
		return nil, err
	}
	return scanWaitlist(rows)
}

// Waiting returns the practice's waitlist in the order patients joined it
// (first come, first served).
func (tx *Tx) Waiting(ctx context.Context, practiceID string) ([]*WaitlistEntry, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+waitlistColumns+" FROM waitlist WHERE practice_id = ? ORDER BY created_at, id", practiceID)
	if err != nil {
		return nil, err
	}
	return scanWaitlist(rows)
}

// AnyoneWaiting tells whether anybody waits at the practice: the cheap
// check every cancellation and move makes first.
func (tx *Tx) AnyoneWaiting(ctx context.Context, practiceID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM waitlist WHERE practice_id = ? LIMIT 1)", practiceID).Scan(&n)
	return n > 0, err
}

// RemoveFromWaitlist removes the patient's entry. Returns ErrNotFound when
// the patient has no entry with that id.
func (tx *Tx) RemoveFromWaitlist(ctx context.Context, patientID, id string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM waitlist WHERE id = ? AND patient_id = ?", id, patientID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// EarliestBooked returns the start of the patient's earliest future booked
// appointment of the type, or the zero time when there is none.
func (tx *Tx) EarliestBooked(ctx context.Context, patientID, typeID string) (time.Time, error) {
	var v sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT min(starts_at) FROM appointments WHERE patient_id = ? AND type_id = ? AND state = 'booked' AND starts_at > ?",
		patientID, typeID, tx.now.Unix()).Scan(&v)
	if err != nil {
		return time.Time{}, err
	}
	return fromUnix(v), nil
}

// Offer states.
const (
	OfferOffered   = "offered"
	OfferAccepted  = "accepted"
	OfferDeclined  = "declined"
	OfferExpired   = "expired"
	OfferWithdrawn = "withdrawn"
)

// Offer is freed time held for one waiting patient until ExpiresAt.
type Offer struct {
	ID            string
	ChainID       string // the first offer of the same freed time
	EntryID       string
	PracticeID    string
	PatientID     string
	TypeID        string
	LocationID    string
	SlotIDs       []string // the held slots, in order
	Start, End    time.Time
	State         string
	ExpiresAt     time.Time
	AppointmentID string
	CreatedAt     time.Time
}

// holdSQL and unholdSQL hold and release n slots of a practice. The unary
// plus on practice_id makes SQLite look the slots up by the slots_id index:
// with the practice_id prefix of the primary key it would scan the
// practice's whole planning (TestHeldSlotsQueryPlan).
func holdSQL(n int) string {
	return "UPDATE slots SET state = 'held' WHERE +practice_id = ? AND state = 'free' AND id IN (?" + strings.Repeat(",?", n-1) + ")"
}

func unholdSQL(n int) string {
	return "UPDATE slots SET state = CASE WHEN block_id IS NULL THEN 'free' ELSE 'blocked' END WHERE +practice_id = ? AND state = 'held' AND id IN (?" +
		strings.Repeat(",?", n-1) + ")"
}

// HoldSlots puts free slots of the practice on hold, all or none: returns
// ErrConflict unless every one was free.
func (tx *Tx) HoldSlots(ctx context.Context, practiceID string, ids []string) error {
	if len(ids) == 0 {
		return ErrConflict
	}
	args := []any{practiceID}
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := tx.ExecContext(ctx, holdSQL(len(ids)), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); int(n) != len(ids) {
		return ErrConflict
	}
	return nil
}

// UnholdSlots frees held slots again (blocked when an absence now covers
// them) and returns how many were held.
func (tx *Tx) UnholdSlots(ctx context.Context, practiceID string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{practiceID}
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := tx.ExecContext(ctx, unholdSQL(len(ids)), args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CreateOffer stores o (its slots are held separately with HoldSlots).
func (tx *Tx) CreateOffer(ctx context.Context, o *Offer) error {
	if o.ID == "" {
		o.ID = NewID()
	}
	if o.ChainID == "" {
		o.ChainID = o.ID
	}
	o.State, o.CreatedAt = OfferOffered, tx.now
	ids, _ := json.Marshal(o.SlotIDs)
	_, err := tx.ExecContext(ctx, `INSERT INTO waitlist_offers (id, chain_id, entry_id, practice_id, patient_id, type_id, location_id, slot_ids,
		starts_at, ends_at, state, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.ChainID, o.EntryID, o.PracticeID, o.PatientID, o.TypeID, o.LocationID, string(ids), o.Start.Unix(), o.End.Unix(), o.State,
		o.ExpiresAt.Unix(), tx.now.Unix(), tx.now.Unix())
	return formatError(err)
}

const offerColumns = "id, chain_id, entry_id, practice_id, patient_id, type_id, location_id, slot_ids, starts_at, ends_at, state, expires_at, appointment_id, created_at"

func scanOffers(rows *sql.Rows) ([]*Offer, error) {
	defer rows.Close()
	var out []*Offer
	for rows.Next() {
		var o Offer
		var ids string
		var st, en, exp, c int64
		if err := rows.Scan(&o.ID, &o.ChainID, &o.EntryID, &o.PracticeID, &o.PatientID, &o.TypeID, &o.LocationID, &ids, &st, &en, &o.State,
			&exp, &o.AppointmentID, &c); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(ids), &o.SlotIDs); err != nil {
			return nil, err
		}
		o.Start, o.End, o.ExpiresAt, o.CreatedAt = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC(), time.Unix(exp, 0).UTC(), time.Unix(c, 0).UTC()
		out = append(out, &o)
	}
	return out, rows.Err()
}

// FindOffer returns the patient's offer with that id. Returns ErrNotFound
// when it does not exist or belongs to someone else.
func (tx *Tx) FindOffer(ctx context.Context, patientID, id string) (*Offer, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+offerColumns+" FROM waitlist_offers WHERE id = ? AND patient_id = ?", id, patientID)
	if err != nil {
		return nil, err
	}
	return oneOffer(rows)
}

// FindOffer returns the patient's offer with that id; errors as Tx.FindOffer.
func (db *DB) FindOffer(ctx context.Context, patientID, id string) (*Offer, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+offerColumns+" FROM waitlist_offers WHERE id = ? AND patient_id = ?", id, patientID)
	if err != nil {
		return nil, err
	}
	return oneOffer(rows)
}

func oneOffer(rows *sql.Rows) (*Offer, error) {
	list, err := scanOffers(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// PatientOffers returns the patient's live offers, soonest first.
func (db *DB) PatientOffers(ctx context.Context, patientID string) ([]*Offer, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT "+offerColumns+" FROM waitlist_offers WHERE patient_id = ? AND state = 'offered' AND expires_at > ? ORDER BY starts_at",
		patientID, db.Now().Unix())
	if err != nil {
		return nil, err
	}
	return scanOffers(rows)
}

// ExpiredOffers returns the live offers whose hold is over at now.
func (tx *Tx) ExpiredOffers(ctx context.Context, now time.Time, limit int) ([]*Offer, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+offerColumns+" FROM waitlist_offers WHERE state = 'offered' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
		now.Unix(), limit)
	if err != nil {
		return nil, err
	}
	return scanOffers(rows)
}

// ChainPatients returns the patients already offered the freed time of a chain.
func (tx *Tx) ChainPatients(ctx context.Context, chainID string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT patient_id FROM waitlist_offers WHERE chain_id = ?", chainID)
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

// LiveOfferPatients returns the patients of the practice who hold a live
// offer: one offer at a time each.
func (tx *Tx) LiveOfferPatients(ctx context.Context, practiceID string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT patient_id FROM waitlist_offers WHERE practice_id = ? AND state = 'offered'", practiceID)
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

// SetOfferState moves a live offer to state (accepted with its appointment).
// Returns ErrConflict when the offer is no longer live.
func (tx *Tx) SetOfferState(ctx context.Context, id, state, appointmentID string) error {
	res, err := tx.ExecContext(ctx, "UPDATE waitlist_offers SET state = ?, appointment_id = ?, updated_at = ? WHERE id = ? AND state = 'offered'",
		state, appointmentID, tx.now.Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// RemoveWaitlistEntry removes an entry whatever its patient (a waiting
// patient whose offer was accepted waits no more).
func (tx *Tx) RemoveWaitlistEntry(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM waitlist WHERE id = ?", id)
	return err
}
