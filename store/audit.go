package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one line of the append-only, hash-chained audit log.
type AuditEntry struct {
	Seq        int64
	At         time.Time
	ActorID    string
	Action     string
	ObjectType string
	ObjectID   string
	IP         string
	Detail     string
	PrevHash   string
	Hash       string
}

// auditGenesis is the previous hash of the first entry.
const auditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

func (e *AuditEntry) computeHash() string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.Unix(), 10),
		e.ActorID, e.Action, e.ObjectType, e.ObjectID, e.IP, e.Detail} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends e in the caller's transaction, chained to the previous entry.
// The single writer connection makes the chain strictly sequential.
func (tx *Tx) Audit(ctx context.Context, e *AuditEntry) error {
	var prev string
	var seq int64
	err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&seq, &prev)
	if err != nil {
		if !errors.Is(formatError(err), ErrNotFound) {
			return err
		}
		prev, seq = auditGenesis, 0
	}
	e.Seq, e.PrevHash, e.At = seq+1, prev, tx.now
	e.Hash = e.computeHash()
	_, err = tx.ExecContext(ctx, "INSERT INTO audit (seq, at, actor_id, action, object_type, object_id, ip, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.Seq, tx.now.Unix(), e.ActorID, e.Action, e.ObjectType, e.ObjectID, e.IP, e.Detail, e.PrevHash, e.Hash)
	return err
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	ActorID  string
	Action   string // prefix, e.g. "auth."
	ObjectID string
	Since    time.Time
	Until    time.Time
	Before   int64 // seq cursor: entries with seq < Before
	Limit    int
}

// FindAudit returns entries matching f, newest first.
func (db *DB) FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error) {
	where, args := []string{"1=1"}, []any{}
	if f.ActorID != "" {
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID)
	}
	if f.Action != "" {
		where, args = append(where, "action LIKE ? ESCAPE '\\'"), append(args, escapeLike(f.Action)+"%")
	}
	if f.ObjectID != "" {
		where, args = append(where, "object_id = ?"), append(args, f.ObjectID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.Unix())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, f.Until.Unix())
	}
	if f.Before > 0 {
		where, args = append(where, "seq < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	args = append(args, limit)
	rows, err := db.rq.QueryContext(ctx, "SELECT seq, at, actor_id, action, object_type, object_id, ip, detail, prev_hash, hash FROM audit WHERE "+
		strings.Join(where, " AND ")+" ORDER BY seq DESC LIMIT ?", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.Action, &e.ObjectType, &e.ObjectID, &e.IP, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

// VerifyAudit walks the whole chain and returns the number of entries checked,
// or an error naming the first entry whose hash or link does not verify.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT seq, at, actor_id, action, object_type, object_id, ip, detail, prev_hash, hash FROM audit ORDER BY seq")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	prev, n := auditGenesis, 0
	var expectSeq int64 = 1
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.Action, &e.ObjectType, &e.ObjectID, &e.IP, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return n, err
		}
		e.At = time.Unix(at, 0).UTC()
		if e.Seq != expectSeq {
			return n, fmt.Errorf("audit entry %d missing", expectSeq)
		}
		if e.PrevHash != prev || e.computeHash() != e.Hash {
			return n, fmt.Errorf("audit entry %d does not verify", e.Seq)
		}
		prev, expectSeq = e.Hash, expectSeq+1
		n++
	}
	return n, rows.Err()
}
