package app

import (
	"context"
	"errors"

	"daraport/store"
)

// DemoAccount is an account the demo prints for people to sign in with.
type DemoAccount struct{ Role, Email, Password string }

// demoPassword is shared by the demo accounts: the demo runs on throw-away
// data and says so.
const demoPassword = "demo-password-2026"

// SeedDemo fills an empty installation with sample practices, staff and
// patients (consent already given) and returns the accounts. Seeding twice
// is a no-op that returns the same accounts.
func SeedDemo(ctx context.Context, db *store.DB, cfg Config) ([]DemoAccount, error) {
	people := []struct {
		role, email, name, practice string
	}{
		{store.RoleAdmin, "admin@demo.daraport.test", "Admin Demo", ""},
		{store.RolePractitioner, "dr.martin@demo.daraport.test", "Martin Claire", "Cabinet du Dr Claire Martin"},
		{store.RolePractitioner, "dr.garcia@demo.daraport.test", "García Lucía", "Consulta Dra. Lucía García"},
		{store.RoleSecretary, "secretariat@demo.daraport.test", "Durand Sophie", "Cabinet du Dr Claire Martin"},
		{store.RolePatient, "patient@demo.daraport.test", "Lager Jacques", ""},
		{store.RolePatient, "patient2@demo.daraport.test", "Schmidt Anna", ""},
	}
	var out []DemoAccount
	for _, p := range people {
		out = append(out, DemoAccount{Role: p.role, Email: p.email, Password: demoPassword})
	}
	if _, err := db.Meta(ctx, "demo_seeded"); err == nil {
		return out, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash, err := hashPassword(demoPassword)
	if err != nil {
		return nil, err
	}
	err = db.Update(ctx, func(tx *store.Tx) error {
		practices := map[string]string{}
		for _, p := range people {
			now := tx.Now()
			u := &store.User{Email: p.email, Name: p.name, PasswordHash: hash, Locale: supported(cfg.Brand.DefaultLanguage),
				TimeZone: cfg.Server.TimeZone, EmailVerifiedAt: now, ConsentVersion: consentVersion, ConsentAt: now,
				BirthDate: "1980-05-17", PostalCode: "06000", City: "Nice"}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			for _, it := range consentItems {
				if err := tx.RecordConsent(ctx, &store.Consent{UserID: u.ID, Item: it.ID, Version: consentVersion, Granted: true, IP: "demo"}); err != nil {
					return err
				}
			}
			if err := tx.AddMembership(ctx, &store.Membership{UserID: u.ID, Role: store.RolePatient}); err != nil {
				return err
			}
			m := &store.Membership{UserID: u.ID, Role: p.role}
			if p.practice != "" {
				if practices[p.practice] == "" {
					pr := &store.Practice{Name: p.practice, TimeZone: cfg.Server.TimeZone, Status: store.PracticeVerified}
					if err := tx.CreatePractice(ctx, pr); err != nil {
						return err
					}
					practices[p.practice] = pr.ID
				}
				m.PracticeID = practices[p.practice]
			}
			if p.role != store.RolePatient {
				if err := tx.AddMembership(ctx, m); err != nil {
					return err
				}
			}
		}
		if err := tx.DeleteMeta(ctx, setupMetaKey); err != nil {
			return err
		}
		if err := tx.Audit(ctx, &store.AuditEntry{Action: "demo.seeded"}); err != nil {
			return err
		}
		return tx.SetMeta(ctx, "demo_seeded", "1")
	})
	return out, err
}
