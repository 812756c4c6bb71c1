package app

import (
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"daraport/store"
)

// consentVersion is the version of the privacy text in the catalogue
// (consent.text). Changing the text means a new version: everyone is asked
// again at their next sign-in.
const consentVersion = "2026-11-01"

// consentItem is one thing a person agrees to.
type consentItem struct {
	ID       string
	Required bool
}

// consentItems: the first two are needed to use the service; the others are
// optional and can be withdrawn at any time from the privacy page.
var consentItems = []consentItem{
	{"privacy", true},     // terms and privacy policy
	{"health_data", true}, // processing of health data for booking and care (GDPR art. 9)
	{"reminders", false},  // e-mail reminders before appointments
	{"directory", false},  // use of the postal code to suggest nearby practitioners
}

type consentPage struct {
	*Page
	Next       string
	Version    string
	Items      []consentItem
	Checked    map[string]bool
	BirthDate  string
	PostalCode string
	City       string
	Today      string
}

func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	p := &consentPage{Page: s.newPage(w, r, "consent.title"), Next: safeNext(r.FormValue("next")), Version: consentVersion,
		Items: consentItems, Checked: map[string]bool{"reminders": true}, BirthDate: a.User.BirthDate,
		PostalCode: a.User.PostalCode, City: a.User.City, Today: s.clock().Format("2006-01-02")}
	s.render(w, r, http.StatusOK, "consent", p)
}

var postalRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$`)

func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &consentPage{Page: s.newPage(w, r, "consent.title"), Next: safeNext(r.PostFormValue("next")), Version: consentVersion,
		Items: consentItems, Checked: map[string]bool{}, Today: s.clock().Format("2006-01-02"),
		BirthDate: strings.TrimSpace(r.PostFormValue("birth_date")), PostalCode: strings.TrimSpace(r.PostFormValue("postal_code")),
		City: strings.TrimSpace(r.PostFormValue("city"))}
	for _, it := range consentItems {
		p.Checked[it.ID] = r.PostFormValue("consent_"+it.ID) != ""
		if it.Required && !p.Checked[it.ID] {
			p.fail("consent_"+it.ID, "error.consent_required")
		}
	}
	if msg := checkBirthDate(p.BirthDate, s.clock()); msg != "" {
		p.fail("birth_date", msg)
	}
	if !postalRe.MatchString(p.PostalCode) {
		p.fail("postal_code", "error.postal_code")
	}
	if p.City == "" || utf8.RuneCountInString(p.City) > 100 {
		p.fail("city", "error.city")
	} else if _, m := cleanName(p.City); m != "" {
		p.fail("city", "error.city")
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "consent", p)
		return
	}
	ip := s.clientIP(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		for _, it := range consentItems {
			if err := tx.RecordConsent(ctx, &store.Consent{UserID: a.User.ID, Item: it.ID, Version: consentVersion, Granted: p.Checked[it.ID], IP: ip}); err != nil {
				return err
			}
		}
		v, now := consentVersion, tx.Now()
		if err := tx.UpdateUser(ctx, a.User.ID, store.UserUpdate{ConsentVersion: &v, ConsentAt: &now, BirthDate: &p.BirthDate,
			PostalCode: &p.PostalCode, City: &p.City}); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "consent.accepted", "user", a.User.ID, "version="+consentVersion)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

// checkBirthDate validates a YYYY-MM-DD birth date: a real day, not in the
// future, at most 130 years ago.
func checkBirthDate(v string, now time.Time) string {
	d, err := time.Parse("2006-01-02", v)
	if err != nil {
		return "error.birth_date"
	}
	if d.After(now) || d.Before(now.AddDate(-130, 0, 0)) {
		return "error.birth_date"
	}
	return ""
}

type privacyPage struct {
	*Page
	Items   []consentItem
	Current map[string]store.Consent
	History []store.Consent
}

func (s *Server) handlePrivacy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	hist, err := s.db.Consents(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	cur, err := s.db.CurrentConsents(ctx, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := &privacyPage{Page: s.newPage(w, r, "privacy.title"), Items: consentItems, Current: cur, History: hist}
	s.render(w, r, http.StatusOK, "privacy", p)
}

// handlePrivacySubmit grants or withdraws one consent item. Withdrawing a
// required one means the service cannot be used: the person is asked again
// at the next page.
func (s *Server) handlePrivacySubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	item := r.PostFormValue("item")
	grant := r.PostFormValue("grant") == "1"
	var found *consentItem
	for i := range consentItems {
		if consentItems[i].ID == item {
			found = &consentItems[i]
		}
	}
	if found == nil {
		s.error(w, r, errorf(ECodeInvalid, "error.bad_form"))
		return
	}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.RecordConsent(ctx, &store.Consent{UserID: a.User.ID, Item: item, Version: consentVersion, Granted: grant, IP: s.clientIP(r)}); err != nil {
			return err
		}
		if found.Required && !grant {
			empty := ""
			if err := tx.UpdateUser(ctx, a.User.ID, store.UserUpdate{ConsentVersion: &empty}); err != nil {
				return err
			}
		}
		action := "consent.withdrawn"
		if grant {
			action = "consent.granted"
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "consent", item, "version="+consentVersion)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.saved")
	http.Redirect(w, r, "/account/privacy", http.StatusSeeOther)
}
