package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// The practice workspace (issue 5): the staff's view of appointments with
// names, payment and no-show marks, bans and the allowlist, staff notes,
// the home visits planner, mailings and their opt-outs.

// PlanningEntry is an appointment as the staff plannings show it, with the
// patient's name and e-mail and the type's name.
type PlanningEntry struct {
	Appointment
	PatientName      string
	PatientEmail     string
	TypeName         string
	Teleconsultation bool
}

// PlanningFilter selects planning entries of one practice.
type PlanningFilter struct {
	PracticeID string
	PatientID  string   // "" any
	States     []string // nil any
	From, To   time.Time
	Unpaid     bool // only teleconsultations with payment_state unpaid
	NoShow     bool // only no-shows
	Settled    bool // leave out unpaid teleconsultations (listed apart)
	Desc       bool // newest first
	Limit      int
}

const planningColumns = `a.id, a.practice_id, a.patient_id, a.type_id, a.location_id, a.starts_at, a.ends_at, a.reason, a.phone, a.state,
	a.payment_state, a.source, a.sequence, a.created_at, a.updated_at, u.name, u.email, t.name, t.teleconsultation`

// FindPlanningEntries returns the practice's appointments matching f, by
// start (or newest first with f.Desc).
func (db *DB) FindPlanningEntries(ctx context.Context, f PlanningFilter) ([]*PlanningEntry, error) {
	where, args := []string{"a.practice_id = ?"}, []any{f.PracticeID}
	if f.PatientID != "" {
		where, args = append(where, "a.patient_id = ?"), append(args, f.PatientID)
	}
	if len(f.States) > 0 {
		where = append(where, "a.state IN (?"+strings.Repeat(",?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if !f.From.IsZero() {
		where, args = append(where, "a.ends_at > ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		where, args = append(where, "a.starts_at < ?"), append(args, f.To.Unix())
	}
	if f.Unpaid {
		where = append(where, "a.payment_state = 'unpaid' AND t.teleconsultation = 1 AND a.state <> 'cancelled'")
	}
	if f.NoShow {
		where = append(where, "a.state = 'no_show'")
	}
	if f.Settled {
		where = append(where, "NOT (a.payment_state = 'unpaid' AND t.teleconsultation = 1)")
	}
	q := "SELECT " + planningColumns + ` FROM appointments a JOIN users u ON u.id = a.patient_id JOIN appointment_types t ON t.id = a.type_id
		WHERE ` + strings.Join(where, " AND ")
	if f.Desc {
		q += " ORDER BY a.starts_at DESC, a.id"
	} else {
		q += " ORDER BY a.starts_at, a.id"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.rq.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	var out []*PlanningEntry
	for rows.Next() {
		var e PlanningEntry
		a := &e.Appointment
		var st, en, c, u int64
		var reason []byte
		if err := rows.Scan(&a.ID, &a.PracticeID, &a.PatientID, &a.TypeID, &a.LocationID, &st, &en, &reason, &a.Phone, &a.State,
			&a.PaymentState, &a.Source, &a.Sequence, &c, &u, &e.PatientName, &e.PatientEmail, &e.TypeName, &e.Teleconsultation); err != nil {
			return nil, err
		}
		if len(reason) > 0 {
			p, err := s.open(reason, "appointments.reason:"+a.ID)
			if err != nil {
				return nil, err
			}
			a.Reason = string(p)
		}
		a.Start, a.End, a.CreatedAt, a.UpdatedAt = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC(), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

// SetPaymentState changes an appointment's payment state from one value to
// another in one conditional statement: ErrConflict when it is no longer
// from (marked twice, or a concurrent change won), ErrNotFound when the
// appointment does not exist.
func (tx *Tx) SetPaymentState(ctx context.Context, id, from, to string) error {
	res, err := tx.ExecContext(ctx, "UPDATE appointments SET payment_state = ?, updated_at = ? WHERE id = ? AND payment_state = ? AND state <> 'cancelled'",
		to, tx.now.Unix(), id, from)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var x int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM appointments WHERE id = ?", id).Scan(&x); err != nil {
			return formatError(err)
		}
		return ErrConflict
	}
	return nil
}

// MoveAppointmentFrom is MoveAppointment on the condition that the
// appointment still starts at fromStart: two people moving it at once from
// what they both saw, the second finds it moved and gets ErrConflict.
func (tx *Tx) MoveAppointmentFrom(ctx context.Context, id string, fromStart int64, locationID string, start, end int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE appointments SET starts_at = ?, ends_at = ?, location_id = ?, sequence = sequence + 1, updated_at = ?
		WHERE id = ? AND state = 'booked' AND starts_at = ?`, start, end, locationID, tx.now.Unix(), id, fromStart)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// Ban is a patient banned from a practice, with the reason.
type Ban struct {
	PracticeID, PatientID string
	PatientName, Email    string
	Reason, BannedBy      string
	CreatedAt             time.Time
}

// FindBans returns the practice's bans (patientID "" for all), newest first.
func (db *DB) FindBans(ctx context.Context, practiceID, patientID string) ([]*Ban, error) {
	q := `SELECT b.practice_id, b.patient_id, u.name, u.email, b.reason, b.banned_by, b.created_at FROM bans b JOIN users u ON u.id = b.patient_id
		WHERE b.practice_id = ?`
	args := []any{practiceID}
	if patientID != "" {
		q += " AND b.patient_id = ?"
		args = append(args, patientID)
	}
	rows, err := db.rq.QueryContext(ctx, q+" ORDER BY b.created_at DESC, u.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Ban
	for rows.Next() {
		var b Ban
		var c int64
		if err := rows.Scan(&b.PracticeID, &b.PatientID, &b.PatientName, &b.Email, &b.Reason, &b.BannedBy, &c); err != nil {
			return nil, err
		}
		b.CreatedAt = time.Unix(c, 0).UTC()
		out = append(out, &b)
	}
	return out, rows.Err()
}

// Unban lifts a ban. Returns ErrNotFound when the patient was not banned.
func (tx *Tx) Unban(ctx context.Context, practiceID, patientID string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM bans WHERE practice_id = ? AND patient_id = ?", practiceID, patientID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AllowEntry is one address of a practice's allowlist.
type AllowEntry struct {
	Email     string
	AddedBy   string
	CreatedAt time.Time
}

// FindAllowlist returns the practice's allowlist addresses containing query
// (all when ""), alphabetically, at most limit (0: all) from offset, and how
// many match in all.
func (db *DB) FindAllowlist(ctx context.Context, practiceID, query string, limit, offset int) ([]AllowEntry, int, error) {
	where, args := "practice_id = ?", []any{practiceID}
	if query != "" {
		where += ` AND email LIKE ? ESCAPE '\'`
		args = append(args, "%"+escapeLike(query)+"%")
	}
	var total int
	if err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM allowlist WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.rq.QueryContext(ctx, "SELECT email, added_by, created_at FROM allowlist WHERE "+where+" ORDER BY email LIMIT ? OFFSET ?",
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []AllowEntry
	for rows.Next() {
		var e AllowEntry
		var c int64
		if err := rows.Scan(&e.Email, &e.AddedBy, &c); err != nil {
			return nil, 0, err
		}
		e.CreatedAt = time.Unix(c, 0).UTC()
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// RemoveFromAllowlist removes addresses from the practice's allowlist and
// returns how many were there.
func (tx *Tx) RemoveFromAllowlist(ctx context.Context, practiceID string, emails ...string) (int, error) {
	removed := 0
	for _, e := range emails {
		res, err := tx.ExecContext(ctx, "DELETE FROM allowlist WHERE practice_id = ? AND email = ?", practiceID, strings.TrimSpace(e))
		if err != nil {
			return removed, err
		}
		n, _ := res.RowsAffected()
		removed += int(n)
	}
	return removed, nil
}

// StaffNote is a note the practice's staff keep on a patient (the body is
// encrypted at rest).
type StaffNote struct {
	ID, PracticeID, PatientID string
	Body                      string
	AuthorID, AuthorName      string
	CreatedAt                 time.Time
}

// AddStaffNote stores n, sealed with its id as associated data.
func (tx *Tx) AddStaffNote(ctx context.Context, n *StaffNote) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	if n.ID == "" {
		n.ID = NewID()
	}
	n.CreatedAt = tx.now
	_, err = tx.ExecContext(ctx, "INSERT INTO staff_notes (id, practice_id, patient_id, body, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		n.ID, n.PracticeID, n.PatientID, s.seal([]byte(n.Body), "staff_notes:"+n.ID), n.AuthorID, tx.now.Unix())
	return formatError(err)
}

// FindStaffNotes returns the practice's notes on a patient, newest first.
func (db *DB) FindStaffNotes(ctx context.Context, practiceID, patientID string) ([]*StaffNote, error) {
	s, err := db.sealer()
	if err != nil {
		return nil, err
	}
	rows, err := db.rq.QueryContext(ctx, `SELECT n.id, n.body, n.author_id, COALESCE(u.name, ''), n.created_at FROM staff_notes n
		LEFT JOIN users u ON u.id = n.author_id WHERE n.practice_id = ? AND n.patient_id = ? ORDER BY n.created_at DESC, n.id`, practiceID, patientID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StaffNote
	for rows.Next() {
		n := &StaffNote{PracticeID: practiceID, PatientID: patientID}
		var blob []byte
		var c int64
		if err := rows.Scan(&n.ID, &blob, &n.AuthorID, &n.AuthorName, &c); err != nil {
			return nil, err
		}
		p, err := s.open(blob, "staff_notes:"+n.ID)
		if err != nil {
			return nil, err
		}
		n.Body, n.CreatedAt = string(p), time.Unix(c, 0).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// SaveHomeVisits stores the practice's home visits planner text (sealed);
// an empty text clears it.
func (tx *Tx) SaveHomeVisits(ctx context.Context, practiceID, body, by string) error {
	if strings.TrimSpace(body) == "" {
		_, err := tx.ExecContext(ctx, "DELETE FROM home_visits WHERE practice_id = ?", practiceID)
		return err
	}
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO home_visits (practice_id, body, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (practice_id) DO UPDATE SET body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		practiceID, s.seal([]byte(body), "home_visits:"+practiceID), by, tx.now.Unix())
	return formatError(err)
}

// FindHomeVisits returns the practice's home visits planner text ("" when
// unused) and when it was last changed.
func (db *DB) FindHomeVisits(ctx context.Context, practiceID string) (string, time.Time, error) {
	var blob []byte
	var at int64
	err := db.rq.QueryRowContext(ctx, "SELECT body, updated_at FROM home_visits WHERE practice_id = ?", practiceID).Scan(&blob, &at)
	if err == sql.ErrNoRows {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	s, err := db.sealer()
	if err != nil {
		return "", time.Time{}, err
	}
	p, err := s.open(blob, "home_visits:"+practiceID)
	return string(p), time.Unix(at, 0).UTC(), err
}

// PracticePatient is a patient who booked with a practice.
type PracticePatient struct {
	ID, Name, Email string
	NoShows         int
	Unpaid          int
	Banned          bool
}

// FindPracticePatients returns the patients who have (or had) an
// appointment with the practice, or a ban, whose name or e-mail contains
// query (all when ""), by name, at most limit (0: all).
func (db *DB) FindPracticePatients(ctx context.Context, practiceID, query string, limit int) ([]*PracticePatient, error) {
	where, args := "", []any{}
	if query != "" {
		where = ` AND (u.name LIKE ?3 ESCAPE '\' OR u.email LIKE ?3 ESCAPE '\')`
		args = append(args, "%"+escapeLike(query)+"%")
	}
	return db.practicePatients(ctx, practiceID, where, args, limit)
}

// FindPracticePatientsByID returns those of ids who are patients of the
// practice, with their counts, by name.
func (db *DB) FindPracticePatientsByID(ctx context.Context, practiceID string, ids []string) ([]*PracticePatient, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return db.practicePatients(ctx, practiceID, " AND u.id IN (?"+strings.Repeat(",?", len(ids)-1)+")", args, 0)
}

// PracticePatientNames returns the id, name and e-mail of every patient of
// the practice (a search folds accents in Go, then asks for the details of
// the matches).
func (db *DB) PracticePatientNames(ctx context.Context, practiceID string) ([]*PracticePatient, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT u.id, u.name, u.email FROM users u WHERE u.id IN
		(SELECT patient_id FROM appointments WHERE practice_id = ?1 UNION SELECT patient_id FROM bans WHERE practice_id = ?1) ORDER BY u.name COLLATE NOCASE, u.id`, practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*PracticePatient
	for rows.Next() {
		var p PracticePatient
		if err := rows.Scan(&p.ID, &p.Name, &p.Email); err != nil {
			return nil, err
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

func (db *DB) practicePatients(ctx context.Context, practiceID, where string, extra []any, limit int) ([]*PracticePatient, error) {
	q := `SELECT u.id, u.name, u.email,
		(SELECT count(*) FROM appointments a WHERE a.practice_id = ?1 AND a.patient_id = u.id AND a.state = 'no_show'),
		(SELECT count(*) FROM appointments a JOIN appointment_types t ON t.id = a.type_id WHERE a.practice_id = ?1 AND a.patient_id = u.id
			AND a.payment_state = 'unpaid' AND t.teleconsultation = 1 AND a.state <> 'cancelled' AND a.starts_at < ?2),
		EXISTS (SELECT 1 FROM bans b WHERE b.practice_id = ?1 AND b.patient_id = u.id)
		FROM users u WHERE u.id IN (SELECT patient_id FROM appointments WHERE practice_id = ?1 UNION SELECT patient_id FROM bans WHERE practice_id = ?1)` + where
	args := append([]any{practiceID, db.Now().Unix()}, extra...)
	q += " ORDER BY u.name COLLATE NOCASE, u.id"
	if limit > 0 {
		q += " LIMIT " + itoa(limit)
	}
	rows, err := db.rq.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*PracticePatient
	for rows.Next() {
		var p PracticePatient
		if err := rows.Scan(&p.ID, &p.Name, &p.Email, &p.NoShows, &p.Unpaid, &p.Banned); err != nil {
			return nil, err
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

func itoa(n int) string {
	if n <= 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// IsPracticePatient tells whether the user has (or had) an appointment with
// the practice, or is banned by it: the staff may open only such cards.
func (db *DB) IsPracticePatient(ctx context.Context, practiceID, userID string) (bool, error) {
	var n int
	err := db.rq.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM appointments WHERE practice_id = ? AND patient_id = ?)
		OR EXISTS (SELECT 1 FROM bans WHERE practice_id = ? AND patient_id = ?)`, practiceID, userID, practiceID, userID).Scan(&n)
	return n > 0, err
}

// LastMailing returns when the practice last sent a mailing (zero if never).
func (db *DB) LastMailing(ctx context.Context, practiceID string) (time.Time, error) {
	var at sql.NullInt64
	err := db.rq.QueryRowContext(ctx, "SELECT max(created_at) FROM mailings WHERE practice_id = ?", practiceID).Scan(&at)
	return fromUnix(at), err
}

// CreateMailing records a mailing, refusing (ErrConflict) when the practice
// sent one after since: the check and the insert are one write transaction,
// so two at once cannot both pass.
func (tx *Tx) CreateMailing(ctx context.Context, id, practiceID, by string, recipients int, since time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM mailings WHERE practice_id = ? AND created_at > ?", practiceID, since.Unix()).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrConflict
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO mailings (id, practice_id, created_by, recipients, created_at) VALUES (?, ?, ?, ?, ?)",
		id, practiceID, by, recipients, tx.now.Unix())
	return formatError(err)
}

// MailingRecipient is a patient a mailing goes to.
type MailingRecipient struct {
	ID, Name, Email, Locale string
}

// MailingRecipients returns the practice's patients (anyone who booked with
// it and was not disabled) who did not opt out of its mailings.
func (tx *Tx) MailingRecipients(ctx context.Context, practiceID string) ([]MailingRecipient, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.id, u.name, u.email, u.locale FROM users u
		WHERE u.id IN (SELECT patient_id FROM appointments WHERE practice_id = ?) AND u.disabled_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM mailing_optouts o WHERE o.practice_id = ? AND o.email = u.email) ORDER BY u.email`, practiceID, practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MailingRecipient
	for rows.Next() {
		var m MailingRecipient
		if err := rows.Scan(&m.ID, &m.Name, &m.Email, &m.Locale); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UnsubscribeToken returns the opaque token that unsubscribes email from
// the practice's mailings, making it the first time.
func (tx *Tx) UnsubscribeToken(ctx context.Context, practiceID, email string) (string, error) {
	if _, err := tx.ExecContext(ctx, "INSERT INTO unsubscribe_tokens (token, practice_id, email, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
		newSecret(), practiceID, email, tx.now.Unix()); err != nil {
		return "", formatError(err)
	}
	var tok string
	err := tx.QueryRowContext(ctx, "SELECT token FROM unsubscribe_tokens WHERE practice_id = ? AND email = ?", practiceID, email).Scan(&tok)
	return tok, formatError(err)
}

// FindUnsubscribe returns the practice and address of a token. Returns
// ErrNotFound for an unknown token.
func (db *DB) FindUnsubscribe(ctx context.Context, token string) (practiceID, email string, err error) {
	err = db.rq.QueryRowContext(ctx, "SELECT practice_id, email FROM unsubscribe_tokens WHERE token = ?", token).Scan(&practiceID, &email)
	return practiceID, email, formatError(err)
}

// OptOut records that email wants no more mailings from the practice
// (again: a no-op).
func (tx *Tx) OptOut(ctx context.Context, practiceID, email string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO mailing_optouts (practice_id, email, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		practiceID, email, tx.now.Unix())
	return formatError(err)
}

// OptedOut tells whether email opted out of the practice's mailings.
func (db *DB) OptedOut(ctx context.Context, practiceID, email string) (bool, error) {
	var n int
	err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM mailing_optouts WHERE practice_id = ? AND email = ?", practiceID, email).Scan(&n)
	return n > 0, err
}

// DelayOutbox sets when a queued outbox message is first tried: mailings
// spread their recipients over time.
func (tx *Tx) DelayOutbox(ctx context.Context, id string, at time.Time) error {
	_, err := tx.ExecContext(ctx, "UPDATE outbox SET next_attempt_at = ? WHERE id = ?", at.Unix(), id)
	return err
}
