package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"daraport/store"
)

// Meta keys under which the nightly backup records its last outcome.
const (
	metaBackupOK     = "backup.last_ok"
	metaBackupFailed = "backup.last_failed"
)

// backupRecord is what the system page shows of a backup run.
type backupRecord struct {
	At       time.Time `json:"at"`
	File     string    `json:"file,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`
	Millis   int64     `json:"ms,omitempty"`
	Copy     string    `json:"copy,omitempty"` // the second destination's file
	WithKey  bool      `json:"with_key,omitempty"`
	Error    string    `json:"error,omitempty"`
	Verified bool      `json:"verified,omitempty"`
}

// backupPrefix starts the name of every nightly backup; rotation only ever
// deletes files named so (never the pre-migration copies beside them).
const backupPrefix = "daraport-"

// backupDir is where nightly backups go: backup.dir, else data_dir/backups.
func (s *Server) backupDir() string {
	if s.cfg.Backup.Dir != "" {
		return s.cfg.Backup.Dir
	}
	return filepath.Join(s.cfg.Server.DataDir, "backups")
}

// nightlyBackup is the backup job: a consistent online copy (VACUUM INTO,
// safe while bookings go on), verified by integrity_check on the copy,
// copied to backup.copy_to and verified there too, then rotated to keep
// backup.keep in each destination. The outcome is recorded in meta for the
// system page. The at-rest key goes in only with backup.with_key.
func (s *Server) nightlyBackup(ctx context.Context, now time.Time) error {
	rec, err := s.runBackup(ctx, now)
	key, val := metaBackupOK, rec
	if err != nil {
		key, val = metaBackupFailed, backupRecord{At: now, Error: oneLine(err.Error())}
	}
	b, _ := json.Marshal(val)
	if uerr := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetMeta(ctx, key, string(b)); err != nil {
			return err
		}
		if key == metaBackupOK {
			// A later success clears the failure shown on the page.
			if err := tx.DeleteMeta(ctx, metaBackupFailed); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, &store.AuditEntry{Action: "backup." + map[bool]string{true: "done", false: "failed"}[err == nil], ObjectType: "backup", ObjectID: filepath.Base(rec.File)})
	}); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		s.log.Error("backup failed", "err", err)
		return err
	}
	s.log.Info("backup done", "file", rec.File, "bytes", rec.Bytes, "ms", rec.Millis)
	return nil
}

func (s *Server) runBackup(ctx context.Context, now time.Time) (backupRecord, error) {
	// One backup at a time (the job and the admin's button).
	if !s.ops.backupMu.TryLock() {
		return backupRecord{}, errors.New("a backup is already running")
	}
	defer s.ops.backupMu.Unlock()
	start := time.Now()
	dir := s.backupDir()
	name := backupPrefix + now.UTC().Format("20060102T150405.000Z") + ".db"
	dst := filepath.Join(dir, name)
	var key []byte
	if s.cfg.Backup.WithKey {
		k, err := store.LoadKey(s.cfg.Server.DataDir, s.cfg.Security.Key, false)
		if err != nil {
			return backupRecord{}, err
		}
		key = k
	}
	if err := s.db.Backup(ctx, dst, key); err != nil {
		return backupRecord{}, err
	}
	// Backup checked the copy before moving it into place; check the file
	// as it now lies on disk, as a restore would read it.
	if err := store.VerifyBackup(ctx, dst); err != nil {
		return backupRecord{}, fmt.Errorf("verify %s: %w", dst, err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return backupRecord{}, err
	}
	rec := backupRecord{At: now, File: dst, Bytes: fi.Size(), WithKey: key != nil, Verified: true}
	if err := rotateBackups(dir, s.cfg.Backup.Keep); err != nil {
		return rec, err
	}
	if to := s.cfg.Backup.CopyTo; to != "" {
		cp := filepath.Join(to, name)
		if err := copyBackup(dst, cp); err != nil {
			return rec, fmt.Errorf("backup.copy_to: %w", err)
		}
		if err := store.VerifyBackup(ctx, cp); err != nil {
			return rec, fmt.Errorf("backup.copy_to: verify %s: %w", cp, err)
		}
		if err := rotateBackups(to, s.cfg.Backup.Keep); err != nil {
			return rec, fmt.Errorf("backup.copy_to: %w", err)
		}
		rec.Copy = cp
	}
	rec.Millis = time.Since(start).Milliseconds()
	return rec, nil
}

// copyBackup copies a finished backup to the second destination: a private
// temporary file synced, then renamed, so a half-copied file never carries
// the final name.
func copyBackup(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".daraport-copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// rotateBackups keeps the newest keep nightly backups in dir. The names
// carry a sortable UTC time (to the millisecond, so two backups asked for
// in the same second do not collide), so name order is age order.
func rotateBackups(dir string, keep int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, ".db") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var errs []error
	for len(names) > keep {
		errs = append(errs, os.Remove(filepath.Join(dir, names[0])))
		names = names[1:]
	}
	return errors.Join(errs...)
}

// lastBackups returns the recorded last good backup and last failure
// (zero values when there is none).
func (s *Server) lastBackups(ctx context.Context) (ok, failed backupRecord) {
	if v, err := s.db.Meta(ctx, metaBackupOK); err == nil {
		_ = json.Unmarshal([]byte(v), &ok)
	}
	if v, err := s.db.Meta(ctx, metaBackupFailed); err == nil {
		_ = json.Unmarshal([]byte(v), &failed)
	}
	return ok, failed
}

// backupJob is the nightly backup's schedule (backup.at, server local
// time). With backup.at empty it still ticks daily but does nothing, so the
// job list stays one line per job.
func (s *Server) backupJob() job {
	var h, m int
	if _, err := fmt.Sscanf(s.cfg.Backup.At, "%d:%d", &h, &m); err != nil {
		return job{"backup.nightly", "@daily", func(context.Context, time.Time) error { return nil }}
	}
	return job{"backup.nightly", fmt.Sprintf("%d %d * * *", m, h), s.nightlyBackup}
}
