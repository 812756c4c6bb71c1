package app

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"daraport/app/schedule"
	"daraport/store"
)

// The practice settings (seed 004's "Paramétrer votre officine"): a
// read-only view, so a practitioner can check them without risking a change
// (the seed warns against pressing "Valider" just to look), an edit form,
// the extra locations, and the same settings over the API. The page and the
// API share validateSettings and applySettings.

// settingsRoutes are the practice settings pages and API.
func (s *Server) settingsRoutes() []route {
	return []route{
		{method: "GET", path: "/pro/p/{id}/settings", perm: PermPracticeAdmin, practice: "id", h: s.handleSettings},
		{method: "GET", path: "/pro/p/{id}/settings/edit", perm: PermPracticeAdmin, practice: "id", h: s.handleSettingsEdit},
		{method: "POST", path: "/pro/p/{id}/settings", perm: PermPracticeAdmin, practice: "id", h: s.handleSettingsSave},
		{method: "POST", path: "/pro/p/{id}/locations", perm: PermPracticeAdmin, practice: "id", h: s.handleLocationSave},
		{method: "POST", path: "/pro/p/{id}/locations/{loc}/delete", perm: PermPracticeAdmin, practice: "id", h: s.handleLocationDelete},
		{method: "POST", path: "/pro/p/{id}/photo", perm: PermPracticeAdmin, practice: "id", h: s.handlePhotoUpload},
		{method: "POST", path: "/pro/p/{id}/photo/delete", perm: PermPracticeAdmin, practice: "id", h: s.handlePhotoDelete},
		{method: "GET", path: "/practices/{id}/photo", perm: PermPublic, h: s.handlePhoto},
		{method: "GET", path: "/api/v1/practices/{id}/settings", perm: PermPracticeAdmin, practice: "id", h: s.handleAPISettings},
		{method: "PUT", path: "/api/v1/practices/{id}/settings", perm: PermPracticeAdmin, practice: "id", h: s.handleAPISettingsPut},
	}
}

// The structured choices. Their labels are catalogue entries named after
// the value ("settings.payment.cash", "settings.country.FR", …).
var (
	settingPayments  = []string{"cash", "cheque", "card", "transfer", "contactless"}
	settingAccess    = []string{"ground_floor", "lift", "wheelchair", "parking", "accessible_toilets", "hearing_loop"}
	settingLanguages = []string{"fr", "en", "de", "es", "it", "pt", "ar", "nl"} // ISO 639-1
	settingCountries = []string{"FR", "DE", "ES", "GB", "BE", "CH", "IT", "PT", "NL", "LU", "US", "CA"}
	// The French "secteur": "" not stated or not applicable, 1, 2, 3, or
	// nc (non conventionné).
	settingSectors = []string{"", "1", "2", "3", "nc"}
	locationKinds  = []string{"hospital", "clinic", "office", "home"}
	// settingZones are suggested in the form; any IANA zone is accepted.
	settingZones = []string{"Europe/Paris", "Europe/Brussels", "Europe/Luxembourg", "Europe/Zurich", "Europe/Berlin", "Europe/Vienna",
		"Europe/Madrid", "Atlantic/Canary", "Europe/Lisbon", "Europe/London", "Europe/Dublin", "Europe/Rome", "Europe/Amsterdam",
		"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto", "America/Vancouver",
		"America/Martinique", "America/Guadeloupe", "America/Cayenne", "Indian/Reunion", "Indian/Mayotte", "Pacific/Noumea",
		"Pacific/Tahiti", "Africa/Casablanca", "Africa/Algiers", "Africa/Tunis", "UTC"}
)

const (
	maxSettingLines  = 20   // specialties, diplomas, transport, other payment means
	maxSettingLine   = 100  // characters per line
	maxVisitTypes    = 2000 // characters
	maxAddress       = 200
	maxCity          = 100
	maxLocations     = 20
	badNumber        = -1 << 31 // a number field that does not parse: fails every range
	settingsBodySize = 256 << 10
)

var (
	postalCodeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]{0,11}$`)
	phoneRe      = regexp.MustCompile(`^\+?[0-9][0-9 .\-]*$`)
)

// practiceSettings is everything the settings pages and API edit: the
// practice's name and zone, and its settings.
type practiceSettings struct {
	Name     string
	TimeZone string
	store.Settings
}

func settingsOf(p *store.Practice) practiceSettings {
	st := p.Settings
	// Copies: validation normalises the lists in place.
	for _, l := range []*[]string{&st.Specialties, &st.Diplomas, &st.PaymentMeans, &st.Transport, &st.Access, &st.Languages} {
		*l = slices.Clone(*l)
	}
	return practiceSettings{Name: p.Name, TimeZone: p.TimeZone, Settings: st}
}

// settingsError is a field error of the settings (code invalid, 422).
func settingsError(field, msgID string, args ...any) *Error {
	e := errorf(ECodeInvalid, msgID, args...)
	e.Field = field
	return e
}

// validateSettings normalises v (trimmed text, option sets in their
// canonical order, empty lines dropped) and returns every field error in the
// order of the form; the API answers the first. The slot length against the
// appointment types needs the database: see checkSlotTypes.
func validateSettings(v *practiceSettings) []*Error {
	var errs []*Error
	bad := func(field, msgID string, args ...any) { errs = append(errs, settingsError(field, msgID, args...)) }
	var msg string
	if v.Name, msg = cleanName(v.Name); msg != "" {
		bad("name", "error.settings.name")
	}
	v.TimeZone = strings.TrimSpace(v.TimeZone)
	if !validZone(v.TimeZone) {
		bad("time_zone", "error.time_zone")
	}
	var ok bool
	if v.Specialties, ok = cleanLines(v.Specialties); !ok {
		bad("specialties", "error.settings.lines", "Max", maxSettingLines, "Length", maxSettingLine)
	}
	if v.Diplomas, ok = cleanLines(v.Diplomas); !ok {
		bad("diplomas", "error.settings.lines", "Max", maxSettingLines, "Length", maxSettingLine)
	}
	var codes, other []string
	for _, m := range v.PaymentMeans {
		if m = strings.TrimSpace(m); slices.Contains(settingPayments, m) {
			codes = append(codes, m)
		} else {
			other = append(other, m)
		}
	}
	if other, ok = cleanLines(other); !ok {
		bad("payment_means", "error.settings.lines", "Max", maxSettingLines, "Length", maxSettingLine)
	}
	v.PaymentMeans = append(inOrder(codes, settingPayments), other...)
	if v.Transport, ok = cleanLines(v.Transport); !ok {
		bad("transport", "error.settings.lines", "Max", maxSettingLines, "Length", maxSettingLine)
	}
	if v.Access, ok = cleanSet(v.Access, settingAccess); !ok {
		bad("access", "error.settings.access")
	}
	if v.Languages, ok = cleanSet(v.Languages, settingLanguages); !ok {
		bad("languages", "error.settings.languages")
	}
	if v.HorizonDays < 7 || v.HorizonDays > 365 {
		bad("horizon_days", "error.settings.horizon_days")
	}
	v.VisitTypes = strings.TrimSpace(strings.ReplaceAll(v.VisitTypes, "\r\n", "\n"))
	if utf8.RuneCountInString(v.VisitTypes) > maxVisitTypes || !cleanText(v.VisitTypes, true) {
		bad("visit_types", "error.settings.visit_types", "Max", maxVisitTypes)
	}
	v.ConventionSector = strings.TrimSpace(v.ConventionSector)
	if !slices.Contains(settingSectors, v.ConventionSector) {
		bad("convention_sector", "error.settings.convention_sector")
	}
	if v.CancelCutoffHours < 0 || v.CancelCutoffHours > 720 {
		bad("cancel_cutoff_hours", "error.settings.cancel_cutoff_hours")
	}
	if v.SlotMinutes < 5 || v.SlotMinutes > 240 || v.SlotMinutes%5 != 0 {
		bad("slot_minutes", "error.settings.slot_minutes")
	}
	if v.MinNoticeMinutes < 0 || v.MinNoticeMinutes > 10080 {
		bad("min_notice_minutes", "error.settings.min_notice_minutes")
	}
	if v.MaxFuturePerPatient < 0 || v.MaxFuturePerPatient > 1000 {
		bad("max_future_per_patient", "error.settings.max_future_per_patient")
	}
	v.Address = strings.TrimSpace(v.Address)
	if utf8.RuneCountInString(v.Address) > maxAddress || !cleanText(v.Address, false) {
		bad("address", "error.settings.address", "Max", maxAddress)
	}
	v.PostalCode = strings.TrimSpace(v.PostalCode)
	if v.PostalCode != "" && !postalCodeRe.MatchString(v.PostalCode) {
		bad("postal_code", "error.postal_code")
	}
	v.City = strings.TrimSpace(v.City)
	if utf8.RuneCountInString(v.City) > maxCity || !cleanText(v.City, false) {
		bad("city", "error.settings.city", "Max", maxCity)
	}
	v.Country = strings.ToUpper(strings.TrimSpace(v.Country))
	if !slices.Contains(settingCountries, v.Country) {
		bad("country", "error.settings.country")
	}
	v.SecretaryPhone = strings.TrimSpace(v.SecretaryPhone)
	if v.SecretaryPhone != "" && !validPhone(v.SecretaryPhone) {
		bad("secretary_phone", "error.settings.secretary_phone")
	}
	v.BookingMode = strings.TrimSpace(v.BookingMode)
	if v.BookingMode != "free" && v.BookingMode != "allowlist" {
		bad("booking_mode", "error.settings.booking_mode")
	}
	v.ReasonMode = strings.TrimSpace(v.ReasonMode)
	if v.ReasonMode != "free" && v.ReasonMode != "table" {
		bad("reason_mode", "error.settings.reason_mode")
	}
	return errs
}

// validZone tells whether name is an IANA zone (not "Local", which is the
// server's and means nothing to a practice).
func validZone(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// validPhone accepts an international number: an optional +, then digits,
// spaces, dots and dashes, with 6 to 20 digits.
func validPhone(v string) bool {
	if len(v) > 40 || !phoneRe.MatchString(v) {
		return false
	}
	n := 0
	for _, r := range v {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n >= 6 && n <= 20
}

// cleanText tells whether v is valid UTF-8 without control characters
// (newlines and tabs allowed when multiline).
func cleanText(v string, multiline bool) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return false
		}
	}
	return true
}

// cleanLines trims each line, drops empty ones and repeats, and tells
// whether what is left fits: at most maxSettingLines lines of at most
// maxSettingLine characters, without control characters.
func cleanLines(in []string) ([]string, bool) {
	out := []string{}
	ok := true
	for _, l := range in {
		l = strings.TrimSpace(l)
		if l == "" || slices.Contains(out, l) {
			continue
		}
		if utf8.RuneCountInString(l) > maxSettingLine || !cleanText(l, false) {
			ok = false
		}
		out = append(out, l)
	}
	return out, ok && len(out) <= maxSettingLines
}

// cleanSet keeps the values of in that belong to allowed, in allowed's
// order, and tells whether there was nothing else.
func cleanSet(in, allowed []string) ([]string, bool) {
	ok := true
	for _, v := range in {
		if !slices.Contains(allowed, strings.TrimSpace(v)) {
			ok = false
		}
	}
	trimmed := make([]string, len(in))
	for i, v := range in {
		trimmed[i] = strings.TrimSpace(v)
	}
	return inOrder(trimmed, allowed), ok
}

// inOrder returns the members of allowed found in set, in allowed's order.
func inOrder(set, allowed []string) []string {
	out := []string{}
	for _, a := range allowed {
		if slices.Contains(set, a) {
			out = append(out, a)
		}
	}
	return out
}

// splitLines turns a textarea into lines.
func splitLines(v string) []string {
	return strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n")
}

// checkSlotTypes refuses a slot length that does not divide the length of
// every active appointment type: a type must fill whole slots.
func checkSlotTypes(types []store.TypeDuration, slotMinutes int) *Error {
	var names []string
	for _, t := range types {
		if t.Minutes%slotMinutes != 0 {
			names = append(names, fmt.Sprintf("%s (%d min)", t.Name, t.Minutes))
		}
	}
	if names == nil {
		return nil
	}
	return settingsError("slot_minutes", "error.settings.slot_types", "Minutes", slotMinutes, "Types", strings.Join(names, ", "))
}

// settingsResult is what saving the settings did to the planning.
type settingsResult struct {
	Change  *hoursChange // the slot grid was rebuilt from Change.From; nil otherwise
	Dropped int          // free slots of the new grid dropped because a booked slot overlaps them
}

// errSettingsRefused carries validation errors found inside the transaction.
type errSettingsRefused struct{ errs []*Error }

func (e *errSettingsRefused) Error() string { return "settings refused" }

// applySettings validates next, saves it over practice p, audits the
// change, and makes the planning follow: a new slot length (or time zone)
// rebuilds the free slots from tomorrow, a longer horizon adds the missing
// days at once, a shorter one removes the free slots beyond it. It returns
// the field errors (nothing written) or what happened to the planning.
// formErrs are errors the caller found first (they refuse the save too).
func (s *Server) applySettings(ctx context.Context, r *http.Request, actorID string, p *store.Practice, next practiceSettings, formErrs []*Error) (*settingsResult, []*Error, error) {
	errs := append(formErrs, validateSettings(&next)...)
	failed := func(field string) bool {
		for _, e := range errs {
			if e.Field == field {
				return true
			}
		}
		return false
	}
	var changed []string
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.FindPracticeByID(ctx, p.ID)
		if err != nil {
			return err
		}
		*p = *cur
		// The photo has its own form: keep the one stored now.
		next.PhotoDocumentID = cur.PhotoDocumentID
		if next.SlotMinutes != cur.SlotMinutes && !failed("slot_minutes") {
			types, err := tx.ActiveTypeDurations(ctx, cur.ID)
			if err != nil {
				return err
			}
			if e := checkSlotTypes(types, next.SlotMinutes); e != nil {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return &errSettingsRefused{errs}
		}
		changed = settingsChanges(settingsOf(cur), next)
		if len(changed) == 0 {
			return nil
		}
		if err := tx.UpdatePracticeName(ctx, cur.ID, next.Name, next.TimeZone); err != nil {
			return err
		}
		if err := tx.UpdateSettings(ctx, cur.ID, next.Settings); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, actorID, "practice.settings_updated", "practice", cur.ID, "fields="+strings.Join(changed, ","))
	})
	var refused *errSettingsRefused
	if errors.As(err, &refused) {
		return nil, refused.errs, nil
	}
	if err != nil {
		return nil, nil, err
	}
	res := &settingsResult{}
	if p.GeneratedAt.IsZero() || len(changed) == 0 {
		return res, nil, nil
	}
	err = s.followSettings(ctx, p, next, actorID, res)
	return res, nil, err
}

// settingsChanges names the fields that differ between a and b.
func settingsChanges(a, b practiceSettings) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("time_zone", a.TimeZone != b.TimeZone)
	add("specialties", !slices.Equal(a.Specialties, b.Specialties))
	add("diplomas", !slices.Equal(a.Diplomas, b.Diplomas))
	add("payment_means", !slices.Equal(a.PaymentMeans, b.PaymentMeans))
	add("transport", !slices.Equal(a.Transport, b.Transport))
	add("access", !slices.Equal(a.Access, b.Access))
	add("languages", !slices.Equal(a.Languages, b.Languages))
	add("horizon_days", a.HorizonDays != b.HorizonDays)
	add("visit_types", a.VisitTypes != b.VisitTypes)
	add("convention_sector", a.ConventionSector != b.ConventionSector)
	add("vitale", a.Vitale != b.Vitale)
	add("patient_can_cancel", a.PatientCanCancel != b.PatientCanCancel)
	add("cancel_cutoff_hours", a.CancelCutoffHours != b.CancelCutoffHours)
	add("slot_minutes", a.SlotMinutes != b.SlotMinutes)
	add("min_notice_minutes", a.MinNoticeMinutes != b.MinNoticeMinutes)
	add("max_future_per_patient", a.MaxFuturePerPatient != b.MaxFuturePerPatient)
	add("address", a.Address != b.Address)
	add("postal_code", a.PostalCode != b.PostalCode)
	add("city", a.City != b.City)
	add("country", a.Country != b.Country)
	add("secretary_phone", a.SecretaryPhone != b.SecretaryPhone)
	add("booking_mode", a.BookingMode != b.BookingMode)
	add("reason_mode", a.ReasonMode != b.ReasonMode)
	return out
}

// followSettings makes an existing planning follow saved settings; old
// holds the settings before the save (p is reloaded here).
func (s *Server) followSettings(ctx context.Context, old *store.Practice, next practiceSettings, actorID string, res *settingsResult) error {
	p, err := s.db.FindPracticeByID(ctx, old.ID)
	if err != nil {
		return err
	}
	now := s.clock()
	today := s.today(p, now)
	loc := s.location(p.TimeZone)
	// A shorter horizon: free (and merely blocked) slots beyond it go.
	if next.HorizonDays < old.HorizonDays {
		end := today.AddDays(next.HorizonDays - 1)
		if until, err := schedule.ParseDay(p.PlannedUntil); err == nil && end.Before(until) {
			err := s.db.Update(ctx, func(tx *store.Tx) error {
				if _, err := tx.DeleteFreeSlots(ctx, p.ID, end.AddDays(1).Start(loc)); err != nil {
					return err
				}
				if _, err := tx.DeleteBlockedSlots(ctx, p.ID, end.AddDays(1).Start(loc)); err != nil {
					return err
				}
				return tx.SetPlanned(ctx, p.ID, end.String(), false)
			})
			if err != nil {
				return err
			}
			if p, err = s.db.FindPracticeByID(ctx, p.ID); err != nil {
				return err
			}
		}
	}
	// A new grid: rebuild the free slots from tomorrow with the hours in
	// force then; booked slots stay where they are.
	if next.SlotMinutes != old.SlotMinutes || next.TimeZone != old.TimeZone {
		versions, err := s.versions(ctx, p.ID)
		if err != nil {
			return err
		}
		tomorrow := today.AddDays(1)
		ch, err := s.changeHours(ctx, p, tomorrow, schedule.At(versions, tomorrow), actorID)
		if err != nil {
			return err
		}
		res.Change, res.Dropped = ch, ch.Dropped
	}
	// A longer horizon: add the days now rather than one per night.
	if next.HorizonDays > old.HorizonDays {
		versions, err := s.versions(ctx, p.ID)
		if err != nil {
			return err
		}
		if _, err := s.rollPractice(ctx, p, versions, now); err != nil {
			return err
		}
	}
	return nil
}

// settingsForm holds the form's values as typed, so a refused form shows
// exactly what was sent.
type settingsForm struct {
	Name, TimeZone                                         string
	Specialties, Diplomas, PaymentOther, Transport         string
	Payments, Access, Languages                            []string
	HorizonDays, CancelCutoffHours, SlotMinutes            string
	MinNoticeMinutes, MaxFuturePerPatient                  string
	VisitTypes, ConventionSector, Vitale, PatientCanCancel string
	Address, PostalCode, City, Country, SecretaryPhone     string
	BookingMode, ReasonMode                                string
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func settingsFormOf(v practiceSettings) settingsForm {
	f := settingsForm{Name: v.Name, TimeZone: v.TimeZone, Specialties: strings.Join(v.Specialties, "\n"),
		Diplomas: strings.Join(v.Diplomas, "\n"), Transport: strings.Join(v.Transport, "\n"),
		Access: v.Access, Languages: v.Languages, HorizonDays: strconv.Itoa(v.HorizonDays),
		CancelCutoffHours: strconv.Itoa(v.CancelCutoffHours), SlotMinutes: strconv.Itoa(v.SlotMinutes),
		MinNoticeMinutes: strconv.Itoa(v.MinNoticeMinutes), MaxFuturePerPatient: strconv.Itoa(v.MaxFuturePerPatient),
		VisitTypes: v.VisitTypes, ConventionSector: v.ConventionSector, Vitale: yesNo(v.Vitale),
		PatientCanCancel: yesNo(v.PatientCanCancel), Address: v.Address, PostalCode: v.PostalCode, City: v.City,
		Country: v.Country, SecretaryPhone: v.SecretaryPhone, BookingMode: v.BookingMode, ReasonMode: v.ReasonMode}
	var other []string
	for _, m := range v.PaymentMeans {
		if slices.Contains(settingPayments, m) {
			f.Payments = append(f.Payments, m)
		} else {
			other = append(other, m)
		}
	}
	f.PaymentOther = strings.Join(other, "\n")
	return f
}

func readSettingsForm(r *http.Request) settingsForm {
	v := r.PostFormValue
	return settingsForm{Name: v("name"), TimeZone: v("time_zone"), Specialties: v("specialties"), Diplomas: v("diplomas"),
		PaymentOther: v("payment_other"), Transport: v("transport"), Payments: r.PostForm["payment_means"],
		Access: r.PostForm["access"], Languages: r.PostForm["languages"], HorizonDays: v("horizon_days"),
		CancelCutoffHours: v("cancel_cutoff_hours"), SlotMinutes: v("slot_minutes"), MinNoticeMinutes: v("min_notice_minutes"),
		MaxFuturePerPatient: v("max_future_per_patient"), VisitTypes: v("visit_types"), ConventionSector: v("convention_sector"),
		Vitale: v("vitale"), PatientCanCancel: v("patient_can_cancel"), Address: v("address"), PostalCode: v("postal_code"),
		City: v("city"), Country: v("country"), SecretaryPhone: v("secretary_phone"), BookingMode: v("booking_mode"),
		ReasonMode: v("reason_mode")}
}

// values turns the form into settings, with the errors only the form can
// make (a yes/no question left unanswered).
func (f settingsForm) values() (practiceSettings, []*Error) {
	num := func(s string) int {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return badNumber
		}
		return n
	}
	var errs []*Error
	yes := func(field, s string) bool {
		if s != "yes" && s != "no" {
			errs = append(errs, settingsError(field, "error.settings.yes_no"))
		}
		return s == "yes"
	}
	v := practiceSettings{Name: f.Name, TimeZone: f.TimeZone, Settings: store.Settings{
		Specialties: splitLines(f.Specialties), Diplomas: splitLines(f.Diplomas),
		PaymentMeans: append(slices.Clone(f.Payments), splitLines(f.PaymentOther)...), Transport: splitLines(f.Transport),
		Access: slices.Clone(f.Access), Languages: slices.Clone(f.Languages), VisitTypes: f.VisitTypes,
		ConventionSector: f.ConventionSector, Vitale: yes("vitale", f.Vitale), PatientCanCancel: yes("patient_can_cancel", f.PatientCanCancel),
		CancelCutoffHours: num(f.CancelCutoffHours), SlotMinutes: num(f.SlotMinutes), HorizonDays: num(f.HorizonDays),
		MinNoticeMinutes: num(f.MinNoticeMinutes), MaxFuturePerPatient: num(f.MaxFuturePerPatient), Address: f.Address,
		PostalCode: f.PostalCode, City: f.City, Country: f.Country, SecretaryPhone: f.SecretaryPhone,
		BookingMode: f.BookingMode, ReasonMode: f.ReasonMode}}
	return v, errs
}

// choice is one option of a select, radio or checkbox set.
type choice struct {
	Value, Label string
	On           bool
}

func choices(p *Page, prefix string, values []string, on ...string) []choice {
	out := make([]choice, len(values))
	for i, v := range values {
		key := v
		if key == "" {
			key = "none"
		}
		out[i] = choice{Value: v, Label: p.T(prefix + key), On: slices.Contains(on, v)}
	}
	return out
}

func labels(p *Page, prefix string, values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, p.T(prefix+v))
	}
	return out
}

// locationForm is a location's form as typed (ID "" for a new one).
type locationForm struct {
	ID, Name, Kind, Address, PostalCode, City string
}

// settingsPage is the read-only view and the edit form.
type settingsPage struct {
	*Page
	Practice  *store.Practice
	Base      string // /pro/p/{id}
	Form      settingsForm
	Locations []*store.Location
	// LocForm is a refused location form, shown again in place of the
	// stored values of that location (or the new-location form).
	LocForm  *locationForm
	NewLoc   locationForm
	PhotoURL string
	MapURL   string
	PhoneURL template.URL

	PaymentChoices, AccessChoices, LanguageChoices []choice
	CountryChoices, SectorChoices                  []choice
	Zones                                          []string

	// The read-only view's labels.
	PaymentLabels, AccessLabels, LanguageLabels []string
	SectorLabel, CountryLabel                   string

	// After a save that rebuilt the slot grid.
	Result    *settingsResult
	Conflicts []*store.Appointment
}

// LocationKind returns a location kind's label.
func (p *settingsPage) LocationKind(kind string) string { return p.T("settings.kind." + kind) }

// LocValues returns what a location's form shows: the refused values if that form
// was refused, else the stored ones.
func (p *settingsPage) LocValues(l *store.Location) locationForm {
	if p.LocForm != nil && p.LocForm.ID == l.ID {
		return *p.LocForm
	}
	return locationForm{ID: l.ID, Name: l.Name, Kind: l.Kind, Address: l.Address, PostalCode: l.PostalCode, City: l.City}
}

// LocError returns a location form's field error, only for the refused form.
func (p *settingsPage) LocError(id, field string) string {
	if p.LocForm == nil || p.LocForm.ID != id {
		return ""
	}
	return p.FieldError(field)
}

// KindChoices returns the kinds with one selected.
func (p *settingsPage) KindChoices(selected string) []choice {
	return choices(p.Page, "settings.kind.", locationKinds, selected)
}

// Minutes formats a number of minutes for the view ("90 min", "2 h").
func (p *settingsPage) Minutes(n int) string {
	if n >= 60 && n%60 == 0 {
		return p.T("settings.hours_n", "Count", n/60)
	}
	return p.T("settings.minutes_n", "Count", n)
}

// newSettingsPage loads the practice of the path and builds the page with
// its stored settings in the form.
func (s *Server) newSettingsPage(w http.ResponseWriter, r *http.Request, titleID string) (*settingsPage, error) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	locs, err := s.db.Locations(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	p := &settingsPage{Page: s.newPage(w, r, titleID), Practice: pr, Base: "/pro/p/" + pr.ID, Locations: locs, Zones: settingZones}
	p.Loc = s.location(pr.TimeZone)
	p.Form = settingsFormOf(settingsOf(pr))
	p.NewLoc = locationForm{Kind: "clinic"}
	if pr.PhotoDocumentID != "" {
		p.PhotoURL = "/practices/" + pr.ID + "/photo?v=" + url.QueryEscape(pr.PhotoDocumentID)
	}
	st := pr.Settings
	p.PaymentLabels = labels(p.Page, "settings.payment.", inOrder(st.PaymentMeans, settingPayments))
	for _, m := range st.PaymentMeans {
		if !slices.Contains(settingPayments, m) {
			p.PaymentLabels = append(p.PaymentLabels, m)
		}
	}
	p.AccessLabels = labels(p.Page, "settings.access.", st.Access)
	p.LanguageLabels = labels(p.Page, "settings.lang.", st.Languages)
	sector := st.ConventionSector
	if sector == "" {
		sector = "none"
	}
	p.SectorLabel = p.T("settings.sector." + sector)
	p.CountryLabel = p.T("settings.country." + st.Country)
	if st.Address != "" || st.City != "" {
		q := strings.Join(nonEmpty(st.Address, strings.TrimSpace(st.PostalCode+" "+st.City), p.CountryLabel), ", ")
		p.MapURL = "https://www.openstreetmap.org/search?query=" + url.QueryEscape(q)
	}
	if st.SecretaryPhone != "" && validPhone(st.SecretaryPhone) {
		p.PhoneURL = template.URL("tel:" + strings.NewReplacer(" ", "", ".", "", "-", "").Replace(st.SecretaryPhone))
	}
	return p, nil
}

func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// fillChoices sets the form's option lists from p.Form.
func (p *settingsPage) fillChoices() {
	f := p.Form
	p.PaymentChoices = choices(p.Page, "settings.payment.", settingPayments, f.Payments...)
	p.AccessChoices = choices(p.Page, "settings.access.", settingAccess, f.Access...)
	p.LanguageChoices = choices(p.Page, "settings.lang.", settingLanguages, f.Languages...)
	p.CountryChoices = choices(p.Page, "settings.country.", settingCountries, f.Country)
	p.SectorChoices = choices(p.Page, "settings.sector.", settingSectors, f.ConventionSector)
}

// handleSettings shows the settings read-only: no form, an Edit link.
func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	p, err := s.newSettingsPage(w, r, "settings.title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "settings", p)
}

// handleSettingsEdit shows the settings form, the photo and the locations.
func (s *Server) handleSettingsEdit(w http.ResponseWriter, r *http.Request) {
	p, err := s.newSettingsPage(w, r, "settings.edit_title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.fillChoices()
	s.render(w, r, http.StatusOK, "settings_edit", p)
}

// handleSettingsSave saves the form: post/redirect/get with a flash, or the
// form again with every field's message (422, nothing written), or, when
// the slot grid was rebuilt, the view with what that did.
func (s *Server) handleSettingsSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, settingsBodySize)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, err := s.newSettingsPage(w, r, "settings.edit_title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Form = readSettingsForm(r)
	next, formErrs := p.Form.values()
	res, errs, err := s.applySettings(ctx, r, actorFrom(r).User.ID, p.Practice, next, formErrs)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(errs) > 0 {
		for _, e := range errs {
			p.fail(e.Field, e.Message, e.Args...)
		}
		p.Error = p.T("settings.refused")
		p.fillChoices()
		s.render(w, r, http.StatusUnprocessableEntity, "settings_edit", p)
		return
	}
	if res.Change == nil {
		setFlash(w, "flash.settings_saved")
		http.Redirect(w, r, p.Base+"/settings", http.StatusSeeOther)
		return
	}
	v, err := s.newSettingsPage(w, r, "settings.title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	v.Flash = v.T("flash.settings_saved")
	v.Result, v.Conflicts = res, res.Change.Conflicts
	s.render(w, r, http.StatusOK, "settings", v)
}

// RebuiltFrom is the first day of the rebuilt grid, formatted.
func (p *settingsPage) RebuiltFrom() string {
	if p.Result == nil || p.Result.Change == nil {
		return ""
	}
	return p.Date(p.Result.Change.From.Start(p.Loc))
}

// handleLocationSave creates a location or, with loc_id, updates one.
func (s *Server) handleLocationSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, settingsBodySize)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, err := s.newSettingsPage(w, r, "settings.edit_title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := locationForm{ID: strings.TrimSpace(r.PostFormValue("loc_id")), Name: r.PostFormValue("loc_name"), Kind: r.PostFormValue("loc_kind"),
		Address: r.PostFormValue("loc_address"), PostalCode: r.PostFormValue("loc_postal_code"), City: r.PostFormValue("loc_city")}
	var existing *store.Location
	if f.ID != "" {
		for _, l := range p.Locations {
			if l.ID == f.ID {
				existing = l
			}
		}
		if existing == nil {
			s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
			return
		}
	}
	l, errs := validateLocation(&f)
	if existing == nil && len(p.Locations) >= maxLocations {
		errs = append(errs, settingsError("loc_name", "error.location.too_many", "Max", maxLocations))
	}
	if len(errs) > 0 {
		for _, e := range errs {
			p.fail(e.Field, e.Message, e.Args...)
		}
		p.LocForm = &f
		if f.ID == "" {
			p.NewLoc = f
		}
		p.fillChoices()
		s.render(w, r, http.StatusUnprocessableEntity, "settings_edit", p)
		return
	}
	l.PracticeID = p.Practice.ID
	action := "location.created"
	if existing != nil {
		l.ID, l.Position, action = existing.ID, existing.Position, "location.updated"
	} else if n := len(p.Locations); n > 0 {
		l.Position = p.Locations[n-1].Position + 1
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.SaveLocation(ctx, l); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, actorFrom(r).User.ID, action, "practice", p.Practice.ID, "location="+l.ID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.location_saved")
	http.Redirect(w, r, p.Base+"/settings/edit#locations", http.StatusSeeOther)
}

// validateLocation checks a location form and returns the location.
func validateLocation(f *locationForm) (*store.Location, []*Error) {
	var errs []*Error
	var msg string
	if f.Name, msg = cleanName(f.Name); msg != "" {
		errs = append(errs, settingsError("loc_name", "error.location.name"))
	}
	f.Kind = strings.TrimSpace(f.Kind)
	if !slices.Contains(locationKinds, f.Kind) {
		errs = append(errs, settingsError("loc_kind", "error.location.kind"))
	}
	f.Address = strings.TrimSpace(f.Address)
	if utf8.RuneCountInString(f.Address) > maxAddress || !cleanText(f.Address, false) {
		errs = append(errs, settingsError("loc_address", "error.settings.address", "Max", maxAddress))
	}
	f.PostalCode = strings.TrimSpace(f.PostalCode)
	if f.PostalCode != "" && !postalCodeRe.MatchString(f.PostalCode) {
		errs = append(errs, settingsError("loc_postal_code", "error.postal_code"))
	}
	f.City = strings.TrimSpace(f.City)
	if utf8.RuneCountInString(f.City) > maxCity || !cleanText(f.City, false) {
		errs = append(errs, settingsError("loc_city", "error.settings.city", "Max", maxCity))
	}
	return &store.Location{Name: f.Name, Kind: f.Kind, Address: f.Address, PostalCode: f.PostalCode, City: f.City}, errs
}

// handleLocationDelete removes a location, refused while it has booked
// appointments to come or hours from today on (they would generate slots
// at a place that no longer exists). Deleting one already gone is not an
// error: a second click lands on the same page.
func (s *Server) handleLocationDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.newSettingsPage(w, r, "settings.edit_title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	id := r.PathValue("loc")
	var loc *store.Location
	for _, l := range p.Locations {
		if l.ID == id {
			loc = l
		}
	}
	if loc == nil {
		setFlash(w, "flash.location_gone")
		http.Redirect(w, r, p.Base+"/settings/edit#locations", http.StatusSeeOther)
		return
	}
	refuse := func(msgID string, args ...any) {
		p.Error = p.T(msgID, args...)
		p.fillChoices()
		s.render(w, r, http.StatusConflict, "settings_edit", p)
	}
	versions, err := s.versions(ctx, p.Practice.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	now := s.clock()
	if hasHoursFrom(versions, s.today(p.Practice, now), id) {
		refuse("error.location.has_hours", "Name", loc.Name)
		return
	}
	var booked int
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if booked, err = tx.CountBookedAt(ctx, p.Practice.ID, id, now); err != nil || booked > 0 {
			return err
		}
		if _, err := tx.DeleteLocationSlots(ctx, p.Practice.ID, id, now); err != nil {
			return err
		}
		if err := tx.DeleteLocation(ctx, p.Practice.ID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, actorFrom(r).User.ID, "location.deleted", "practice", p.Practice.ID, "location="+id)
	})
	if errors.Is(err, store.ErrNotFound) {
		setFlash(w, "flash.location_gone")
		http.Redirect(w, r, p.Base+"/settings/edit#locations", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	if booked > 0 {
		refuse("error.location.booked", "Name", loc.Name, "Count", booked)
		return
	}
	setFlash(w, "flash.location_deleted")
	http.Redirect(w, r, p.Base+"/settings/edit#locations", http.StatusSeeOther)
}

// hasHoursFrom tells whether a location has working hours on day or after:
// in the version in force that day or in a later one.
func hasHoursFrom(versions []schedule.Version, day schedule.Day, location string) bool {
	for i, v := range versions {
		inForce := !day.Before(v.From) && (i+1 == len(versions) || day.Before(versions[i+1].From))
		if !inForce && !day.Before(v.From) {
			continue // an older version, replaced before day
		}
		if w, ok := v.Spec[location]; ok && w.Minutes() > 0 {
			return true
		}
	}
	return false
}
