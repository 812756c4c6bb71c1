package app

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"daraport/store"
)

type adminHomePage struct {
	*Page
	Users        int
	Pending      int
	Outbox       map[string]int
	Unhandled    int
	AuditEntries int
	AuditErr     string
	Version      string
	Uptime       string
}

func (s *Server) handleAdminHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := &adminHomePage{Page: s.newPage(w, r, "admin.title")}
	var err error
	if p.Users, err = s.db.CountUsers(ctx); err != nil {
		s.error(w, r, err)
		return
	}
	pend, err := s.db.FindVerifications(ctx, store.VerificationPending, "")
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Pending = len(pend)
	if p.Outbox, err = s.db.CountOutbox(ctx); err != nil {
		s.error(w, r, err)
		return
	}
	msgs, err := s.db.FindContactMessages(ctx, 0)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, m := range msgs {
		if m.HandledAt.IsZero() {
			p.Unhandled++
		}
	}
	n, verr := s.db.VerifyAudit(ctx)
	p.AuditEntries = n
	if verr != nil {
		p.AuditErr = verr.Error()
	}
	p.Version, _, _ = BuildInfo()
	p.Uptime = time.Since(s.started).Round(time.Second).String()
	s.render(w, r, http.StatusOK, "admin", p)
}

type adminUsersPage struct {
	*Page
	Query, Role string
	Roles       []string
	Users       []*store.User
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := &adminUsersPage{Page: s.newPage(w, r, "admin_users.title"), Query: strings.TrimSpace(q.Get("q")), Role: q.Get("role"), Roles: store.Roles}
	role := ""
	for _, x := range store.Roles {
		if x == p.Role {
			role = x
		}
	}
	list, err := s.db.FindUsers(r.Context(), store.UserFilter{Query: p.Query, Role: role, Limit: 200})
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Users = list
	s.render(w, r, http.StatusOK, "admin_users", p)
}

type adminUserPage struct {
	*Page
	Subject     *store.User
	Memberships []store.Membership
	Sessions    []*store.Session
	Assignable  []string
}

func (s *Server) handleAdminUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.db.FindUserByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	ms, err := s.db.Memberships(ctx, u.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sess, err := s.db.UserSessions(ctx, u.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &adminUserPage{Page: s.newPage(w, r, "admin_user.title"), Subject: u, Memberships: ms, Sessions: sess,
		Assignable: []string{store.RoleAdmin, store.RoleAffiliate, store.RolePatient}}
	s.render(w, r, http.StatusOK, "admin_user", p)
}

func (s *Server) handleAdminUserDisable(w http.ResponseWriter, r *http.Request) {
	s.setDisabled(w, r, true)
}

func (s *Server) handleAdminUserEnable(w http.ResponseWriter, r *http.Request) {
	s.setDisabled(w, r, false)
}

// setDisabled disables (ending every session) or re-enables an account.
// An admin cannot disable themself.
func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, disable bool) {
	ctx := r.Context()
	a := actorFrom(r)
	id := r.PathValue("id")
	if disable && id == a.User.ID {
		s.error(w, r, errorf(ECodeConflict, "error.self_disable"))
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		at := time.Time{}
		action := "admin.user_enabled"
		if disable {
			at, action = tx.Now(), "admin.user_disabled"
		}
		if err := tx.UpdateUser(ctx, id, store.UserUpdate{DisabledAt: &at}); err != nil {
			return err
		}
		if disable {
			if _, err := tx.DeleteUserSessions(ctx, id, ""); err != nil {
				return err
			}
			if err := tx.RevokeAPITokens(ctx, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "user", id, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(id), http.StatusSeeOther)
}

// handleAdminUserRoles adds or removes an installation-wide role (admin,
// affiliate, patient). Practice roles come from verification and the
// practice's own secretary management. The last admin cannot be removed.
func (s *Server) handleAdminUserRoles(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	id := r.PathValue("id")
	role := r.PostFormValue("role")
	add := r.PostFormValue("op") == "add"
	if role != store.RoleAdmin && role != store.RoleAffiliate && role != store.RolePatient {
		s.error(w, r, errorf(ECodeInvalid, "error.role"))
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.FindUserByID(ctx, id); err != nil {
			return err
		}
		if add {
			if err := tx.AddMembership(ctx, &store.Membership{UserID: id, Role: role}); err != nil {
				return err
			}
		} else {
			if role == store.RoleAdmin {
				n, err := tx.CountRole(ctx, store.RoleAdmin)
				if err != nil {
					return err
				}
				if n <= 1 {
					return errorf(ECodeConflict, "error.last_admin")
				}
			}
			if err := tx.RemoveMembership(ctx, id, role, "", ""); err != nil {
				return err
			}
		}
		op := "removed"
		if add {
			op = "added"
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.role_"+op, "user", id, "role="+role)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(id), http.StatusSeeOther)
}

type verificationRow struct {
	*store.Verification
	User     *store.User
	Practice *store.Practice
}

type adminVerificationsPage struct {
	*Page
	Pending []verificationRow
	Decided []verificationRow
	One     *verificationRow
}

func (s *Server) verificationRow(ctx context.Context, v *store.Verification) (verificationRow, error) {
	row := verificationRow{Verification: v}
	var err error
	if row.User, err = s.db.FindUserByID(ctx, v.UserID); err != nil {
		return row, err
	}
	row.Practice, err = s.db.FindPracticeByID(ctx, v.PracticeID)
	return row, err
}

func (s *Server) handleAdminVerifications(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	all, err := s.db.FindVerifications(ctx, "", "")
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &adminVerificationsPage{Page: s.newPage(w, r, "admin_verifications.title")}
	for i := len(all) - 1; i >= 0; i-- {
		row, err := s.verificationRow(ctx, all[i])
		if err != nil {
			s.error(w, r, err)
			return
		}
		if row.State == store.VerificationPending {
			p.Pending = append([]verificationRow{row}, p.Pending...) // oldest first
		} else if len(p.Decided) < 50 {
			p.Decided = append(p.Decided, row)
		}
	}
	s.render(w, r, http.StatusOK, "admin_verifications", p)
}

func (s *Server) handleAdminVerification(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.db.FindVerificationByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	row, err := s.verificationRow(ctx, v)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &adminVerificationsPage{Page: s.newPage(w, r, "admin_verification.title"), One: &row}
	s.render(w, r, http.StatusOK, "admin_verification", p)
}

func (s *Server) handleAdminVerificationApprove(w http.ResponseWriter, r *http.Request) {
	s.decideVerification(w, r, true)
}

func (s *Server) handleAdminVerificationReject(w http.ResponseWriter, r *http.Request) {
	s.decideVerification(w, r, false)
}

// decideVerification approves (the practice goes public, the person becomes
// its practitioner) or rejects a request, and tells the person by e-mail.
func (s *Server) decideVerification(w http.ResponseWriter, r *http.Request, approve bool) {
	ctx := r.Context()
	a := actorFrom(r)
	id := r.PathValue("id")
	note := strings.TrimSpace(r.PostFormValue("note"))
	if len(note) > 2000 {
		s.error(w, r, errorf(ECodeInvalid, "error.note_long"))
		return
	}
	v, err := s.db.FindVerificationByID(ctx, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		state, pstate, action, kind := store.VerificationRejected, store.PracticeRejected, "verification.rejected", "rejected"
		if approve {
			state, pstate, action, kind = store.VerificationApproved, store.PracticeVerified, "verification.approved", "approved"
		}
		if err := tx.DecideVerification(ctx, id, state, note, a.User.ID); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(ECodeConflict, "error.already_decided")
			}
			return err
		}
		if err := tx.SetPracticeStatus(ctx, v.PracticeID, pstate); err != nil {
			return err
		}
		if approve {
			if err := tx.AddMembership(ctx, &store.Membership{UserID: v.UserID, Role: store.RolePractitioner, PracticeID: v.PracticeID}); err != nil {
				return err
			}
		}
		u, err := tx.FindUserByID(ctx, v.UserID)
		if err != nil {
			return err
		}
		m := s.mailerFor(u.Locale)
		c := m.compose("practitioner_"+kind, u.Name, s.link("/pro", nil))
		if !approve {
			c = m.compose("practitioner_"+kind, u.Name, s.link("/pro/apply", nil))
			if note != "" {
				c.Lines = append(c.Lines, m.T("mail.practitioner_rejected.note", "Note", note))
			}
		}
		if err := s.enqueue(ctx, tx, u.Email, "practitioner_"+kind, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "verification", id, "user="+v.UserID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/verifications", http.StatusSeeOther)
}

type auditRow struct {
	*store.AuditEntry
	ActorName string
}

type adminAuditPage struct {
	*Page
	Entries       []auditRow
	Actor, Action string
	From, To      string
	ChainOK       bool
	ChainCount    int
	ChainError    string
	NextBefore    int64
}

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := &adminAuditPage{Page: s.newPage(w, r, "admin_audit.title"), Actor: strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action")), From: q.Get("from"), To: q.Get("to")}
	f := store.AuditFilter{Action: p.Action, Limit: 100}
	if p.Actor != "" {
		if u, err := s.db.FindUserByEmail(ctx, p.Actor); err == nil {
			f.ActorID = u.ID
		} else {
			f.ActorID = p.Actor
		}
	}
	loc := p.Loc
	if d, err := time.ParseInLocation("2006-01-02", p.From, loc); err == nil {
		f.Since = d
	}
	if d, err := time.ParseInLocation("2006-01-02", p.To, loc); err == nil {
		f.Until = d.AddDate(0, 0, 1)
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil {
		f.Before = b
	}
	list, err := s.db.FindAudit(ctx, f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	names := map[string]string{}
	for _, e := range list {
		row := auditRow{AuditEntry: e}
		if e.ActorID != "" {
			if _, ok := names[e.ActorID]; !ok {
				if u, err := s.db.FindUserByID(ctx, e.ActorID); err == nil {
					names[e.ActorID] = u.Name
				}
			}
			row.ActorName = names[e.ActorID]
		}
		p.Entries = append(p.Entries, row)
	}
	if len(list) == f.Limit {
		p.NextBefore = list[len(list)-1].Seq
	}
	n, verr := s.db.VerifyAudit(ctx)
	p.ChainCount, p.ChainOK = n, verr == nil
	if verr != nil {
		p.ChainError = verr.Error()
	}
	s.render(w, r, http.StatusOK, "admin_audit", p)
}

// NextURL links to the next (older) page of entries with the same filters.
func (p *adminAuditPage) NextURL() string {
	v := url.Values{"before": {strconv.FormatInt(p.NextBefore, 10)}}
	for k, x := range map[string]string{"actor": p.Actor, "action": p.Action, "from": p.From, "to": p.To} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return "/admin/audit?" + v.Encode()
}

type adminOutboxPage struct {
	*Page
	To, State string
	Messages  []*store.OutboxMessage
	One       *store.OutboxMessage
	SMTPOff   bool
	Delivery  *deliveryInfo // transports, failures, test e-mail (delivery_admin.go)
}

// handleAdminOutbox is the built-in outbox viewer: with no SMTP server
// configured, this is where e-mails wait.
func (s *Server) handleAdminOutbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := &adminOutboxPage{Page: s.newPage(w, r, "admin_outbox.title"), To: strings.TrimSpace(q.Get("to")), State: q.Get("state"), SMTPOff: s.cfg.SMTP.Host == ""}
	list, err := s.db.FindOutbox(r.Context(), store.OutboxFilter{To: p.To, State: p.State, Limit: 200})
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Messages = list
	p.Delivery = s.deliveryInfo(r.Context(), actorFrom(r))
	s.render(w, r, http.StatusOK, "admin_outbox", p)
}

func (s *Server) handleAdminOutboxMessage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, err := s.db.FindOutboxByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	_ = s.db.Update(ctx, func(tx *store.Tx) error {
		return s.audit(ctx, tx, r, a.User.ID, "admin.outbox_viewed", "outbox", m.ID, "")
	})
	p := &adminOutboxPage{Page: s.newPage(w, r, "admin_outbox.title"), One: m, SMTPOff: s.cfg.SMTP.Host == ""}
	p.Delivery = s.deliveryInfo(ctx, a)
	s.render(w, r, http.StatusOK, "admin_outbox_message", p)
}

var urlRe = regexp.MustCompile(`https?://[^\s<>"]+`)

// Linkify escapes text and makes its http(s) URLs clickable.
func (p *adminOutboxPage) Linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlRe.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		u := text[m[0]:m[1]]
		b.WriteString(`<a href="` + template.HTMLEscapeString(u) + `" rel="noopener noreferrer">` + template.HTMLEscapeString(u) + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String())
}

type adminMessagesPage struct {
	*Page
	Messages []*store.ContactMessage
}

func (s *Server) handleAdminMessages(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.FindContactMessages(r.Context(), 200)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &adminMessagesPage{Page: s.newPage(w, r, "admin_messages.title"), Messages: list}
	s.render(w, r, http.StatusOK, "admin_messages", p)
}

func (s *Server) handleAdminMessageHandled(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	id := r.PathValue("id")
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.MarkContactHandled(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.message_handled", "contact", id, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/messages", http.StatusSeeOther)
}
