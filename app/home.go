package app

import (
	"context"
	"net/http"
	"time"

	"daraport/store"
)

// The home page and the directory (handleHome) are in directory.go.

func setLangCookie(w http.ResponseWriter, lang string) {
	http.SetCookie(w, &http.Cookie{Name: "lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// handleLanguage switches the interface language: a cookie for everyone, the
// account's locale for a signed-in person.
func (s *Server) handleLanguage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := supported(r.PostFormValue("lang"))
	if lang == "" {
		s.error(w, r, errorf(ECodeInvalid, "error.locale"))
		return
	}
	setLangCookie(w, lang)
	if a := actorFrom(r); a != nil {
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			return tx.UpdateUser(ctx, a.User.ID, store.UserUpdate{Locale: &lang})
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// handleHealth answers 200 {"status":"ok","version":…} when the database
// answers, 503 otherwise.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	v, _, _ := BuildInfo()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Error("health: database", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "version": v})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": v, "uptime_seconds": int(time.Since(s.started).Seconds())})
}

// portalPage is the landing page of a portal: the practices or
// organizations the person works for.
type portalPage struct {
	*Page
	Practices     []*store.Practice
	Verifications []*store.Verification
	Organizations []*store.Organization
	OrgPractices  map[string][]*store.Practice // organization id → its practices
}

func (s *Server) practicesOf(ctx context.Context, a *Actor, roles ...string) ([]*store.Practice, error) {
	var ids []string
	for _, role := range roles {
		ids = append(ids, a.Practices(role)...)
	}
	if ids == nil {
		ids = []string{}
	}
	return s.db.FindPractices(ctx, store.PracticeFilter{IDs: ids})
}

func (s *Server) handleProHome(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	list, err := s.practicesOf(r.Context(), a, store.RolePractitioner)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &portalPage{Page: s.newPage(w, r, "pro.title"), Practices: list}
	s.render(w, r, http.StatusOK, "pro", p)
}

func (s *Server) handleSecretaryHome(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	list, err := s.practicesOf(r.Context(), a, store.RoleSecretary, store.RolePractitioner)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &portalPage{Page: s.newPage(w, r, "secretary.title"), Practices: list}
	s.render(w, r, http.StatusOK, "secretary", p)
}

func (s *Server) handleOrgHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &portalPage{Page: s.newPage(w, r, "org.title"), OrgPractices: map[string][]*store.Practice{}}
	for _, m := range a.Memberships {
		if m.Role != store.RoleOrgAdmin || m.OrganizationID == "" {
			continue
		}
		o, err := s.db.FindOrganizationByID(ctx, m.OrganizationID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		list, err := s.db.FindPractices(ctx, store.PracticeFilter{OrganizationID: o.ID})
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Organizations = append(p.Organizations, o)
		p.OrgPractices[o.ID] = list
	}
	s.render(w, r, http.StatusOK, "org", p)
}

func (s *Server) handleAffiliateHome(w http.ResponseWriter, r *http.Request) {
	p := &portalPage{Page: s.newPage(w, r, "affiliate.title")}
	s.render(w, r, http.StatusOK, "affiliate", p)
}
