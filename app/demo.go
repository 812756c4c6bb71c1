package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"daraport/app/schedule"
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

// demoPractice is how FillDemo sets up one demo practice.
type demoPractice struct {
	email     string // the practitioner
	specialty string // catalogue id
	address   string
	week      map[string][][2]string
	types     []demoType
}

type demoType struct {
	name    string // catalogue id
	minutes int
	price   int64
	tele    bool
}

var demoPractices = []demoPractice{
	{email: "dr.martin@demo.daraport.test", specialty: "ops.demo.spec_gp", address: "12 avenue Jean Médecin",
		week: map[string][][2]string{
			"mon": {{"09:00", "12:30"}, {"14:00", "18:30"}}, "tue": {{"09:00", "12:30"}, {"14:00", "18:30"}},
			"wed": {{"09:00", "12:30"}}, "thu": {{"09:00", "12:30"}, {"14:00", "18:30"}},
			"fri": {{"09:00", "12:30"}, {"14:00", "17:00"}}, "sat": {{"09:00", "12:00"}},
		},
		types: []demoType{{"ops.demo.type_consult", 15, 3000, false}, {"ops.demo.type_long", 30, 5000, false}, {"ops.demo.type_tele", 15, 2500, true}}},
	{email: "dr.garcia@demo.daraport.test", specialty: "ops.demo.spec_derm", address: "5 rue de France",
		week: map[string][][2]string{
			"mon": {{"08:00", "13:00"}, {"15:00", "20:00"}}, "tue": {{"08:00", "13:00"}, {"15:00", "20:00"}},
			"wed": {{"08:00", "13:00"}, {"15:00", "20:00"}}, "thu": {{"08:00", "13:00"}},
			"fri": {{"08:00", "13:00"}, {"15:00", "20:00"}}, "sat": {{"08:00", "12:00"}},
		},
		types: []demoType{{"ops.demo.type_consult", 30, 5000, false}, {"ops.demo.type_followup", 15, 3000, false}, {"ops.demo.type_tele", 15, 3000, true}}},
}

// DemoVisit is the demo's teleconsultation, starting in a few minutes so
// its video room is already open.
type DemoVisit struct {
	Start         time.Time
	Patient, Pro  string // e-mails to sign in with, one per browser window
	AppointmentID string
	Link          string // the visit's own link, when the video feature provides one
}

// FillDemo gives the demo practices their settings, hours, visit types
// and a generated planning, books about a third of the coming week for the
// two demo patients, and books a teleconsultation starting within 15
// minutes (its room opens visit.open_before ahead, so it can be joined at
// once). Names follow the brand's default language (daraport demo --lang).
// Filling twice is a no-op that returns the same visit.
func (s *Server) FillDemo(ctx context.Context) (*DemoVisit, error) {
	if v, err := s.db.Meta(ctx, "demo_visit"); err == nil {
		var dv DemoVisit
		if err := json.Unmarshal([]byte(v), &dv); err != nil {
			return nil, err
		}
		return &dv, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	lang := s.defaultLanguage()
	patients := make([]*store.User, 0, 2)
	for _, e := range []string{"patient@demo.daraport.test", "patient2@demo.daraport.test"} {
		u, err := s.db.FindUserByEmail(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", e, err)
		}
		patients = append(patients, u)
	}
	reasons := []string{"ops.demo.reason_checkup", "ops.demo.reason_results", "ops.demo.reason_renewal", "ops.demo.reason_pain"}
	var visit *DemoVisit
	now := s.clock()
	n := 0
	for _, dp := range demoPractices {
		pro, err := s.db.FindUserByEmail(ctx, dp.email)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", dp.email, err)
		}
		ms, err := s.db.Memberships(ctx, pro.ID)
		if err != nil {
			return nil, err
		}
		var pid string
		for _, m := range ms {
			if m.Role == store.RolePractitioner {
				pid = m.PracticeID
			}
		}
		p, err := s.db.FindPracticeByID(ctx, pid)
		if err != nil {
			return nil, err
		}
		st := p.Settings
		st.Specialties = []string{s.i18n.T(lang, dp.specialty)}
		st.Address, st.PostalCode, st.City, st.Country = dp.address, "06000", "Nice", "FR"
		st.HorizonDays, st.MinNoticeMinutes, st.MaxFuturePerPatient, st.SecretaryPhone = 60, 0, 0, "+33 4 93 00 00 00"
		types := make([]*store.AppointmentType, len(dp.types))
		err = s.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.UpdateSettings(ctx, p.ID, st); err != nil {
				return err
			}
			for i, dt := range dp.types {
				types[i] = &store.AppointmentType{PracticeID: p.ID, Name: s.i18n.T(lang, dt.name), Minutes: dt.minutes, Price: dt.price,
					Currency: "EUR", Teleconsultation: dt.tele, NewPatients: true}
				if err := tx.CreateType(ctx, types[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		spec, err := parseSpec(hoursSpec{"": dp.week})
		if err != nil {
			return nil, err
		}
		if p, err = s.db.FindPracticeByID(ctx, p.ID); err != nil {
			return nil, err
		}
		if _, err := s.changeHours(ctx, p, s.today(p, now), spec, pro.ID); err != nil {
			return nil, err
		}
		if err := s.generateInitial(ctx, p.ID, pro.ID, nil); err != nil {
			return nil, err
		}
		if p, err = s.db.FindPracticeByID(ctx, p.ID); err != nil {
			return nil, err
		}
		// The coming week: about one start in three, alternating types and
		// patients, as a practice's week looks.
		today := s.today(p, now)
		for i, typ := range types {
			starts, err := s.freeStarts(ctx, p, typ.Minutes, typ.BufferAfter, today.AddDays(1), today.AddDays(7), now)
			if err != nil {
				return nil, err
			}
			for j := i; j < len(starts); j += 3 * len(types) {
				pat := patients[n%len(patients)]
				req := bookRequest{SlotID: starts[j].ID, TypeID: typ.ID, Source: "staff", Patient: pat, ActorID: pro.ID,
					Reason: s.i18n.T(lang, reasons[n%len(reasons)]), Key: fmt.Sprintf("demo-%d", n)}
				if typ.Teleconsultation {
					req.Phone = "+33 6 12 34 56 78"
				}
				n++
				if _, err := s.book(ctx, req); err != nil {
					// A start taken by a longer visit booked just before:
					// the demo simply has one appointment fewer.
					continue
				}
			}
		}
		if types[2].Teleconsultation && dp.email == "dr.garcia@demo.daraport.test" {
			if visit, err = s.demoVisitNow(ctx, p, types[2], patients[0], pro, now); err != nil {
				return nil, err
			}
		}
	}
	if visit == nil {
		return nil, errors.New("demo: no teleconsultation practice")
	}
	b, _ := json.Marshal(visit)
	err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetMeta(ctx, "demo_visit", string(b)) })
	return visit, err
}

// demoVisitNow books a teleconsultation at the next quarter hour. Outside
// the practice's hours it first opens that one slot (an extra slot, as a
// practitioner may add for an urgent call).
func (s *Server) demoVisitNow(ctx context.Context, p *store.Practice, typ *store.AppointmentType, patient, pro *store.User, now time.Time) (*DemoVisit, error) {
	start := now.Truncate(15 * time.Minute).Add(15 * time.Minute)
	end := start.Add(time.Duration(typ.Minutes) * time.Minute)
	loc := s.location(p.TimeZone)
	var locationID string
	if some, err := s.db.FindSlots(ctx, p.ID, now, now.Add(8*24*time.Hour)); err == nil && len(some) > 0 {
		locationID = some[0].LocationID
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.InsertSlots(ctx, p.ID, []store.Slot{{Start: start, End: end, LocationID: locationID, Day: schedule.DayOf(start.In(loc)).String()}})
		return err
	}); err != nil {
		return nil, err
	}
	slots, err := s.db.FindSlots(ctx, p.ID, start, end)
	if err != nil {
		return nil, err
	}
	for _, sl := range slots {
		if !sl.Start.Equal(start) || sl.State != "free" {
			continue
		}
		a, err := s.book(ctx, bookRequest{SlotID: sl.ID, TypeID: typ.ID, Source: "staff", Patient: patient, ActorID: pro.ID,
			Reason: s.i18n.T(s.defaultLanguage(), "ops.demo.reason_tele"), Phone: "+33 6 12 34 56 78", Key: "demo-visit"})
		if err != nil {
			return nil, err
		}
		return &DemoVisit{Start: a.Start, Patient: patient.Email, Pro: pro.Email, AppointmentID: a.ID, Link: s.appointmentVisitLink(ctx, a)}, nil
	}
	return nil, fmt.Errorf("demo: no free slot at %s for the teleconsultation", start.Format(time.RFC3339))
}

// DemoWelcome is what `daraport demo` prints, in the brand's default
// language: where it runs, the accounts, and how to open the
// teleconsultation in two windows.
func (s *Server) DemoWelcome(accounts []DemoAccount, v *DemoVisit) string {
	lang := s.defaultLanguage()
	var b strings.Builder
	b.WriteString(s.i18n.T(lang, "ops.demo.welcome", "URL", s.cfg.Server.BaseURL, "Dir", s.cfg.Server.DataDir))
	b.WriteString("\n")
	for _, a := range accounts {
		fmt.Fprintf(&b, "  %-16s %-32s %s: %s\n", s.i18n.T(lang, "ops.demo.role_"+a.Role), a.Email, s.i18n.T(lang, "ops.demo.password"), a.Password)
	}
	if v != nil {
		link := v.Link
		if link == "" {
			link = s.link("/appointments", nil)
		}
		p := s.i18n.T
		b.WriteString(p(lang, "ops.demo.visit", "Time", formatDateTime(lang, v.Start, s.location(s.cfg.Server.TimeZone)),
			"URL", link, "Patient", v.Patient, "Pro", v.Pro))
		b.WriteString("\n")
	}
	return b.String()
}
