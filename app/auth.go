package app

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"daraport/store"
)

// authFloor is how long sign-in, registration and reset answers take at
// least, whatever happened: known and unknown e-mails cannot be told apart
// by timing.
const authFloor = 300 * time.Millisecond

// Token lifetimes.
const (
	verifyTTL = 48 * time.Hour
	resetTTL  = time.Hour
)

// authPage is the data of the sign-in, registration, reset and 2FA pages.
type authPage struct {
	*Page
	Next     string
	Name     string
	Email    string
	Remember bool
	Token    string
	Captcha  challenge
	Done     bool
}

func (s *Server) newAuthPage(w http.ResponseWriter, r *http.Request, titleID string) (*authPage, error) {
	p := &authPage{Page: s.newPage(w, r, titleID), Next: safeNext(r.FormValue("next"))}
	return p, nil
}

func (s *Server) withCaptcha(p *authPage) error {
	c, err := s.captcha.new()
	p.Captcha = c
	return err
}

// padTo sleeps until start+authFloor.
func padTo(start time.Time) {
	if d := time.Until(start.Add(authFloor)); d > 0 {
		time.Sleep(d)
	}
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	p, _ := s.newAuthPage(w, r, "register.title")
	if err := s.withCaptcha(p); err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "register", p)
}

// cleanName trims a person's name and reports the catalogue id of what is
// wrong with it, if anything. Names may hold any letters, emoji or
// right-to-left text; control characters and over-long names are refused.
func cleanName(v string) (string, string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, "error.name_required"
	}
	if utf8.RuneCountInString(v) > 100 {
		return v, "error.name_long"
	}
	if !utf8.ValidString(v) {
		return v, "error.name_invalid"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return v, "error.name_invalid"
		}
	}
	return v, ""
}

// cleanEmail normalises an e-mail address and reports what is wrong with it.
func cleanEmail(v string) (string, string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, "error.email_required"
	}
	if len(v) > 254 {
		return v, "error.email_invalid"
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || !strings.Contains(v[strings.LastIndex(v, "@")+1:], ".") {
		return v, "error.email_invalid"
	}
	return v, ""
}

func (s *Server) handleRegisterSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	p, _ := s.newAuthPage(w, r, "register.title")
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	var msg string
	p.Name, msg = cleanName(r.PostFormValue("name"))
	if msg != "" {
		p.fail("name", msg)
	}
	p.Email, msg = cleanEmail(r.PostFormValue("email"))
	if msg != "" {
		p.fail("email", msg)
	} else if !strings.EqualFold(p.Email, strings.TrimSpace(r.PostFormValue("email2"))) {
		p.fail("email2", "error.emails_differ")
	}
	pw := r.PostFormValue("password")
	checkNewPassword(p.Page, pw, r.PostFormValue("password2"), p.Email, p.Name)
	if s.cfg.Security.Registration == "closed" {
		p.Error = p.T("error.registration_closed")
	}
	if !p.failed() && !s.captcha.verify(r.PostFormValue("altcha"), r.PostFormValue("captcha_token"), r.PostFormValue("captcha_answer")) {
		p.fail("captcha", "error.captcha")
	}
	if !p.failed() && s.limits.anonIP.hit("register:"+s.clientIP(r)) {
		p.Error = p.T("error.rate_limited")
		padTo(start)
		_ = s.withCaptcha(p)
		s.render(w, r, http.StatusTooManyRequests, "register", p)
		return
	}
	if p.failed() {
		_ = s.withCaptcha(p)
		s.render(w, r, http.StatusUnprocessableEntity, "register", p)
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		existing, err := tx.FindUserByEmail(ctx, p.Email)
		switch {
		case err == nil:
			// No enumeration: the page says the same; the owner of the
			// address is told someone tried, with a way to reset.
			m := s.mailerFor(existing.Locale)
			return s.enqueue(ctx, tx, existing.Email, "account_exists",
				m.compose("account_exists", existing.Name, s.link("/reset", nil)))
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		u := &store.User{Email: p.Email, Name: p.Name, PasswordHash: hash, Locale: p.Lang, TimeZone: s.cfg.Server.TimeZone}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RolePatient}); err != nil {
			return err
		}
		if err := s.sendVerification(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, u.ID, "auth.register", "user", u.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	padTo(start)
	p.Done = true
	s.render(w, r, http.StatusOK, "register", p)
}

// sendVerification enqueues a new address-verification e-mail.
func (s *Server) sendVerification(ctx context.Context, tx *store.Tx, u *store.User) error {
	token, err := tx.CreateEmailToken(ctx, u.ID, store.PurposeVerify, verifyTTL)
	if err != nil {
		return err
	}
	m := s.mailerFor(u.Locale)
	return s.enqueue(ctx, tx, u.Email, "verify", m.compose("verify", u.Name, s.link("/verify", url.Values{"token": {token}})))
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	p, _ := s.newAuthPage(w, r, "verify.title")
	p.Token = r.URL.Query().Get("token")
	if _, err := s.db.CheckEmailToken(r.Context(), p.Token, store.PurposeVerify); err != nil {
		s.tokenError(w, r, err, "error.verify_link")
		return
	}
	s.render(w, r, http.StatusOK, "verify", p)
}

// tokenError answers a bad e-mail link: unknown, used or expired.
func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, err error, msgID string) {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		s.error(w, r, errorf(ECodeBadRequest, msgID))
		return
	}
	s.error(w, r, err)
}

func (s *Server) handleVerifySubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PostFormValue("token")
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		uid, err := tx.UseEmailToken(ctx, token, store.PurposeVerify)
		if err != nil {
			return err
		}
		now := tx.Now()
		if err := tx.UpdateUser(ctx, uid, store.UserUpdate{EmailVerifiedAt: &now}); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, uid, "auth.email_verified", "user", uid, "")
	})
	if err != nil {
		s.tokenError(w, r, err, "error.verify_link")
		return
	}
	setFlash(w, "flash.verified")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	p, _ := s.newAuthPage(w, r, "login.title")
	if actorFrom(r) != nil {
		http.Redirect(w, r, p.Next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", p)
}

func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	p, _ := s.newAuthPage(w, r, "login.title")
	p.Email = strings.TrimSpace(r.PostFormValue("email"))
	p.Remember = r.PostFormValue("remember") != ""
	pw := r.PostFormValue("password")
	ip := s.clientIP(r)
	acct := strings.ToLower(p.Email)
	fail := func(status int, msgID string) {
		padTo(start)
		p.Error = p.T(msgID)
		s.render(w, r, status, "login", p)
	}
	if s.limits.loginIP.blocked(ip) || s.limits.loginAccount.blocked(acct) {
		w.Header().Set("Retry-After", "900")
		fail(http.StatusTooManyRequests, "error.too_many_attempts")
		return
	}
	u, err := s.db.FindUserByEmail(ctx, p.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	hash := s.dummy
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, _ := checkPassword(hash, pw)
	if u == nil || !ok || pw == "" {
		s.limits.loginIP.hit(ip)
		s.limits.loginAccount.hit(acct)
		actor, obj := "", ""
		if u != nil {
			actor, obj = u.ID, u.ID
		}
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, actor, "auth.login_failed", "user", obj, "")
		})
		fail(http.StatusUnauthorized, "error.bad_credentials")
		return
	}
	if !u.DisabledAt.IsZero() {
		fail(http.StatusForbidden, "error.account_disabled")
		return
	}
	if u.EmailVerifiedAt.IsZero() {
		if !s.limits.resetAccount.hit("verify:" + acct) {
			_ = s.db.Update(ctx, func(tx *store.Tx) error { return s.sendVerification(ctx, tx, u) })
		}
		fail(http.StatusForbidden, "error.email_unverified")
		return
	}
	s.limits.loginAccount.clear(acct)
	mfa := !u.TOTPEnabledAt.IsZero()
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		s.dropCurrentSession(ctx, tx, r)
		if _, err := s.startSession(ctx, w, r, tx, u, p.Remember, mfa); err != nil {
			return err
		}
		action := "auth.login"
		if mfa {
			action = "auth.login_password_ok"
		}
		return s.audit(ctx, tx, r, u.ID, action, "user", u.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	padTo(start)
	if mfa {
		http.Redirect(w, r, "/login/2fa?next="+url.QueryEscape(p.Next), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

// dropCurrentSession ends the session the request came with, if any, so a
// sign-in always starts from a fresh session id.
func (s *Server) dropCurrentSession(ctx context.Context, tx *store.Tx, r *http.Request) {
	for _, a := range []*Actor{actorFrom(r), pendingFrom(r)} {
		if a != nil && a.Session != nil {
			_ = tx.DeleteSession(ctx, a.User.ID, a.Session.ID)
		}
	}
}

func (s *Server) handleLogin2FA(w http.ResponseWriter, r *http.Request) {
	if pendingFrom(r) == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p, _ := s.newAuthPage(w, r, "login2fa.title")
	s.render(w, r, http.StatusOK, "login2fa", p)
}

func (s *Server) handleLogin2FASubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pa := pendingFrom(r)
	if pa == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p, _ := s.newAuthPage(w, r, "login2fa.title")
	acct := strings.ToLower(pa.User.Email)
	if s.limits.loginAccount.blocked(acct) {
		p.Error = p.T("error.too_many_attempts")
		s.render(w, r, http.StatusTooManyRequests, "login2fa", p)
		return
	}
	ok, err := s.checkTOTP(ctx, pa.User.ID, r.PostFormValue("code"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !ok {
		s.limits.loginAccount.hit(acct)
		s.limits.loginIP.hit(s.clientIP(r))
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, pa.User.ID, "auth.2fa_failed", "user", pa.User.ID, "")
		})
		p.Error = p.T("error.bad_totp")
		s.render(w, r, http.StatusUnauthorized, "login2fa", p)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CompleteMFA(ctx, pa.Session.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, pa.User.ID, "auth.login", "user", pa.User.ID, "2fa")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.limits.loginAccount.clear(acct)
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	if a == nil {
		a = pendingFrom(r)
	}
	if a != nil && a.Session != nil {
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.DeleteSession(ctx, a.User.ID, a.Session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return s.audit(ctx, tx, r, a.User.ID, "auth.logout", "user", a.User.ID, "")
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w)
	setFlash(w, "flash.signed_out")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	p, _ := s.newAuthPage(w, r, "reset.title")
	s.render(w, r, http.StatusOK, "reset", p)
}

func (s *Server) handleResetSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	p, _ := s.newAuthPage(w, r, "reset.title")
	var msg string
	p.Email, msg = cleanEmail(r.PostFormValue("email"))
	if msg != "" {
		p.fail("email", msg)
		s.render(w, r, http.StatusUnprocessableEntity, "reset", p)
		return
	}
	acct := strings.ToLower(p.Email)
	if s.limits.anonIP.hit("reset:"+s.clientIP(r)) || s.limits.resetAccount.hit("reset:"+acct) {
		padTo(start)
		p.Error = p.T("error.rate_limited")
		s.render(w, r, http.StatusTooManyRequests, "reset", p)
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.FindUserByEmail(ctx, p.Email)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !u.DisabledAt.IsZero() {
			return nil
		}
		token, err := tx.CreateEmailToken(ctx, u.ID, store.PurposeReset, resetTTL)
		if err != nil {
			return err
		}
		m := s.mailerFor(u.Locale)
		if err := s.enqueue(ctx, tx, u.Email, "reset", m.compose("reset", u.Name, s.link("/reset/confirm", url.Values{"token": {token}}))); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, u.ID, "auth.reset_requested", "user", u.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	padTo(start)
	p.Done = true
	s.render(w, r, http.StatusOK, "reset", p)
}

func (s *Server) handleResetConfirm(w http.ResponseWriter, r *http.Request) {
	p, _ := s.newAuthPage(w, r, "reset_confirm.title")
	p.Token = r.URL.Query().Get("token")
	if _, err := s.db.CheckEmailToken(r.Context(), p.Token, store.PurposeReset); err != nil {
		s.tokenError(w, r, err, "error.reset_link")
		return
	}
	s.render(w, r, http.StatusOK, "reset_confirm", p)
}

func (s *Server) handleResetConfirmSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, _ := s.newAuthPage(w, r, "reset_confirm.title")
	p.Token = r.PostFormValue("token")
	uid, err := s.db.CheckEmailToken(ctx, p.Token, store.PurposeReset)
	if err != nil {
		s.tokenError(w, r, err, "error.reset_link")
		return
	}
	u, err := s.db.FindUserByID(ctx, uid)
	if err != nil {
		s.error(w, r, err)
		return
	}
	pw := r.PostFormValue("password")
	checkNewPassword(p.Page, pw, r.PostFormValue("password2"), u.Email, u.Name)
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "reset_confirm", p)
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.UseEmailToken(ctx, p.Token, store.PurposeReset); err != nil {
			return err
		}
		upd := store.UserUpdate{PasswordHash: &hash}
		if u.EmailVerifiedAt.IsZero() {
			now := tx.Now()
			upd.EmailVerifiedAt = &now // the link proves control of the address
		}
		if err := tx.UpdateUser(ctx, uid, upd); err != nil {
			return err
		}
		if _, err := tx.DeleteUserSessions(ctx, uid, ""); err != nil {
			return err
		}
		m := s.mailerFor(u.Locale)
		if err := s.enqueue(ctx, tx, u.Email, "password_changed", m.compose("password_changed", u.Name, s.link("/reset", nil))); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, uid, "auth.password_reset", "user", uid, "")
	})
	if err != nil {
		s.tokenError(w, r, err, "error.reset_link")
		return
	}
	s.clearSessionCookie(w)
	setFlash(w, "flash.password_reset")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// audit appends an audit entry in tx for the request.
func (s *Server) audit(ctx context.Context, tx *store.Tx, r *http.Request, actorID, action, objType, objID, detail string) error {
	ip := ""
	if r != nil {
		ip = s.clientIP(r)
	}
	return tx.Audit(ctx, &store.AuditEntry{ActorID: actorID, Action: action, ObjectType: objType, ObjectID: objID, IP: ip, Detail: detail})
}
