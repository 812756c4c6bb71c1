package app

import (
	"daraport/store"
)

// Actor is who makes a request: a signed-in user (by session or API token)
// with their memberships.
type Actor struct {
	User        *store.User
	Memberships []store.Membership
	Session     *store.Session  // nil for API requests
	Token       *store.APIToken // nil for browser requests
}

// Has tells whether the actor holds role in any scope.
func (a *Actor) Has(role string) bool {
	if a == nil {
		return false
	}
	for _, m := range a.Memberships {
		if m.Role == role {
			return true
		}
	}
	return false
}

// InPractice tells whether the actor holds role in that practice.
func (a *Actor) InPractice(role, practiceID string) bool {
	if a == nil || practiceID == "" {
		return false
	}
	for _, m := range a.Memberships {
		if m.Role == role && m.PracticeID == practiceID {
			return true
		}
	}
	return false
}

// InOrganization tells whether the actor is an org_admin of that organization.
func (a *Actor) InOrganization(orgID string) bool {
	if a == nil || orgID == "" {
		return false
	}
	for _, m := range a.Memberships {
		if m.Role == store.RoleOrgAdmin && m.OrganizationID == orgID {
			return true
		}
	}
	return false
}

// Practices returns the ids of the practices where the actor holds role.
func (a *Actor) Practices(role string) []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, m := range a.Memberships {
		if m.Role == role && m.PracticeID != "" {
			out = append(out, m.PracticeID)
		}
	}
	return out
}

// IsStaff tells whether the actor works in a practice or runs the installation:
// staff sessions time out when idle.
func (a *Actor) IsStaff() bool {
	return a.Has(store.RolePractitioner) || a.Has(store.RoleSecretary) || a.Has(store.RoleAdmin) || a.Has(store.RoleOrgAdmin)
}

// Perm names what a request wants to do.
type Perm string

// The permissions. Every route declares one; handlers that touch a specific
// object ask again with that object as the target.
const (
	PermPublic        Perm = "public"         // anyone, signed in or not
	PermSignedIn      Perm = "signed_in"      // any signed-in person
	PermOwnAccount    Perm = "own_account"    // the person the object belongs to
	PermPractitioner  Perm = "practitioner"   // a practitioner (of the target practice, when given)
	PermPracticeStaff Perm = "practice_staff" // a secretary or practitioner (of the target practice, when given)
	PermPracticeAdmin Perm = "practice_admin" // the practitioner of the target practice, or an admin
	PermPracticeDesk  Perm = "practice_desk"  // a secretary or practitioner of the target practice, or an admin
	PermOrgAdmin      Perm = "org_admin"      // an org_admin (of the target organization, when given)
	PermAffiliate     Perm = "affiliate"      // an affiliate
	PermAdmin         Perm = "admin"          // an installation admin
	PermDocument      Perm = "document"       // the document's owner, or an admin
)

// Target is the object a permission is asked about; empty fields mean "any".
type Target struct {
	UserID         string
	PracticeID     string
	OrganizationID string
}

// Allow is the one place that decides access: may actor a do perm on t?
// "Who can do more can do less": a practitioner has every secretary right in
// their own practice; an admin may manage any practice.
func Allow(a *Actor, perm Perm, t Target) bool {
	if perm == PermPublic {
		return true
	}
	if a == nil || a.User == nil || !a.User.DisabledAt.IsZero() {
		return false
	}
	switch perm {
	case PermSignedIn:
		return true
	case PermOwnAccount:
		return t.UserID != "" && t.UserID == a.User.ID
	case PermPractitioner:
		if t.PracticeID != "" {
			return a.InPractice(store.RolePractitioner, t.PracticeID)
		}
		return a.Has(store.RolePractitioner)
	case PermPracticeStaff:
		if t.PracticeID != "" {
			return a.InPractice(store.RolePractitioner, t.PracticeID) || a.InPractice(store.RoleSecretary, t.PracticeID)
		}
		return a.Has(store.RolePractitioner) || a.Has(store.RoleSecretary)
	case PermPracticeAdmin:
		if a.Has(store.RoleAdmin) {
			return true
		}
		return t.PracticeID != "" && a.InPractice(store.RolePractitioner, t.PracticeID)
	case PermPracticeDesk:
		if a.Has(store.RoleAdmin) {
			return true
		}
		return t.PracticeID != "" && (a.InPractice(store.RolePractitioner, t.PracticeID) || a.InPractice(store.RoleSecretary, t.PracticeID))
	case PermOrgAdmin:
		if t.OrganizationID != "" {
			return a.InOrganization(t.OrganizationID)
		}
		return a.Has(store.RoleOrgAdmin)
	case PermAffiliate:
		return a.Has(store.RoleAffiliate)
	case PermAdmin:
		return a.Has(store.RoleAdmin)
	case PermDocument:
		return a.Has(store.RoleAdmin) || (t.UserID != "" && t.UserID == a.User.ID)
	}
	return false
}
