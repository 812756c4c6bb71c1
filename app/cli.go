package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"daraport/store"
)

// UserSpec is what `daraport user add` asks for.
type UserSpec struct {
	Email, Name, Role, PracticeID, Password string
	Locale                                  string
	OrganizationID                          string // org_admin: the organization (a new one when empty)
}

// AddUser creates an account from the command line: the operator vouches for
// it, so the address counts as verified and the API may be used before the
// first interactive sign-in (where consent is asked). A practitioner gets a
// verified practice (or joins --practice); a secretary joins --practice.
// An org_admin administers --org, or a new organization named after them.
// It returns the user id and, for practice roles, the practice id (for an
// org_admin, the organization id). An admin created here completes the
// first-run setup.
func AddUser(ctx context.Context, db *store.DB, cfg Config, spec UserSpec) (userID, practiceID string, err error) {
	spec.Email = strings.TrimSpace(spec.Email)
	if _, msg := cleanEmail(spec.Email); msg != "" {
		return "", "", fmt.Errorf("invalid --email %q", spec.Email)
	}
	name, msg := cleanName(spec.Name)
	if msg != "" {
		return "", "", fmt.Errorf("invalid --name: it must be 1 to 100 printable characters")
	}
	if !validRoleName(spec.Role) {
		return "", "", fmt.Errorf("unknown --role %q (patient, secretary, practitioner, org_admin, affiliate, admin)", spec.Role)
	}
	if spec.Role == store.RoleSecretary && spec.PracticeID == "" {
		return "", "", errors.New("a secretary needs --practice")
	}
	if m := passwordProblem(spec.Password, spec.Email, name); m != "" {
		return "", "", fmt.Errorf("password refused: %s", strings.TrimPrefix(m, "error."))
	}
	hash, err := hashPassword(spec.Password)
	if err != nil {
		return "", "", err
	}
	locale := supported(spec.Locale)
	if locale == "" {
		locale = supported(cfg.Brand.DefaultLanguage)
	}
	err = db.Update(ctx, func(tx *store.Tx) error {
		u := &store.User{Email: spec.Email, Name: name, PasswordHash: hash, Locale: locale, TimeZone: cfg.Server.TimeZone,
			EmailVerifiedAt: tx.Now(), APIVouched: true}
		if err := tx.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("an account with e-mail %s already exists", spec.Email)
			}
			return err
		}
		userID = u.ID
		if spec.PracticeID != "" && (spec.Role == store.RolePractitioner || spec.Role == store.RoleSecretary) {
			if _, err := tx.FindPracticeByID(ctx, spec.PracticeID); err != nil {
				return fmt.Errorf("no practice with id %q", spec.PracticeID)
			}
			practiceID = spec.PracticeID
		}
		if spec.Role == store.RolePractitioner && practiceID == "" {
			p := &store.Practice{Name: name, TimeZone: cfg.Server.TimeZone, Status: store.PracticeVerified}
			if err := tx.CreatePractice(ctx, p); err != nil {
				return err
			}
			practiceID = p.ID
		}
		m := &store.Membership{UserID: u.ID, Role: spec.Role}
		if spec.Role == store.RolePractitioner || spec.Role == store.RoleSecretary {
			m.PracticeID = practiceID
		}
		if spec.Role == store.RoleOrgAdmin {
			if spec.OrganizationID != "" {
				if _, err := tx.FindOrganizationByID(ctx, spec.OrganizationID); err != nil {
					return fmt.Errorf("no organization with id %q", spec.OrganizationID)
				}
				m.OrganizationID = spec.OrganizationID
			} else {
				o := &store.Organization{Name: name}
				if err := tx.CreateOrganization(ctx, o); err != nil {
					return err
				}
				m.OrganizationID = o.ID
			}
			practiceID = m.OrganizationID
		}
		if err := tx.AddMembership(ctx, m); err != nil {
			return err
		}
		if spec.Role != store.RolePatient {
			if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RolePatient}); err != nil {
				return err
			}
		}
		if spec.Role == store.RoleAdmin {
			if err := tx.DeleteMeta(ctx, setupMetaKey); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, &store.AuditEntry{Action: "cli.user_added", ObjectType: "user", ObjectID: u.ID, Detail: "role=" + spec.Role})
	})
	if err != nil {
		return "", "", err
	}
	return userID, practiceID, nil
}

func validRoleName(r string) bool {
	for _, x := range store.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// AddToken creates an API token for the account with that e-mail and
// returns its secret (shown once).
func AddToken(ctx context.Context, db *store.DB, email string) (string, error) {
	var secret string
	err := db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.FindUserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account with e-mail %s", email)
		}
		if err != nil {
			return err
		}
		if !u.DisabledAt.IsZero() {
			return fmt.Errorf("the account %s is disabled", email)
		}
		var t *store.APIToken
		secret, t, err = tx.CreateAPIToken(ctx, u.ID, "cli")
		if err != nil {
			return err
		}
		return tx.Audit(ctx, &store.AuditEntry{ActorID: u.ID, Action: "cli.token_added", ObjectType: "api_token", ObjectID: t.ID})
	})
	return secret, err
}
