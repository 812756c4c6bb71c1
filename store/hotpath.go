package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The two reads every API booking starts with, each as one query: a
// booking under a race is mostly reads, and each query costs a round
// through database/sql and the SQLite VM whatever its size.

// columnCount counts the columns of a column list, ignoring commas inside
// parentheses (COALESCE(x, ”)).
func columnCount(cols string) int {
	n, depth := 1, 0
	for _, r := range cols {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				n++
			}
		}
	}
	return n
}

var (
	nSlotColumns     = columnCount(slotColumns)
	nPracticeColumns = columnCount(practiceColumns)
	nTypeColumns     = columnCount(typeColumns)
	nUserColumns     = columnCount(userColumns)
)

// FindBookingTarget returns a slot, its practice and the appointment type
// typeID when that type belongs to the same practice (else a nil type), in
// one read. Returns ErrNotFound when the slot does not exist.
func (db *DB) FindBookingTarget(ctx context.Context, slotID, typeID string) (*Slot, *Practice, *AppointmentType, error) {
	// The practice and the type rarely change: when both are cached at
	// the current epoch (targetcache.go) only the slot is read.
	epoch := db.targetEpoch.Load()
	if typ := db.targets.typ(typeID, epoch); typ != nil {
		sl, err := db.findSlot(ctx, slotID)
		if err != nil {
			return nil, nil, nil, err
		}
		if p := db.targets.practice(sl.PracticeID, epoch); p != nil {
			if typ.PracticeID != p.ID {
				typ = nil
			}
			return sl, p, typ, nil
		}
	}
	sl, p, typ, err := db.findBookingTarget(ctx, slotID, typeID)
	if err == nil {
		db.targets.put(p, typ, epoch)
	}
	return sl, p, typ, err
}

// findSlot reads one slot.
func (db *DB) findSlot(ctx context.Context, id string) (*Slot, error) {
	var sl Slot
	var st, en int64
	err := db.rq.QueryRowContext(ctx, `SELECT `+slotColumns+` FROM slots WHERE id = ?`, id).
		Scan(&sl.ID, &sl.PracticeID, &st, &en, &sl.LocationID, &sl.Day, &sl.State, &sl.AppointmentID, &sl.BlockID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	sl.Start, sl.End = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC()
	return &sl, nil
}

func (db *DB) findBookingTarget(ctx context.Context, slotID, typeID string) (*Slot, *Practice, *AppointmentType, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT * FROM (SELECT `+slotColumns+` FROM slots WHERE id = ?) s
		JOIN (SELECT `+practiceColumns+` FROM practices) p ON p.id = s.practice_id
		LEFT JOIN (SELECT `+typeColumns+` FROM appointment_types WHERE id = ?) t ON t.practice_id = s.practice_id`, slotID, typeID)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, ErrNotFound
	}
	v, err := scanValues(rows, nSlotColumns+nPracticeColumns+nTypeColumns)
	if err != nil {
		return nil, nil, nil, err
	}
	var sl Slot
	var st, en int64
	if err := v[:nSlotColumns].Scan(&sl.ID, &sl.PracticeID, &st, &en, &sl.LocationID, &sl.Day, &sl.State, &sl.AppointmentID, &sl.BlockID); err != nil {
		return nil, nil, nil, err
	}
	sl.Start, sl.End = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC()
	p, err := scanPractice(v[nSlotColumns : nSlotColumns+nPracticeColumns])
	if err != nil {
		return nil, nil, nil, err
	}
	var typ *AppointmentType
	if tv := v[nSlotColumns+nPracticeColumns:]; tv[0] != nil {
		if typ, err = scanType(tv); err != nil {
			return nil, nil, nil, err
		}
	}
	return &sl, p, typ, rows.Err()
}

// FindAPIActor returns the live token with that secret, its user and the
// user's memberships in one read. Returns ErrNotFound for an unknown or
// revoked token. A disabled user is returned: the caller refuses it.
func (db *DB) FindAPIActor(ctx context.Context, secret string) (*APIToken, *User, []Membership, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT t.id, t.user_id, t.name, t.created_at, t.last_used_at, u.*,
		(SELECT json_group_array(json_array(m.id, m.role, m.practice_id, m.organization_id, m.created_at) ORDER BY m.created_at, m.id)
			FROM memberships m WHERE m.user_id = t.user_id)
		FROM api_tokens t JOIN (SELECT `+userColumns+` FROM users) u ON u.id = t.user_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL`, HashToken(secret))
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, ErrNotFound
	}
	v, err := scanValues(rows, 5+nUserColumns+1)
	if err != nil {
		return nil, nil, nil, err
	}
	var t APIToken
	var c int64
	var l sql.NullInt64
	if err := v[:5].Scan(&t.ID, &t.UserID, &t.Name, &c, &l); err != nil {
		return nil, nil, nil, err
	}
	t.CreatedAt, t.LastUsedAt = time.Unix(c, 0).UTC(), fromUnix(l)
	u, err := scanUser(v[5 : 5+nUserColumns])
	if err != nil {
		return nil, nil, nil, err
	}
	var raw string
	if err := assignValue(&raw, v[5+nUserColumns]); err != nil {
		return nil, nil, nil, err
	}
	var list [][]any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, nil, nil, fmt.Errorf("store: memberships of %s: %w", u.ID, err)
	}
	ms := make([]Membership, 0, len(list))
	for _, e := range list {
		if len(e) != 5 {
			return nil, nil, nil, fmt.Errorf("store: memberships of %s: damaged", u.ID)
		}
		m := Membership{UserID: u.ID}
		m.ID, _ = e[0].(string)
		m.Role, _ = e[1].(string)
		m.PracticeID, _ = e[2].(string)
		m.OrganizationID, _ = e[3].(string)
		at, _ := e[4].(float64)
		m.CreatedAt = time.Unix(int64(at), 0).UTC()
		ms = append(ms, m)
	}
	return &t, u, ms, rows.Err()
}
