package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"daraport/store"
)

// First run: until an admin exists, the server prints a one-time setup link
// with a code at start; whoever opens it (and only with the code) creates the
// first admin, optionally with their own practitioner practice.

const setupMetaKey = "setup_code_hash"

// setupDone tells whether an admin exists. Once true it stays true for the
// life of the process, so the check costs nothing afterwards.
func (s *Server) setupDone(ctx context.Context) bool {
	if s.setupOK.Load() {
		return true
	}
	n, err := s.db.CountRole(ctx, store.RoleAdmin)
	if err != nil {
		s.log.Error("count admins", "err", err)
		return false
	}
	if n > 0 {
		s.setupOK.Store(true)
	}
	return n > 0
}

// announceSetup makes a new setup code when the installation has no admin
// and prints the link to out.
func (s *Server) announceSetup(ctx context.Context, out io.Writer) error {
	if s.setupDone(ctx) {
		return nil
	}
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	code := strings.ToLower(base32.StdEncoding.EncodeToString(b))
	err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetMeta(ctx, setupMetaKey, store.HashToken(code)) })
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "\nDaraport is not set up yet. Open this link to create the first administrator:\n\n    %s\n\n",
		s.link("/setup", url.Values{"code": {code}}))
	return err
}

type setupPage struct {
	*Page
	Code, Name, Email, PracticeName string
	Practitioner                    bool
}

func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	if s.setupDone(r.Context()) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p := &setupPage{Page: s.newPage(w, r, "setup.title"), Code: r.URL.Query().Get("code")}
	s.render(w, r, http.StatusOK, "setup", p)
}

func (s *Server) handleSetupSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.setupDone(ctx) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	start := time.Now()
	p := &setupPage{Page: s.newPage(w, r, "setup.title"), Code: strings.TrimSpace(r.PostFormValue("code")),
		Practitioner: r.PostFormValue("practitioner") != "", PracticeName: strings.TrimSpace(r.PostFormValue("practice_name"))}
	want, err := s.db.Meta(ctx, setupMetaKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	if s.limits.anonIP.hit("setup:" + s.clientIP(r)) {
		padTo(start)
		p.Error = p.T("error.rate_limited")
		s.render(w, r, http.StatusTooManyRequests, "setup", p)
		return
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(store.HashToken(p.Code)), []byte(want)) != 1 {
		padTo(start)
		p.fail("code", "error.setup_code")
		s.render(w, r, http.StatusForbidden, "setup", p)
		return
	}
	var msg string
	if p.Name, msg = cleanName(r.PostFormValue("name")); msg != "" {
		p.fail("name", msg)
	}
	if p.Email, msg = cleanEmail(r.PostFormValue("email")); msg != "" {
		p.fail("email", msg)
	}
	pw := r.PostFormValue("password")
	checkNewPassword(p.Page, pw, r.PostFormValue("password2"), p.Email, p.Name)
	if p.Practitioner {
		if p.PracticeName == "" {
			p.PracticeName = p.Name
		}
		if _, m := cleanName(p.PracticeName); m != "" {
			p.fail("practice_name", m)
		}
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "setup", p)
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		u := &store.User{Email: p.Email, Name: p.Name, PasswordHash: hash, Locale: p.Lang, TimeZone: s.cfg.Server.TimeZone, EmailVerifiedAt: tx.Now()}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		for _, role := range []string{store.RoleAdmin, store.RolePatient} {
			if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: role}); err != nil {
				return err
			}
		}
		if p.Practitioner {
			pr := &store.Practice{Name: p.PracticeName, TimeZone: s.cfg.Server.TimeZone, Status: store.PracticeVerified}
			if err := tx.CreatePractice(ctx, pr); err != nil {
				return err
			}
			if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RolePractitioner, PracticeID: pr.ID}); err != nil {
				return err
			}
		}
		if err := tx.DeleteMeta(ctx, setupMetaKey); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, r, u.ID, "setup.completed", "user", u.ID, ""); err != nil {
			return err
		}
		_, err := s.startSession(ctx, w, r, tx, u, false, false)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		p.fail("email", "error.email_taken_setup")
		s.render(w, r, http.StatusUnprocessableEntity, "setup", p)
		return
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setupOK.Store(true)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}
