package app

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/store"
)

type contactPage struct {
	*Page
	Name, Email, Subject, Body string
	Captcha                    challenge
	Done                       bool
}

// handleContact is "Communiquer → contacter l'administration" (seed 004).
func (s *Server) handleContact(w http.ResponseWriter, r *http.Request) {
	p := &contactPage{Page: s.newPage(w, r, "contact.title")}
	if a := actorFrom(r); a != nil {
		p.Name, p.Email = a.User.Name, a.User.Email
	} else {
		c, err := s.captcha.new()
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Captcha = c
	}
	s.render(w, r, http.StatusOK, "contact", p)
}

func (s *Server) handleContactSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	a := actorFrom(r)
	p := &contactPage{Page: s.newPage(w, r, "contact.title"), Subject: strings.TrimSpace(r.PostFormValue("subject")), Body: strings.TrimSpace(r.PostFormValue("body"))}
	var msg string
	if a != nil {
		p.Name, p.Email = a.User.Name, a.User.Email
	} else {
		if p.Name, msg = cleanName(r.PostFormValue("name")); msg != "" {
			p.fail("name", msg)
		}
		if p.Email, msg = cleanEmail(r.PostFormValue("email")); msg != "" {
			p.fail("email", msg)
		}
	}
	if p.Subject == "" || utf8.RuneCountInString(p.Subject) > 200 {
		p.fail("subject", "error.subject")
	}
	if p.Body == "" || utf8.RuneCountInString(p.Body) > 10000 {
		p.fail("body", "error.body")
	}
	if a == nil && !p.failed() && !s.captcha.verify(r.PostFormValue("altcha"), r.PostFormValue("captcha_token"), r.PostFormValue("captcha_answer")) {
		p.fail("captcha", "error.captcha")
	}
	key := "contact:" + s.clientIP(r)
	if a != nil {
		key = "contact:" + a.User.ID
	}
	if !p.failed() && s.limits.anonIP.hit(key) {
		p.Error = p.T("error.rate_limited")
		padTo(start)
		if a == nil {
			p.Captcha, _ = s.captcha.new()
		}
		s.render(w, r, http.StatusTooManyRequests, "contact", p)
		return
	}
	if p.failed() {
		if a == nil {
			p.Captcha, _ = s.captcha.new()
		}
		s.render(w, r, http.StatusUnprocessableEntity, "contact", p)
		return
	}
	admins, err := s.db.UsersWithRole(ctx, store.RoleAdmin)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		uid := ""
		if a != nil {
			uid = a.User.ID
		}
		m := &store.ContactMessage{UserID: uid, Name: p.Name, Email: p.Email, Subject: p.Subject, Body: p.Body}
		if err := tx.CreateContactMessage(ctx, m); err != nil {
			return err
		}
		// Admins get a notice without the content: the message itself
		// stays encrypted in the database, readable on the admin page.
		for _, ad := range admins {
			if !ad.DisabledAt.IsZero() {
				continue
			}
			mm := s.mailerFor(ad.Locale)
			if err := s.enqueue(ctx, tx, ad.Email, "contact_notice", mm.compose("contact_notice", ad.Name, s.link("/admin/messages", nil))); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, r, uid, "contact.sent", "contact", m.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Done = true
	s.render(w, r, http.StatusOK, "contact", p)
}
