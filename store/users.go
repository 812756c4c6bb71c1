package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Roles a membership can carry (DESIGN §3).
const (
	RolePatient      = "patient"
	RoleSecretary    = "secretary"
	RolePractitioner = "practitioner"
	RoleOrgAdmin     = "org_admin"
	RoleAffiliate    = "affiliate"
	RoleAdmin        = "admin"
)

// Roles lists every role, from the least to the most powerful.
var Roles = []string{RolePatient, RoleAffiliate, RoleSecretary, RolePractitioner, RoleOrgAdmin, RoleAdmin}

// User is a person with an account.
type User struct {
	ID              string
	Email           string
	Name            string
	PasswordHash    string
	Locale          string
	TimeZone        string
	EmailVerifiedAt time.Time
	DisabledAt      time.Time
	TOTPEnabledAt   time.Time
	ConsentVersion  string
	ConsentAt       time.Time
	BirthDate       string
	PostalCode      string
	City            string
	APIVouched      bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Membership is one role a user holds, scoped to a practice or organization
// where the role needs one.
type Membership struct {
	ID             string
	UserID         string
	Role           string
	PracticeID     string
	OrganizationID string
	CreatedAt      time.Time
}

const userColumns = `id, email, name, password_hash, locale, time_zone, email_verified_at, disabled_at,
	totp_enabled_at, consent_version, consent_at, birth_date, postal_code, city, api_vouched, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var verified, disabled, totp, consent sql.NullInt64
	var created, updated int64
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Locale, &u.TimeZone, &verified, &disabled,
		&totp, &u.ConsentVersion, &consent, &u.BirthDate, &u.PostalCode, &u.City, &u.APIVouched, &created, &updated)
	if err != nil {
		return nil, formatError(err)
	}
	u.EmailVerifiedAt, u.DisabledAt, u.TOTPEnabledAt, u.ConsentAt = fromUnix(verified), fromUnix(disabled), fromUnix(totp), fromUnix(consent)
	u.CreatedAt, u.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return &u, nil
}

// FindUserByID returns the user with that id, or ErrNotFound.
func (db *DB) FindUserByID(ctx context.Context, id string) (*User, error) {
	return findUserByID(ctx, db.rq, id)
}

// FindUserByID returns the user with that id inside the transaction, or ErrNotFound.
func (tx *Tx) FindUserByID(ctx context.Context, id string) (*User, error) {
	return findUserByID(ctx, tx, id)
}

func findUserByID(ctx context.Context, q queryer, id string) (*User, error) {
	return scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// FindUserByEmail returns the user with that e-mail (case-insensitive), or ErrNotFound.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*User, error) {
	return scanUser(db.rq.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", strings.TrimSpace(email)))
}

// FindUserByEmail returns the user with that e-mail inside the transaction, or ErrNotFound.
func (tx *Tx) FindUserByEmail(ctx context.Context, email string) (*User, error) {
	return scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", strings.TrimSpace(email)))
}

// UserFilter selects users for FindUsers.
type UserFilter struct {
	Query  string // substring of name or e-mail
	Role   string
	Limit  int
	Offset int
}

// FindUsers returns users matching the filter, newest first.
func (db *DB) FindUsers(ctx context.Context, f UserFilter) ([]*User, error) {
	where, args := []string{"1=1"}, []any{}
	if f.Query != "" {
		where = append(where, "(name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\')")
		like := "%" + escapeLike(f.Query) + "%"
		args = append(args, like, like)
	}
	if f.Role != "" {
		where = append(where, "id IN (SELECT user_id FROM memberships WHERE role = ?)")
		args = append(args, f.Role)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	args = append(args, limit, f.Offset)
	rows, err := db.rq.QueryContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+strings.Join(where, " AND ")+
		" ORDER BY created_at DESC, id LIMIT ? OFFSET ?", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// CountUsers returns the number of accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

// CreateUser inserts u, setting its ID (when empty) and timestamps.
// Returns ErrConflict if the e-mail is taken.
func (tx *Tx) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	u.Email = strings.TrimSpace(u.Email)
	u.CreatedAt, u.UpdatedAt = tx.now, tx.now
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, locale, time_zone, email_verified_at,
		consent_version, consent_at, birth_date, postal_code, city, api_vouched, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Locale, u.TimeZone, unix(u.EmailVerifiedAt),
		u.ConsentVersion, unix(u.ConsentAt), u.BirthDate, u.PostalCode, u.City, u.APIVouched, tx.now.Unix(), tx.now.Unix())
	return formatError(err)
}

// UserUpdate holds the fields to change; nil fields are left alone.
type UserUpdate struct {
	Name            *string
	Email           *string
	PasswordHash    *string
	Locale          *string
	TimeZone        *string
	EmailVerifiedAt *time.Time
	DisabledAt      *time.Time // zero time re-enables
	ConsentVersion  *string
	ConsentAt       *time.Time
	BirthDate       *string
	PostalCode      *string
	City            *string
}

// UpdateUser applies upd to the user. Returns ErrNotFound or ErrConflict (e-mail taken).
func (tx *Tx) UpdateUser(ctx context.Context, id string, upd UserUpdate) error {
	sets, args := []string{"updated_at = ?"}, []any{tx.now.Unix()}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if upd.Name != nil {
		add("name", *upd.Name)
	}
	if upd.Email != nil {
		add("email", strings.TrimSpace(*upd.Email))
	}
	if upd.PasswordHash != nil {
		add("password_hash", *upd.PasswordHash)
	}
	if upd.Locale != nil {
		add("locale", *upd.Locale)
	}
	if upd.TimeZone != nil {
		add("time_zone", *upd.TimeZone)
	}
	if upd.EmailVerifiedAt != nil {
		add("email_verified_at", unix(*upd.EmailVerifiedAt))
	}
	if upd.DisabledAt != nil {
		add("disabled_at", unix(*upd.DisabledAt))
	}
	if upd.ConsentVersion != nil {
		add("consent_version", *upd.ConsentVersion)
	}
	if upd.ConsentAt != nil {
		add("consent_at", unix(*upd.ConsentAt))
	}
	if upd.BirthDate != nil {
		add("birth_date", *upd.BirthDate)
	}
	if upd.PostalCode != nil {
		add("postal_code", *upd.PostalCode)
	}
	if upd.City != nil {
		add("city", *upd.City)
	}
	args = append(args, id)
	res, err := tx.ExecContext(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetTOTP stores (encrypted) or clears (secret "") the user's TOTP secret;
// enabled marks it active.
func (tx *Tx) SetTOTP(ctx context.Context, userID, secret string, enabled bool) error {
	var blob any
	if secret != "" {
		s, err := tx.db.sealer()
		if err != nil {
			return err
		}
		blob = s.seal([]byte(secret), "users.totp:"+userID)
	}
	var at any
	if enabled {
		at = tx.now.Unix()
	}
	res, err := tx.ExecContext(ctx, "UPDATE users SET totp_secret = ?, totp_enabled_at = ?, updated_at = ? WHERE id = ?", blob, at, tx.now.Unix(), userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TOTPSecret returns the user's decrypted TOTP secret ("" when none is set).
func (db *DB) TOTPSecret(ctx context.Context, userID string) (string, error) {
	var blob []byte
	err := db.rq.QueryRowContext(ctx, "SELECT totp_secret FROM users WHERE id = ?", userID).Scan(&blob)
	if err != nil {
		return "", formatError(err)
	}
	if len(blob) == 0 {
		return "", nil
	}
	s, err := db.sealer()
	if err != nil {
		return "", err
	}
	p, err := s.open(blob, "users.totp:"+userID)
	return string(p), err
}

// Memberships returns the user's memberships, in role order.
func (db *DB) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	return memberships(ctx, db.rq, "user_id = ?", userID)
}

// Memberships returns the user's memberships inside the transaction.
func (tx *Tx) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	return memberships(ctx, tx, "user_id = ?", userID)
}

// PracticeMembers returns the memberships scoped to a practice.
func (db *DB) PracticeMembers(ctx context.Context, practiceID string) ([]Membership, error) {
	return memberships(ctx, db.rq, "practice_id = ?", practiceID)
}

func memberships(ctx context.Context, q queryer, where string, arg any) ([]Membership, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, user_id, role, practice_id, organization_id, created_at FROM memberships WHERE "+where+" ORDER BY created_at, id", arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var at int64
		if err := rows.Scan(&m.ID, &m.UserID, &m.Role, &m.PracticeID, &m.OrganizationID, &at); err != nil {
			return nil, err
		}
		m.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddMembership gives a role to a user. Adding one the user already holds is a no-op.
func (tx *Tx) AddMembership(ctx context.Context, m *Membership) error {
	if !validRole(m.Role) {
		return fmt.Errorf("store: unknown role %q", m.Role)
	}
	if m.ID == "" {
		m.ID = NewID()
	}
	m.CreatedAt = tx.now
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (id, user_id, role, practice_id, organization_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, role, practice_id, organization_id) DO NOTHING`,
		m.ID, m.UserID, m.Role, m.PracticeID, m.OrganizationID, tx.now.Unix())
	return formatError(err)
}

// RemoveMembership takes a role away. Returns ErrNotFound if the user did not hold it.
func (tx *Tx) RemoveMembership(ctx context.Context, userID, role, practiceID, orgID string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM memberships WHERE user_id = ? AND role = ? AND practice_id = ? AND organization_id = ?", userID, role, practiceID, orgID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CountRole returns how many memberships of that role exist.
func (db *DB) CountRole(ctx context.Context, role string) (int, error) {
	var n int
	err := db.rq.QueryRowContext(ctx, "SELECT count(*) FROM memberships WHERE role = ?", role).Scan(&n)
	return n, err
}

// CountRole returns how many memberships of that role exist, inside the transaction.
func (tx *Tx) CountRole(ctx context.Context, role string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM memberships WHERE role = ?", role).Scan(&n)
	return n, err
}

// UsersWithRole returns the users holding role (any scope).
func (db *DB) UsersWithRole(ctx context.Context, role string) ([]*User, error) {
	return db.FindUsers(ctx, UserFilter{Role: role})
}

func validRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}
