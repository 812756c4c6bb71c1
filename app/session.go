package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"daraport/store"
)

// Browser sessions: gorilla/sessions signs and encrypts the cookie, which
// carries only a random token; the session itself lives in the database
// (under the token's hash), so the server can list and revoke it. The token
// is new at every sign-in (no fixation).
const sessionCookie = "daraport"

type ctxKey int

const actorKey ctxKey = iota

func actorFrom(r *http.Request) *Actor {
	a, _ := r.Context().Value(actorKey).(*Actor)
	return a
}

func withActor(r *http.Request, a *Actor) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), actorKey, a))
}

// newCookieStore is made once: every request decodes its cookie with it.
// Its Options are never changed afterwards; each session gets its own copy.
func (s *Server) newCookieStore() *sessions.CookieStore {
	cs := sessions.NewCookieStore(s.keys.cookieHash, s.keys.cookieBlock)
	cs.Options = &sessions.Options{Path: "/", HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode}
	cs.MaxAge(int(s.cfg.Security.RememberLifetime.Duration / time.Second))
	return cs
}

func (s *Server) secureCookies() bool {
	return s.cfg.TLS.Mode != "off" || strings.HasPrefix(s.cfg.Server.BaseURL, "https://")
}

// startSession signs the user in: a new session row and a new cookie.
// remember keeps it across browser restarts for security.remember_lifetime.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, tx *store.Tx, u *store.User, remember, mfaPending bool) (*store.Session, error) {
	token, hash := store.NewToken()
	life := s.cfg.Security.SessionLifetime.Duration
	if remember {
		life = s.cfg.Security.RememberLifetime.Duration
	}
	sess := &store.Session{ID: hash, UserID: u.ID, Remember: remember, MFAPending: mfaPending,
		ExpiresAt: tx.Now().Add(life), IP: s.clientIP(r), UserAgent: truncate(r.UserAgent(), 200)}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	cs := s.cookies
	opts := *cs.Options
	opts.MaxAge = 0 // a browser-session cookie unless remembered
	if remember {
		opts.MaxAge = int(life / time.Second)
	}
	gs := sessions.NewSession(cs, sessionCookie)
	gs.Options = &opts
	gs.IsNew = true
	gs.Values["t"] = token
	if err := cs.Save(r, w, gs); err != nil {
		return nil, err
	}
	return sess, nil
}

// clearSessionCookie removes the cookie from the browser.
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

// loadSession finds the live session behind the request's cookie; nil when
// there is none or it ended (expired, idle too long, account disabled).
func (s *Server) loadSession(w http.ResponseWriter, r *http.Request) *Actor {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	gs, err := s.cookies.New(r, sessionCookie)
	if err != nil {
		s.clearSessionCookie(w)
		return nil
	}
	token, _ := gs.Values["t"].(string)
	if token == "" {
		return nil
	}
	ctx := r.Context()
	sess, err := s.db.FindSession(ctx, store.HashToken(token))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("find session", "err", err)
		}
		s.clearSessionCookie(w)
		return nil
	}
	now := s.clock()
	if !now.Before(sess.ExpiresAt) {
		s.endSession(ctx, sess)
		s.clearSessionCookie(w)
		return nil
	}
	u, err := s.db.FindUserByID(ctx, sess.UserID)
	if err != nil || !u.DisabledAt.IsZero() {
		s.endSession(ctx, sess)
		s.clearSessionCookie(w)
		return nil
	}
	ms, err := s.db.Memberships(ctx, u.ID)
	if err != nil {
		s.log.Error("memberships", "err", err)
		return nil
	}
	a := &Actor{User: u, Memberships: ms, Session: sess}
	if a.IsStaff() && now.Sub(sess.LastSeenAt) > s.cfg.Security.StaffIdleTimeout.Duration {
		s.endSession(ctx, sess)
		s.clearSessionCookie(w)
		setFlash(w, "flash.idle_timeout")
		return nil
	}
	// Record activity at most once a minute: one write per request would
	// serialise every page view behind the single writer.
	if now.Sub(sess.LastSeenAt) > time.Minute {
		if err := s.db.TouchSession(ctx, sess.ID, time.Time{}); err != nil {
			s.log.Warn("touch session", "err", err)
		}
	}
	return a
}

func (s *Server) endSession(ctx context.Context, sess *store.Session) {
	err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteSession(ctx, sess.UserID, sess.ID) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("end session", "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
