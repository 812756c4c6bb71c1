package app

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/store"
)

// Secretaries (seed 004 "Gestion des Secrétaires de l'officine") and the
// general mailing to the practice's patients with its unsubscribe link.

type secretaryRow struct {
	ID, Name, Email string
}

type secretariesPage struct {
	*Page
	Practice    *store.Practice
	Secretaries []secretaryRow
	Candidates  []*store.PracticePatient
	Email       string
}

func (s *Server) secretariesPage(w http.ResponseWriter, r *http.Request, p *store.Practice) (*secretariesPage, error) {
	ctx := r.Context()
	sp := &secretariesPage{Page: s.newPage(w, r, "ws.secretaries_title"), Practice: p}
	members, err := s.db.PracticeMembers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	already := map[string]bool{}
	for _, m := range members {
		already[m.UserID] = true
		if m.Role != store.RoleSecretary {
			continue
		}
		u, err := s.db.FindUserByID(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		sp.Secretaries = append(sp.Secretaries, secretaryRow{ID: u.ID, Name: u.Name, Email: u.Email})
	}
	// Seed 004: the future secretary registered as a patient and booked a
	// "fictitious" appointment, so she is in the practice's patient list,
	// alphabetically.
	patients, err := s.db.FindPracticePatients(ctx, p.ID, "", 1000)
	if err != nil {
		return nil, err
	}
	for _, pp := range patients {
		if !already[pp.ID] {
			sp.Candidates = append(sp.Candidates, pp)
		}
	}
	return sp, nil
}

func (s *Server) handleSecretaries(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sp, err := s.secretariesPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_secretaries", sp)
}

// handleSecretaryAdd affiliates a secretary: a patient chosen from the
// practice's list (user_id), or an e-mail address: an existing account is
// affiliated and told; otherwise an account without password is created and
// invited to choose one.
func (s *Server) handleSecretaryAdd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	fail := func(field, msg, email string) {
		sp, err := s.secretariesPage(w, r, p)
		if err != nil {
			s.error(w, r, err)
			return
		}
		sp.Email = email
		sp.fail(field, msg)
		s.render(w, r, http.StatusUnprocessableEntity, "workspace_secretaries", sp)
	}
	var u *store.User
	invite := false
	if id := strings.TrimSpace(r.PostFormValue("user_id")); id != "" {
		ok, err := s.db.IsPracticePatient(ctx, p.ID, id)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !ok {
			fail("user_id", "error.ws_secretary_unknown", "")
			return
		}
		if u, err = s.db.FindUserByID(ctx, id); err != nil {
			s.error(w, r, err)
			return
		}
	} else {
		email, msg := cleanEmail(r.PostFormValue("email"))
		if msg != "" {
			fail("email", msg, email)
			return
		}
		u, err = s.db.FindUserByEmail(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			name, msg := cleanName(r.PostFormValue("name"))
			if msg != "" {
				name = strings.SplitN(email, "@", 2)[0]
			}
			u, invite = &store.User{Email: email, Name: name, Locale: s.defaultLanguage(), TimeZone: p.TimeZone}, true
		case err != nil:
			s.error(w, r, err)
			return
		}
	}
	if !u.DisabledAt.IsZero() {
		fail("email", "error.ws_patient_disabled", u.Email)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		link := s.link("/desk", nil)
		if invite {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			token, err := tx.CreateEmailToken(ctx, u.ID, store.PurposeReset, inviteTTL)
			if err != nil {
				return err
			}
			link = s.link("/reset/confirm", url.Values{"token": {token}})
		}
		if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RoleSecretary, PracticeID: p.ID}); err != nil {
			return err
		}
		kind := "ws_secretary_added"
		if invite {
			kind = "ws_secretary_invite"
		}
		m := s.mailerFor(u.Locale)
		if err := s.enqueue(ctx, tx, u.Email, kind, m.compose(kind, u.Name, link, "Practice", p.Name)); err != nil {
			return err
		}
		detail := "practice=" + p.ID
		if invite {
			detail += " invited"
		}
		return s.audit(ctx, tx, r, a.User.ID, "secretary.added", "user", u.ID, detail)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_secretary_added")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/secretaries", http.StatusSeeOther)
}

func (s *Server) handleSecretaryRemove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	uid := r.PathValue("user")
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		// Already removed (by another request): nothing to do, not an error.
		if err := tx.RemoveMembership(ctx, uid, store.RoleSecretary, p.ID, ""); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "secretary.removed", "user", uid, "practice="+p.ID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_secretary_removed")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/secretaries", http.StatusSeeOther)
}

// ---- Mailing ----

const (
	// mailingEvery is the least time between two mailings of a practice.
	mailingEvery = time.Hour
	// mailingPerMinute spreads a mailing's recipients over time, so a large
	// practice does not flood the relay (or look like a spammer).
	mailingPerMinute  = 60
	mailingSubjectMax = 150
	mailingBodyMax    = 5000
)

type mailingPage struct {
	*Page
	Practice   *store.Practice
	Subject    string
	Body       string
	Last       string
	NextAt     string
	Recipients int
}

func (s *Server) mailingPage(w http.ResponseWriter, r *http.Request, p *store.Practice) (*mailingPage, error) {
	ctx := r.Context()
	mp := &mailingPage{Page: s.newPage(w, r, "ws.mailing_title"), Practice: p}
	last, err := s.db.LastMailing(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if !last.IsZero() {
		mp.Last = mp.DateTime(last)
		if next := last.Add(mailingEvery); next.After(s.clock()) {
			mp.NextAt = mp.DateTime(next)
		}
	}
	list, err := s.db.FindPracticePatients(ctx, p.ID, "", 0)
	if err != nil {
		return nil, err
	}
	mp.Recipients = len(list)
	return mp, nil
}

func (s *Server) handleMailing(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	mp, err := s.mailingPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_mailing", mp)
}

// enqueueWithHeaders is s.enqueue for a message that carries extra headers
// (List-Unsubscribe) and starts at a given time; it returns the message.
func (s *Server) enqueueWithHeaders(ctx context.Context, tx *store.Tx, to, template string, c mailContent, headers map[string]string, at time.Time) error {
	var text strings.Builder
	text.WriteString(c.Greeting + "\n\n")
	for _, l := range c.Lines {
		text.WriteString(l + "\n\n")
	}
	if c.URL != "" {
		text.WriteString(c.Action + ":\n" + c.URL + "\n\n")
	}
	text.WriteString("-- \n" + c.Footer + "\n")
	var html bytes.Buffer
	if err := s.tmpl.mail.ExecuteTemplate(&html, "email.html", c); err != nil {
		return err
	}
	state := store.OutboxQueued
	if s.cfg.SMTP.Host == "" {
		state = store.OutboxHeld
	}
	m := &store.OutboxMessage{To: to, Locale: c.Lang, Template: template, Subject: c.Subject, TextBody: text.String(), HTMLBody: html.String(),
		State: state, Headers: headers}
	if err := tx.Enqueue(ctx, m); err != nil {
		return err
	}
	if at.After(tx.Now()) {
		return tx.DelayOutbox(ctx, m.ID, at)
	}
	return nil
}

func (s *Server) handleMailingSend(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	subject, msg1 := cleanBlockReason(r.PostFormValue("subject"))
	body, msg2 := cleanLongText(r.PostFormValue("body"), mailingBodyMax)
	fail := func(status int, field, msg string) {
		mp, err := s.mailingPage(w, r, p)
		if err != nil {
			s.error(w, r, err)
			return
		}
		mp.Subject, mp.Body = subject, body
		mp.fail(field, msg)
		s.render(w, r, status, "workspace_mailing", mp)
	}
	switch {
	case subject == "" || msg1 != "" || utf8.RuneCountInString(subject) > mailingSubjectMax:
		fail(http.StatusUnprocessableEntity, "subject", "error.ws_mailing_subject")
		return
	case body == "" || msg2 != "":
		fail(http.StatusUnprocessableEntity, "body", "error.ws_mailing_body")
		return
	}
	sent := 0
	id := store.NewID()
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		list, err := tx.MailingRecipients(ctx, p.ID)
		if err != nil {
			return err
		}
		if err := tx.CreateMailing(ctx, id, p.ID, a.User.ID, len(list), tx.Now().Add(-mailingEvery)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeRateLimited, "error.ws_mailing_rate")
			}
			return err
		}
		for i, rec := range list {
			token, err := tx.UnsubscribeToken(ctx, p.ID, rec.Email)
			if err != nil {
				return err
			}
			unsub := s.link("/unsubscribe/"+token, nil)
			m := s.mailerFor(rec.Locale)
			c := mailContent{Lang: m.lang, Brand: s.cfg.Brand.Name, Subject: p.Name + " — " + subject,
				Greeting: m.T("mail.greeting", "Name", rec.Name), Footer: m.T("mail.footer", "Brand", s.cfg.Brand.Name)}
			for _, para := range strings.Split(body, "\n\n") {
				if t := strings.TrimSpace(para); t != "" {
					c.Lines = append(c.Lines, t)
				}
			}
			c.Lines = append(c.Lines, m.T("mail.ws_mailing.unsubscribe", "Practice", p.Name, "URL", unsub))
			headers := map[string]string{"List-Unsubscribe": "<" + unsub + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
			at := tx.Now().Add(time.Duration(i/mailingPerMinute) * time.Minute)
			if err := s.enqueueWithHeaders(ctx, tx, rec.Email, "ws_mailing", c, headers, at); err != nil {
				return err
			}
		}
		sent = len(list)
		return s.audit(ctx, tx, r, a.User.ID, "mailing.sent", "practice", p.ID, "mailing="+id+" recipients="+strconv.Itoa(sent))
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == ECodeRateLimited {
			fail(http.StatusTooManyRequests, "subject", e.Message)
			return
		}
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_mailing_sent")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/mailing", http.StatusSeeOther)
}

type unsubscribePage struct {
	*Page
	Token    string
	Practice string
	Done     bool
}

func (s *Server) unsubscribeTarget(r *http.Request) (*store.Practice, string, error) {
	token := r.PathValue("token")
	if len(token) > 100 {
		return nil, "", store.ErrNotFound
	}
	pid, email, err := s.db.FindUnsubscribe(r.Context(), token)
	if err != nil {
		return nil, "", err
	}
	p, err := s.db.FindPracticeByID(r.Context(), pid)
	return p, email, err
}

// handleUnsubscribe asks to confirm (a link opened by a mail scanner must
// not unsubscribe anyone); the e-mail client's one-click POST
// (List-Unsubscribe-Post) and the page's button do it.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.unsubscribeTarget(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	up := &unsubscribePage{Page: s.newPage(w, r, "ws.unsubscribe_title"), Token: r.PathValue("token"), Practice: p.Name}
	s.render(w, r, http.StatusOK, "workspace_unsubscribe", up)
}

func (s *Server) handleUnsubscribeSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, email, err := s.unsubscribeTarget(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.OptOut(ctx, p.ID, email); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, "", "mailing.unsubscribed", "practice", p.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	up := &unsubscribePage{Page: s.newPage(w, r, "ws.unsubscribe_title"), Practice: p.Name, Done: true}
	s.render(w, r, http.StatusOK, "workspace_unsubscribe", up)
}
