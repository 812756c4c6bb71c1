package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"daraport/store"
)

type accountPage struct {
	*Page
	Name     string
	Locale   string
	TimeZone string
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	p := &accountPage{Page: s.newPage(w, r, "account.title"), Name: a.User.Name, Locale: a.User.Locale, TimeZone: a.User.TimeZone}
	if p.TimeZone == "" {
		p.TimeZone = s.cfg.Server.TimeZone
	}
	s.render(w, r, http.StatusOK, "account", p)
}

func (s *Server) handleAccountSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &accountPage{Page: s.newPage(w, r, "account.title"), Locale: r.PostFormValue("locale"), TimeZone: strings.TrimSpace(r.PostFormValue("time_zone"))}
	var msg string
	if p.Name, msg = cleanName(r.PostFormValue("name")); msg != "" {
		p.fail("name", msg)
	}
	if supported(p.Locale) == "" {
		p.fail("locale", "error.locale")
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "" || p.TimeZone == "Local" {
		p.fail("time_zone", "error.time_zone")
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "account", p)
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateUser(ctx, a.User.ID, store.UserUpdate{Name: &p.Name, Locale: &p.Locale, TimeZone: &p.TimeZone}); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "account.updated", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setLangCookie(w, p.Locale)
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// handlePasswordChange changes the password (the current one is asked) and
// ends every other session of the account.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &accountPage{Page: s.newPage(w, r, "account.title"), Name: a.User.Name, Locale: a.User.Locale, TimeZone: a.User.TimeZone}
	if ok, _ := checkPassword(a.User.PasswordHash, r.PostFormValue("current")); !ok {
		p.fail("current", "error.bad_password")
	}
	pw := r.PostFormValue("password")
	checkNewPassword(p.Page, pw, r.PostFormValue("password2"), a.User.Email, a.User.Name)
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "account", p)
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateUser(ctx, a.User.ID, store.UserUpdate{PasswordHash: &hash}); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(ctx, a.User.ID, a.Session.ID); err != nil {
			return err
		}
		m := s.mailerFor(a.User.Locale)
		if err := s.enqueue(ctx, tx, a.User.Email, "password_changed", m.compose("password_changed", a.User.Name, s.link("/reset", nil))); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "auth.password_changed", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.password_changed")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

type sessionsPage struct {
	*Page
	Sessions []*store.Session
	Current  string
}

// SessionKey is the public handle of a session: a prefix of its id hash,
// enough to name it in a form, useless to resume it.
func (p *sessionsPage) SessionKey(sess *store.Session) string { return sess.ID[:16] }

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	list, err := s.db.UserSessions(r.Context(), a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &sessionsPage{Page: s.newPage(w, r, "sessions.title"), Sessions: list, Current: a.Session.ID}
	s.render(w, r, http.StatusOK, "sessions", p)
}

func (s *Server) handleSessionRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	key := r.PathValue("id")
	list, err := s.db.UserSessions(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var target *store.Session
	for _, sess := range list {
		if len(key) == 16 && strings.HasPrefix(sess.ID, key) {
			target = sess
		}
	}
	if target == nil {
		s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteSession(ctx, a.User.ID, target.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "auth.session_revoked", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	if target.ID == a.Session.ID {
		s.clearSessionCookie(w)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	setFlash(w, "flash.session_revoked")
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}

func (s *Server) handleSessionRevokeOthers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.DeleteUserSessions(ctx, a.User.ID, a.Session.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "auth.sessions_revoked", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.session_revoked")
	http.Redirect(w, r, "/account/sessions", http.StatusSeeOther)
}

type totpPage struct {
	*Page
	Enabled bool
	Secret  string
	QR      template.URL
}

func (s *Server) handleTOTP(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	p := &totpPage{Page: s.newPage(w, r, "totp.title"), Enabled: !a.User.TOTPEnabledAt.IsZero()}
	if !p.Enabled {
		if err := s.newTOTPSecret(p, a.User.Email); err != nil {
			s.error(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "totp", p)
}

func (s *Server) newTOTPSecret(p *totpPage, account string) error {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Brand.Name, AccountName: account})
	if err != nil {
		return err
	}
	return s.totpPageKey(p, key)
}

func (s *Server) totpPageKey(p *totpPage, key *otp.Key) error {
	img, err := key.Image(200, 200)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	p.Secret = key.Secret()
	p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
	return nil
}

// handleTOTPEnable turns two-factor sign-in on once the person proves their
// app produces the right code for the secret shown, and their password.
func (s *Server) handleTOTPEnable(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &totpPage{Page: s.newPage(w, r, "totp.title")}
	secret := strings.TrimSpace(r.PostFormValue("secret"))
	if !a.User.TOTPEnabledAt.IsZero() {
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
		return
	}
	if ok, _ := checkPassword(a.User.PasswordHash, r.PostFormValue("current")); !ok {
		p.fail("current", "error.bad_password")
	} else if ok, _ := s.validTOTP(a.User.ID, secret, r.PostFormValue("code")); !ok {
		// The code is checked (and spent) only once the password is right.
		p.fail("code", "error.bad_totp")
	}
	if p.failed() {
		key, err := otp.NewKeyFromURL("otpauth://totp/" + s.cfg.Brand.Name + ":" + a.User.Email + "?secret=" + secret + "&issuer=" + s.cfg.Brand.Name)
		if err != nil || len(secret) < 16 {
			err = s.newTOTPSecret(p, a.User.Email)
		} else {
			err = s.totpPageKey(p, key)
		}
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.render(w, r, http.StatusUnprocessableEntity, "totp", p)
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetTOTP(ctx, a.User.ID, secret, true); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "auth.2fa_enabled", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.totp_enabled")
	http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
}

func (s *Server) handleTOTPDisable(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &totpPage{Page: s.newPage(w, r, "totp.title"), Enabled: true}
	if ok, _ := checkPassword(a.User.PasswordHash, r.PostFormValue("current")); !ok {
		p.fail("current", "error.bad_password")
	} else {
		ok, err := s.checkTOTP(ctx, a.User.ID, r.PostFormValue("code"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !ok {
			p.fail("code", "error.bad_totp")
		}
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "totp", p)
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SetTOTP(ctx, a.User.ID, "", false); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "auth.2fa_disabled", "user", a.User.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.totp_disabled")
	http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
}

// checkTOTP checks a code against the user's stored secret.
func (s *Server) checkTOTP(ctx context.Context, userID, code string) (bool, error) {
	secret, err := s.db.TOTPSecret(ctx, userID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if secret == "" {
		return false, nil
	}
	return s.validTOTP(userID, secret, code)
}

// validTOTP accepts a 6-digit code for the current 30 s step or one step
// either side (clock drift), once.
func (s *Server) validTOTP(userID, secret, code string) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 || secret == "" {
		return false, nil
	}
	now := s.clock()
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, skew := range []int{0, -1, 1} {
		t := now.Add(time.Duration(skew) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, opts)
		if err != nil {
			return false, nil
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step := t.Unix() / 30
			if last, ok := s.totpUsed.Load(userID); ok && last.(int64) >= step {
				return false, nil
			}
			s.totpUsed.Store(userID, step)
			return true, nil
		}
	}
	return false, nil
}
