package app

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"daraport/store"
)

// Organizations group practices (a clinic, a network, an employer
// programme) for oversight; their org_admins see the practices in them.

var orgKinds = []string{"clinic", "network", "employer", "hybrid"}

type adminOrgsPage struct {
	*Page
	Organizations []*store.Organization
	Kinds         []string
	Name, Kind    string
}

func (s *Server) handleAdminOrganizations(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.FindOrganizations(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &adminOrgsPage{Page: s.newPage(w, r, "admin_orgs.title"), Organizations: list, Kinds: orgKinds, Kind: "clinic"}
	s.render(w, r, http.StatusOK, "admin_organizations", p)
}

func (s *Server) handleAdminOrganizationCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &adminOrgsPage{Page: s.newPage(w, r, "admin_orgs.title"), Kinds: orgKinds, Kind: r.PostFormValue("kind")}
	var msg string
	if p.Name, msg = cleanName(r.PostFormValue("name")); msg != "" {
		p.fail("name", msg)
	}
	if !validOrgKind(p.Kind) {
		p.fail("kind", "error.org_kind")
	}
	if p.failed() {
		list, err := s.db.FindOrganizations(ctx)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Organizations = list
		s.render(w, r, http.StatusUnprocessableEntity, "admin_organizations", p)
		return
	}
	o := &store.Organization{Name: p.Name, Kind: p.Kind}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "admin.organization_created", "organization", o.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/organizations/"+url.PathEscape(o.ID), http.StatusSeeOther)
}

func validOrgKind(k string) bool {
	for _, x := range orgKinds {
		if x == k {
			return true
		}
	}
	return false
}

type adminOrgPage struct {
	*Page
	Org       *store.Organization
	Practices []*store.Practice // in the organization
	Others    []*store.Practice // verified practices not in it
	Admins    []*store.User
	Email     string
}

func (s *Server) handleAdminOrganization(w http.ResponseWriter, r *http.Request) {
	p, err := s.adminOrgPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_organization", p)
}

func (s *Server) adminOrgPage(w http.ResponseWriter, r *http.Request) (*adminOrgPage, error) {
	ctx := r.Context()
	o, err := s.db.FindOrganizationByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	p := &adminOrgPage{Page: s.newPage(w, r, "admin_org.title"), Org: o}
	all, err := s.db.FindPractices(ctx, store.PracticeFilter{})
	if err != nil {
		return nil, err
	}
	for _, pr := range all {
		switch {
		case pr.OrganizationID == o.ID:
			p.Practices = append(p.Practices, pr)
		case pr.OrganizationID == "" && pr.Status == store.PracticeVerified:
			p.Others = append(p.Others, pr)
		}
	}
	admins, err := s.db.UsersWithRole(ctx, store.RoleOrgAdmin)
	if err != nil {
		return nil, err
	}
	for _, u := range admins {
		ms, err := s.db.Memberships(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if (&Actor{User: u, Memberships: ms}).InOrganization(o.ID) {
			p.Admins = append(p.Admins, u)
		}
	}
	return p, nil
}

// handleAdminOrganizationPractices puts a practice in the organization or
// takes it out (op=add|remove).
func (s *Server) handleAdminOrganizationPractices(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	orgID, practiceID := r.PathValue("id"), r.PostFormValue("practice_id")
	add := r.PostFormValue("op") == "add"
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.FindOrganizationByID(ctx, orgID); err != nil {
			return err
		}
		pr, err := tx.FindPracticeByID(ctx, practiceID)
		if err != nil {
			return errorf(ECodeInvalid, "error.practice_unknown")
		}
		target, action := orgID, "admin.organization_practice_added"
		if !add {
			if pr.OrganizationID != orgID {
				return errorf(ECodeInvalid, "error.practice_unknown")
			}
			target, action = "", "admin.organization_practice_removed"
		} else if pr.OrganizationID != "" && pr.OrganizationID != orgID {
			return errorf(ECodeConflict, "error.practice_in_other_org")
		}
		if err := tx.SetPracticeOrganization(ctx, practiceID, target); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "organization", orgID, "practice="+practiceID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/organizations/"+url.PathEscape(orgID), http.StatusSeeOther)
}

// handleAdminOrganizationAdmins names (by e-mail) or removes an org_admin.
func (s *Server) handleAdminOrganizationAdmins(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	orgID := r.PathValue("id")
	email := strings.TrimSpace(r.PostFormValue("email"))
	add := r.PostFormValue("op") == "add"
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.FindOrganizationByID(ctx, orgID); err != nil {
			return err
		}
		u, err := tx.FindUserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			e := errorf(ECodeInvalid, "error.user_unknown")
			e.Field = "email"
			return e
		}
		if err != nil {
			return err
		}
		action := "admin.org_admin_added"
		if add {
			err = tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RoleOrgAdmin, OrganizationID: orgID})
		} else {
			action = "admin.org_admin_removed"
			err = tx.RemoveMembership(ctx, u.ID, store.RoleOrgAdmin, "", orgID)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "organization", orgID, "user="+u.ID)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Field == "email" {
			p, perr := s.adminOrgPage(w, r)
			if perr != nil {
				s.error(w, r, perr)
				return
			}
			p.Email = email
			p.fail("email", e.Message)
			s.render(w, r, http.StatusUnprocessableEntity, "admin_organization", p)
			return
		}
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/admin/organizations/"+url.PathEscape(orgID), http.StatusSeeOther)
}
