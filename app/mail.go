package app

import (
	"bytes"
	"context"
	"strings"

	"daraport/store"
)

// mailContent is a localized e-mail: a subject without medical detail, a
// greeting, paragraphs and at most one button. The plain text and HTML parts
// are made from the same content.
type mailContent struct {
	Lang     string
	Brand    string
	Subject  string
	Greeting string
	Lines    []string
	Action   string // button label
	URL      string // absolute, built from server.base_url
	Footer   string
}

// mailer composes e-mails in one language.
type mailer struct {
	s    *Server
	lang string
}

func (s *Server) mailerFor(lang string) mailer {
	if supported(lang) == "" {
		lang = s.defaultLanguage()
	}
	return mailer{s: s, lang: lang}
}

func (m mailer) T(id string, args ...any) string { return m.s.i18n.T(m.lang, id, args...) }

// compose builds the content of the e-mail named kind: the catalogue holds
// mail.<kind>.subject, mail.<kind>.body (paragraphs separated by blank
// lines) and, when a URL is given, mail.<kind>.action.
func (m mailer) compose(kind, name, url string, args ...any) mailContent {
	c := mailContent{Lang: m.lang, Brand: m.s.cfg.Brand.Name, Subject: m.T("mail."+kind+".subject", append(args, "Brand", m.s.cfg.Brand.Name)...),
		Greeting: m.T("mail.greeting", "Name", name), URL: url, Footer: m.T("mail.footer", "Brand", m.s.cfg.Brand.Name)}
	for _, para := range strings.Split(m.T("mail."+kind+".body", append(args, "Brand", m.s.cfg.Brand.Name)...), "\n\n") {
		if p := strings.TrimSpace(para); p != "" {
			c.Lines = append(c.Lines, p)
		}
	}
	if url != "" {
		c.Action = m.T("mail." + kind + ".action")
	}
	return c
}

// enqueue writes the e-mail to the outbox in tx: it exists if and only if
// the change that causes it commits.
func (s *Server) enqueue(ctx context.Context, tx *store.Tx, to, template string, c mailContent) error {
	return s.enqueueWith(ctx, tx, to, template, c, "", nil)
}

// enqueueWith is enqueue with a calendar invite (a full VCALENDAR with its
// METHOD; the worker attaches it as text/calendar) and extra headers.
func (s *Server) enqueueWith(ctx context.Context, tx *store.Tx, to, template string, c mailContent, ics string, headers map[string]string) error {
	m, err := s.buildMail(to, template, c, ics, headers)
	if err != nil {
		return err
	}
	return tx.Enqueue(ctx, m)
}

// buildMail makes the outbox row of an e-mail (plain text and HTML from the
// same content) without writing it: hot paths build before they take the
// writer and only insert inside it.
func (s *Server) buildMail(to, template string, c mailContent, ics string, headers map[string]string) (*store.OutboxMessage, error) {
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
		return nil, err
	}
	state := store.OutboxQueued
	if s.cfg.SMTP.Host == "" {
		state = store.OutboxHeld
	}
	return &store.OutboxMessage{To: to, Locale: c.Lang, Template: template, Subject: c.Subject,
		TextBody: text.String(), HTMLBody: html.String(), ICS: ics, Headers: headers, State: state}, nil
}
