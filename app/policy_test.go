package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"daraport/store"
)

// policyActors are the personas Allow is asked about. "nouser" is an actor
// without a user (never built by the server, refused all the same); the
// disabled ones hold the same memberships as their enabled twins.
func policyActors() map[string]*Actor {
	user := func(id string, disabled bool) *store.User {
		u := &store.User{ID: id, Email: id + "@example.org"}
		if disabled {
			u.DisabledAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		}
		return u
	}
	m := func(role, practice, org string) store.Membership {
		return store.Membership{Role: role, PracticeID: practice, OrganizationID: org}
	}
	patient := m(store.RolePatient, "", "")
	proA := []store.Membership{patient, m(store.RolePractitioner, "practice-a", "")}
	admin := []store.Membership{patient, m(store.RoleAdmin, "", "")}
	return map[string]*Actor{
		"anon":              nil,
		"nouser":            {},
		"patient":           {User: user("u-patient", false), Memberships: []store.Membership{patient}},
		"proA":              {User: user("u-pro-a", false), Memberships: proA},
		"proB":              {User: user("u-pro-b", false), Memberships: []store.Membership{patient, m(store.RolePractitioner, "practice-b", "")}},
		"secA":              {User: user("u-sec-a", false), Memberships: []store.Membership{patient, m(store.RoleSecretary, "practice-a", "")}},
		"org1":              {User: user("u-org", false), Memberships: []store.Membership{patient, m(store.RoleOrgAdmin, "", "org-1")}},
		"affiliate":         {User: user("u-affiliate", false), Memberships: []store.Membership{patient, m(store.RoleAffiliate, "", "")}},
		"admin":             {User: user("u-admin", false), Memberships: admin},
		"disabledPatient":   {User: user("u-disabled-patient", true), Memberships: []store.Membership{patient}},
		"disabledProA":      {User: user("u-disabled-pro-a", true), Memberships: proA},
		"disabledAdmin":     {User: user("u-disabled-admin", true), Memberships: admin},
		"disabledOrg1":      {User: user("u-disabled-org", true), Memberships: []store.Membership{m(store.RoleOrgAdmin, "", "org-1")}},
		"disabledAffiliate": {User: user("u-disabled-affiliate", true), Memberships: []store.Membership{m(store.RoleAffiliate, "", "")}},
	}
}

// policyTargets are the objects asked about, relative to the actor: "self"
// is an object of the actor's own account, "other" another person's.
var policyTargets = map[string]func(a *Actor) Target{
	"none":      func(*Actor) Target { return Target{} },
	"self":      func(a *Actor) Target { return Target{UserID: actorID(a)} },
	"other":     func(*Actor) Target { return Target{UserID: "u-someone-else"} },
	"practiceA": func(*Actor) Target { return Target{PracticeID: "practice-a"} },
	"practiceB": func(*Actor) Target { return Target{PracticeID: "practice-b"} },
	"org1":      func(*Actor) Target { return Target{OrganizationID: "org-1"} },
	"org2":      func(*Actor) Target { return Target{OrganizationID: "org-2"} },
}

func actorID(a *Actor) string {
	if a == nil || a.User == nil {
		return ""
	}
	return a.User.ID
}

// allPerms lists every permission; TestAllowCoversRoutePerms fails when a
// route uses one not listed here.
var allPerms = []Perm{PermPublic, PermSignedIn, PermOwnAccount, PermPractitioner, PermPracticeStaff, PermPracticeAdmin,
	PermPracticeDesk, PermOrgAdmin, PermAffiliate, PermAdmin, PermDocument}

const (
	everyone   = "anon nouser patient proA proB secA org1 affiliate admin disabledPatient disabledProA disabledAdmin disabledOrg1 disabledAffiliate"
	enabledAll = "patient proA proB secA org1 affiliate admin"
)

// allowTable says, per permission and target, which personas are allowed;
// every other persona must be refused.
var allowTable = []struct {
	perm    Perm
	target  string // a key of policyTargets, or "*" for every target
	allowed string // persona names
}{
	{PermPublic, "*", everyone},

	{PermSignedIn, "*", enabledAll},

	// Only the person the object belongs to; an object of nobody is nobody's.
	{PermOwnAccount, "self", enabledAll},
	{PermOwnAccount, "none", ""},
	{PermOwnAccount, "other", ""},
	{PermOwnAccount, "practiceA", ""},
	{PermOwnAccount, "practiceB", ""},
	{PermOwnAccount, "org1", ""},
	{PermOwnAccount, "org2", ""},

	// A practitioner, of the target practice when one is given.
	{PermPractitioner, "none", "proA proB"},
	{PermPractitioner, "self", "proA proB"},
	{PermPractitioner, "other", "proA proB"},
	{PermPractitioner, "practiceA", "proA"},
	{PermPractitioner, "practiceB", "proB"},
	{PermPractitioner, "org1", "proA proB"},
	{PermPractitioner, "org2", "proA proB"},

	// A secretary or practitioner (who can do more can do less), of the
	// target practice when one is given. Admins run the installation, not
	// the practices' front desks.
	{PermPracticeStaff, "none", "proA proB secA"},
	{PermPracticeStaff, "self", "proA proB secA"},
	{PermPracticeStaff, "other", "proA proB secA"},
	{PermPracticeStaff, "practiceA", "proA secA"},
	{PermPracticeStaff, "practiceB", "proB"},
	{PermPracticeStaff, "org1", "proA proB secA"},
	{PermPracticeStaff, "org2", "proA proB secA"},

	// The practitioner of the target practice, or an admin; never a secretary.
	{PermPracticeAdmin, "none", "admin"},
	{PermPracticeAdmin, "self", "admin"},
	{PermPracticeAdmin, "other", "admin"},
	{PermPracticeAdmin, "practiceA", "proA admin"},
	{PermPracticeAdmin, "practiceB", "proB admin"},
	{PermPracticeAdmin, "org1", "admin"},
	{PermPracticeAdmin, "org2", "admin"},

	// The front desk of the target practice: its secretary or practitioner,
	// or an admin; without a practice, only an admin.
	{PermPracticeDesk, "none", "admin"},
	{PermPracticeDesk, "self", "admin"},
	{PermPracticeDesk, "other", "admin"},
	{PermPracticeDesk, "practiceA", "proA secA admin"},
	{PermPracticeDesk, "practiceB", "proB admin"},
	{PermPracticeDesk, "org1", "admin"},
	{PermPracticeDesk, "org2", "admin"},

	// An org_admin, of the target organization when one is given.
	{PermOrgAdmin, "none", "org1"},
	{PermOrgAdmin, "self", "org1"},
	{PermOrgAdmin, "other", "org1"},
	{PermOrgAdmin, "practiceA", "org1"},
	{PermOrgAdmin, "practiceB", "org1"},
	{PermOrgAdmin, "org1", "org1"},
	{PermOrgAdmin, "org2", ""},

	{PermAffiliate, "*", "affiliate"},

	{PermAdmin, "*", "admin"},

	// The document's owner, or an admin.
	{PermDocument, "none", "admin"},
	{PermDocument, "self", enabledAll},
	{PermDocument, "other", "admin"},
	{PermDocument, "practiceA", "admin"},
	{PermDocument, "practiceB", "admin"},
	{PermDocument, "org1", "admin"},
	{PermDocument, "org2", "admin"},

	// An unknown permission is refused to everyone.
	{Perm("bogus"), "*", ""},
}

func TestAllow(t *testing.T) {
	t.Parallel()
	actors := policyActors()
	covered := map[Perm]map[string]bool{}
	for _, row := range allowTable {
		targets := []string{row.target}
		if row.target == "*" {
			targets = nil
			for name := range policyTargets {
				targets = append(targets, name)
			}
		}
		allowed := strings.Fields(row.allowed)
		for _, target := range targets {
			if covered[row.perm] == nil {
				covered[row.perm] = map[string]bool{}
			}
			if covered[row.perm][target] {
				t.Errorf("%s × %s appears twice in allowTable", row.perm, target)
			}
			covered[row.perm][target] = true
			for persona, a := range actors {
				want := slices.Contains(allowed, persona)
				t.Run(string(row.perm)+"/"+target+"/"+persona, func(t *testing.T) {
					t.Parallel()
					if got := Allow(a, row.perm, policyTargets[target](a)); got != want {
						t.Errorf("Allow(%s, %s, %s) = %v, want %v", persona, row.perm, target, got, want)
					}
				})
			}
		}
	}
	// Every permission × target is decided by the table.
	for _, p := range allPerms {
		for target := range policyTargets {
			if !covered[p][target] {
				t.Errorf("allowTable does not say who may %s on %s", p, target)
			}
		}
	}
}

// TestAllowDisabled: a disabled account may do nothing but what anyone may,
// whatever its roles and whatever the target.
func TestAllowDisabled(t *testing.T) {
	t.Parallel()
	for name, a := range policyActors() {
		if !strings.HasPrefix(name, "disabled") {
			continue
		}
		for _, p := range allPerms {
			for target, tf := range policyTargets {
				if got := Allow(a, p, tf(a)); got != (p == PermPublic) {
					t.Errorf("Allow(%s, %s, %s) = %v", name, p, target, got)
				}
			}
		}
	}
}

// TestAllowWhoCanDoMore: a practitioner has every secretary right in their
// own practice, and only there; a secretary does not get the
// practitioner's.
func TestAllowWhoCanDoMore(t *testing.T) {
	t.Parallel()
	a := policyActors()
	A, B := Target{PracticeID: "practice-a"}, Target{PracticeID: "practice-b"}
	for _, tc := range []struct {
		name  string
		actor string
		perm  Perm
		t     Target
		want  bool
	}{
		{"PractitionerIsStaffOfOwnPractice", "proA", PermPracticeStaff, A, true},
		{"PractitionerIsNotStaffOfAnother", "proA", PermPracticeStaff, B, false},
		{"PractitionerAdministersOwnPractice", "proA", PermPracticeAdmin, A, true},
		{"PractitionerDoesNotAdministerAnother", "proA", PermPracticeAdmin, B, false},
		{"SecretaryIsStaff", "secA", PermPracticeStaff, A, true},
		{"SecretaryIsNotPractitioner", "secA", PermPractitioner, A, false},
		{"SecretaryDoesNotAdminister", "secA", PermPracticeAdmin, A, false},
		{"SecretaryNotStaffElsewhere", "secA", PermPracticeStaff, B, false},
		{"AdminAdministersAnyPractice", "admin", PermPracticeAdmin, B, true},
		{"OrgAdminOnlyOwnOrganization", "org1", PermOrgAdmin, Target{OrganizationID: "org-2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Allow(a[tc.actor], tc.perm, tc.t); got != tc.want {
				t.Errorf("Allow(%s, %s, %+v) = %v, want %v", tc.actor, tc.perm, tc.t, got, tc.want)
			}
		})
	}
}

// TestAllowCoversRoutePerms: every permission a route declares is in the
// tables above.
func TestAllowCoversRoutePerms(t *testing.T) {
	t.Parallel()
	for _, rt := range (&Server{}).routeTable() {
		if !slices.Contains(allPerms, rt.perm) {
			t.Errorf("route %s %s declares %q, which policy_test.go does not test", rt.method, rt.path, rt.perm)
		}
	}
}
