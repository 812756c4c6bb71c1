package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"daraport/store"
)

// typesRoutes are the appointment types ("motifs") pages and API: the
// practitioner's ordered table of visit reasons (seed 004, "Gestion des
// Motifs"), each with its duration, prices, teleconsultation flag, buffer
// and who may book it.
func (s *Server) typesRoutes() []route {
	const page = "/pro/p/{id}/types"
	const api = "/api/v1/practices/{id}/appointment-types"
	return []route{
		{method: "GET", path: page, perm: PermPracticeAdmin, practice: "id", h: s.handleTypes},
		{method: "POST", path: page, perm: PermPracticeAdmin, practice: "id", h: s.handleTypeCreate},
		{method: "GET", path: page + "/{type}", perm: PermPracticeAdmin, practice: "id", h: s.handleTypeEdit},
		{method: "POST", path: page + "/{type}", perm: PermPracticeAdmin, practice: "id", h: s.handleTypeSave},
		{method: "POST", path: page + "/{type}/move", perm: PermPracticeAdmin, practice: "id", h: s.handleTypeMove},
		{method: "POST", path: page + "/{type}/delete", perm: PermPracticeAdmin, practice: "id", h: s.handleTypeDelete},

		{method: "GET", path: "/api/v1/practitioners/{id}/appointment-types", perm: PermPublic, h: s.handleAPITypes},
		{method: "GET", path: api, perm: PermPracticeDesk, practice: "id", h: s.handleAPIPracticeTypes},
		{method: "POST", path: api, perm: PermPracticeAdmin, practice: "id", h: s.handleAPITypeCreate},
		{method: "PUT", path: api + "/{type}", perm: PermPracticeAdmin, practice: "id", h: s.handleAPITypeUpdate},
		{method: "DELETE", path: api + "/{type}", perm: PermPracticeAdmin, practice: "id", h: s.handleAPITypeDelete},
		{method: "POST", path: api + "/{type}/move", perm: PermPracticeAdmin, practice: "id", h: s.handleAPITypeMove},
	}
}

// Limits of an appointment type.
const (
	typeMinMinutes = 5
	typeMaxMinutes = 480
	typeMaxBuffer  = 120
	typeBufferStep = 5
	typeMaxPrice   = 10_000_000 // 100,000.00 in minor units
	typeMaxName    = 100
	typeMaxBody    = 64 << 10
)

// typeCurrencies are the currencies the page offers (the API takes any
// ISO 4217 code).
var typeCurrencies = []string{"EUR", "CHF", "GBP", "USD"}

var typeCurrencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// typeInvalid is a 422 answer about one field (named as in the JSON body).
func typeInvalid(field, msgID string, args ...any) *Error {
	e := errorf(ECodeInvalid, msgID, args...)
	e.Field = field
	return e
}

// typeTeleWords are the words that make a visit reason a teleconsultation, in
// the practice's languages, compared without accents, case, spaces or
// hyphens: seed 004 asks that every teleconsultation reason hold the word
// "téléconsultation", and the flag follows from it.
var typeTeleWords = []string{"teleconsult", "telekonsult", "videosprechstunde", "videoconsult", "videokonsult", "telemedizin"}

// foldTypeName lowers s and drops accents, spaces and hyphens, so
// "Télé-consultation" and "teleconsultation" compare equal.
func foldTypeName(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if unicode.Is(unicode.Mn, r) || unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || r == '_' || r == '.' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isTeleconsultationName tells whether a reason's name marks it as a
// teleconsultation.
func isTeleconsultationName(name string) bool {
	n := foldTypeName(name)
	for _, w := range typeTeleWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// cleanTypeName trims a reason's name and returns the catalogue id of what is
// wrong with it, if anything. A reason such as "---- sans motif ----" is
// allowed: seed 004 suggests it to let patients say nothing.
func cleanTypeName(v string) (string, string) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return v, "error.type_name_required"
	case !utf8.ValidString(v):
		return v, "error.type_name_invalid"
	case utf8.RuneCountInString(v) > typeMaxName:
		return v, "error.type_name_long"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return v, "error.type_name_invalid"
		}
	}
	return v, ""
}

// checkAmount returns what is wrong with a price in minor units, if anything.
func checkAmount(v int64) string {
	switch {
	case v < 0:
		return "error.type_price_negative"
	case v > typeMaxPrice:
		return "error.type_price_high"
	}
	return ""
}

// checkType normalises t (trims the name, sets the teleconsultation flag a
// name implies) and returns every problem found, in the order of the form,
// each naming its JSON field. The page and the API share it.
func checkType(slotMinutes int, t *store.AppointmentType) []*Error {
	var errs []*Error
	var msg string
	if t.Name, msg = cleanTypeName(t.Name); msg != "" {
		errs = append(errs, typeInvalid("name", msg))
	}
	switch {
	case t.Minutes < typeMinMinutes || t.Minutes > typeMaxMinutes:
		errs = append(errs, typeInvalid("minutes", "error.type_minutes_range"))
	case slotMinutes > 0 && t.Minutes%slotMinutes != 0:
		errs = append(errs, typeInvalid("minutes", "error.type_minutes_slot", "Slot", slotMinutes))
	}
	if msg := checkAmount(t.Price); msg != "" {
		errs = append(errs, typeInvalid("price.amount", msg))
	}
	if !typeCurrencyRe.MatchString(t.Currency) {
		errs = append(errs, typeInvalid("price.currency", "error.type_currency"))
	}
	if t.FirstPrice != nil {
		if msg := checkAmount(*t.FirstPrice); msg != "" {
			errs = append(errs, typeInvalid("first_visit_price.amount", msg))
		}
	}
	if t.BufferAfter < 0 || t.BufferAfter > typeMaxBuffer || t.BufferAfter%typeBufferStep != 0 {
		errs = append(errs, typeInvalid("buffer_after_minutes", "error.type_buffer"))
	}
	if isTeleconsultationName(t.Name) {
		t.Teleconsultation = true
	}
	return errs
}

// saveType creates (empty ID) or updates t in one transaction with its audit
// entry. A name already used by another active type of the practice comes
// back as a 422 on the name field.
func (s *Server) saveType(ctx context.Context, r *http.Request, t *store.AppointmentType) error {
	a := actorFrom(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		action := "type.update"
		if t.ID == "" {
			action = "type.create"
			if err := tx.CreateType(ctx, t); err != nil {
				return err
			}
		} else if err := tx.UpdateType(ctx, t); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s; %d min; %d %s; buffer %d; tele %t; new patients %t", t.Name, t.Minutes, t.Price, t.Currency,
			t.BufferAfter, t.Teleconsultation, t.NewPatients)
		return s.audit(ctx, tx, r, a.User.ID, action, "appointment_type", t.ID, detail)
	})
	if errors.Is(err, store.ErrConflict) {
		return typeInvalid("name", "error.type_name_taken")
	}
	return err
}

// archiveType removes a type of the practice (idempotent), audited.
func (s *Server) archiveType(ctx context.Context, r *http.Request, practiceID, typeID string) error {
	a := actorFrom(r)
	return s.db.Update(ctx, func(tx *store.Tx) error {
		t, err := tx.FindTypeByID(ctx, typeID)
		if err != nil {
			return err
		}
		if t.PracticeID != practiceID {
			return store.ErrNotFound
		}
		if t.Archived() {
			return nil
		}
		if err := tx.ArchiveType(ctx, practiceID, typeID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "type.archive", "appointment_type", typeID, t.Name)
	})
}

// moveType moves a type of the practice one place up (-1) or down (1), audited.
func (s *Server) moveType(ctx context.Context, r *http.Request, practiceID, typeID string, delta int) error {
	a := actorFrom(r)
	return s.db.Update(ctx, func(tx *store.Tx) error {
		moved, err := tx.MoveType(ctx, practiceID, typeID, delta)
		if err != nil || !moved {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "type.move", "appointment_type", typeID, strconv.Itoa(delta))
	})
}

// practiceType returns the active type typeID of the practice; another
// practice's type, an archived or an unknown one is ErrNotFound.
func (s *Server) practiceType(ctx context.Context, practiceID, typeID string) (*store.AppointmentType, error) {
	t, err := s.db.FindTypeByID(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if t.PracticeID != practiceID || t.Archived() {
		return nil, store.ErrNotFound
	}
	return t, nil
}

// --- Money ---------------------------------------------------------------

var typeMoneyRe = regexp.MustCompile(`^([0-9]+)(?:[.,]([0-9]+))?$`)

// parseTypePrice reads a price typed in the page ("25", "25,50", "25.5") into
// minor units, or returns the catalogue id of what is wrong with it.
func parseTypePrice(v string) (int64, string) {
	v = strings.TrimSpace(v)
	if rest, neg := strings.CutPrefix(v, "-"); neg {
		if typeMoneyRe.MatchString(strings.TrimSpace(rest)) {
			return 0, "error.type_price_negative"
		}
		return 0, "error.type_price_invalid"
	}
	m := typeMoneyRe.FindStringSubmatch(v)
	if m == nil {
		return 0, "error.type_price_invalid"
	}
	if len(m[2]) > 2 {
		return 0, "error.type_price_decimals"
	}
	major := strings.TrimLeft(m[1], "0")
	if len(major) > 9 {
		return 0, "error.type_price_high"
	}
	units, _ := strconv.ParseInt("0"+major, 10, 64)
	cents, _ := strconv.ParseInt((m[2] + "00")[:2], 10, 64)
	amount := units*100 + cents
	if amount > typeMaxPrice {
		return 0, "error.type_price_high"
	}
	return amount, ""
}

// typeDecimalComma are the languages writing 25,50 rather than 25.50.
var typeDecimalComma = map[string]bool{"fr": true, "de": true, "es": true}

// typePriceNumber writes minor units as a decimal number for lang ("25,50").
func typePriceNumber(lang string, amount int64) string {
	sep := "."
	if typeDecimalComma[lang] {
		sep = ","
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d%s%02d", sign, amount/100, sep, amount%100)
}

var typeCurrencySymbols = map[string]string{"EUR": "€", "GBP": "£", "USD": "$"}

// typesMoney formats a price for lang: "€25.00" in English, "25,00 €"
// elsewhere; currencies without a symbol show their code.
func typesMoney(lang string, amount int64, currency string) string {
	n := typePriceNumber(lang, amount)
	sym, ok := typeCurrencySymbols[currency]
	if !ok {
		return currency + "\u00a0" + n
	}
	if lang == "en" {
		return sym + n
	}
	return n + "\u00a0" + sym
}

// --- Pages ---------------------------------------------------------------

// typeForm holds the add/edit form as typed.
type typeForm struct {
	Name, Minutes, Price, FirstPrice, Currency, Buffer string
	Teleconsultation, NewPatients                      bool
}

// typeRow is one line of the list.
type typeRow struct {
	*store.AppointmentType
	PriceText, FirstPriceText string
	First, Last               bool
	OffGrid                   bool // the duration is no longer a multiple of the slot
}

type typesPage struct {
	*Page
	Practice   *store.Practice
	Types      []typeRow
	Form       typeForm
	Editing    *store.AppointmentType // nil on the list
	Currencies []string
}

// TableMode tells whether patients must pick their reason from the table.
func (p *typesPage) TableMode() bool { return p.Practice.ReasonMode == "table" }

// Action is where the form posts.
func (p *typesPage) Action() string {
	if p.Editing != nil {
		return "/pro/p/" + p.Practice.ID + "/types/" + p.Editing.ID
	}
	return "/pro/p/" + p.Practice.ID + "/types"
}

// typePageFields maps the JSON field names of checkType to the form's.
var typePageFields = map[string]string{"price.amount": "price", "price.currency": "currency",
	"first_visit_price.amount": "first_price", "buffer_after_minutes": "buffer_after"}

func (s *Server) typesPage(w http.ResponseWriter, r *http.Request) (*typesPage, error) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	list, err := s.db.FindTypes(ctx, pr.ID, false)
	if err != nil {
		return nil, err
	}
	p := &typesPage{Page: s.newPage(w, r, "types.title"), Practice: pr, Currencies: typeCurrencies}
	for i, t := range list {
		row := typeRow{AppointmentType: t, PriceText: typesMoney(p.Lang, t.Price, t.Currency),
			First: i == 0, Last: i == len(list)-1, OffGrid: pr.SlotMinutes > 0 && t.Minutes%pr.SlotMinutes != 0}
		if t.FirstPrice != nil {
			row.FirstPriceText = typesMoney(p.Lang, *t.FirstPrice, t.Currency)
		}
		p.Types = append(p.Types, row)
	}
	// A new type starts in the currency most of the others use.
	currency, uses := "EUR", map[string]int{}
	for _, t := range list {
		if uses[t.Currency]++; uses[t.Currency] > uses[currency] {
			currency = t.Currency
		}
	}
	p.Form = typeForm{Minutes: strconv.Itoa(max(pr.SlotMinutes, typeMinMinutes)), Currency: currency, Buffer: "0", NewPatients: true}
	return p, nil
}

// withCurrency makes sure the form's currency is offered.
func (p *typesPage) withCurrency() {
	for _, c := range p.Currencies {
		if c == p.Form.Currency {
			return
		}
	}
	if typeCurrencyRe.MatchString(p.Form.Currency) {
		p.Currencies = append(append([]string{}, p.Currencies...), p.Form.Currency)
	}
}

func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request) {
	p, err := s.typesPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "types", p)
}

func (s *Server) handleTypeEdit(w http.ResponseWriter, r *http.Request) {
	p, err := s.typesPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := s.practiceType(r.Context(), p.Practice.ID, r.PathValue("type"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Editing = t
	p.Form = typeForm{Name: t.Name, Minutes: strconv.Itoa(t.Minutes), Price: typePriceNumber(p.Lang, t.Price), Currency: t.Currency,
		Buffer: strconv.Itoa(t.BufferAfter), Teleconsultation: t.Teleconsultation, NewPatients: t.NewPatients}
	if t.FirstPrice != nil {
		p.Form.FirstPrice = typePriceNumber(p.Lang, *t.FirstPrice)
	}
	p.withCurrency()
	s.render(w, r, http.StatusOK, "types", p)
}

// readTypeForm reads the posted form into t, recording field errors on p.
func (p *typesPage) readTypeForm(r *http.Request, t *store.AppointmentType) {
	f := typeForm{
		Name: r.PostFormValue("name"), Minutes: strings.TrimSpace(r.PostFormValue("minutes")),
		Price: strings.TrimSpace(r.PostFormValue("price")), FirstPrice: strings.TrimSpace(r.PostFormValue("first_price")),
		Currency: strings.TrimSpace(r.PostFormValue("currency")), Buffer: strings.TrimSpace(r.PostFormValue("buffer_after")),
		Teleconsultation: r.PostFormValue("teleconsultation") != "",
	}
	t.Name, t.Currency, t.Teleconsultation = f.Name, f.Currency, f.Teleconsultation
	var err error
	if t.Minutes, err = strconv.Atoi(f.Minutes); err != nil {
		p.fail("minutes", "error.type_minutes_invalid")
	}
	var msg string
	if t.Price, msg = parseTypePrice(f.Price); msg != "" {
		p.fail("price", msg)
	}
	t.FirstPrice = nil
	if f.FirstPrice != "" {
		v, msg := parseTypePrice(f.FirstPrice)
		if msg != "" {
			p.fail("first_price", msg)
		}
		t.FirstPrice = &v
	}
	if f.Buffer == "" {
		f.Buffer = "0"
	}
	if t.BufferAfter, err = strconv.Atoi(f.Buffer); err != nil {
		p.fail("buffer_after", "error.type_buffer")
	}
	switch r.PostFormValue("new_patients") {
	case "yes", "":
		t.NewPatients = true
	case "no":
		t.NewPatients = false
	default:
		p.fail("new_patients", "error.type_new_patients")
	}
	f.NewPatients = t.NewPatients
	for _, e := range checkType(p.Practice.SlotMinutes, t) {
		field := e.Field
		if f, ok := typePageFields[field]; ok {
			field = f
		}
		p.fail(field, e.Message, e.Args...)
	}
	f.Name = t.Name
	f.Teleconsultation = t.Teleconsultation
	p.Form = f
}

func (s *Server) handleTypeCreate(w http.ResponseWriter, r *http.Request) {
	s.submitType(w, r, false)
}

func (s *Server) handleTypeSave(w http.ResponseWriter, r *http.Request) {
	s.submitType(w, r, true)
}

// submitType adds (edit false) or saves a type from the page's form; bad
// input re-renders the form with its messages and writes nothing.
func (s *Server) submitType(w http.ResponseWriter, r *http.Request, edit bool) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, err := s.typesPage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	t := &store.AppointmentType{PracticeID: p.Practice.ID}
	if edit {
		cur, err := s.practiceType(ctx, p.Practice.ID, r.PathValue("type"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Editing, t.ID = cur, cur.ID
	}
	p.readTypeForm(r, t)
	if !p.failed() {
		err = s.saveType(ctx, r, t)
		var e *Error
		if errors.As(err, &e) && e.Code == ECodeInvalid {
			p.fail(e.Field, e.Message, e.Args...)
		} else if err != nil {
			s.error(w, r, err)
			return
		}
	}
	if p.failed() {
		p.withCurrency()
		s.render(w, r, http.StatusUnprocessableEntity, "types", p)
		return
	}
	if edit {
		setFlash(w, "flash.type_saved")
	} else {
		setFlash(w, "flash.type_added")
	}
	http.Redirect(w, r, "/pro/p/"+p.Practice.ID+"/types#type-"+t.ID, http.StatusSeeOther)
}

func (s *Server) handleTypeMove(w http.ResponseWriter, r *http.Request) {
	delta := 0
	switch r.PostFormValue("dir") {
	case "up":
		delta = -1
	case "down":
		delta = 1
	default:
		s.error(w, r, errorf(ECodeBadRequest, "error.type_move_dir"))
		return
	}
	id, typeID := r.PathValue("id"), r.PathValue("type")
	if err := s.moveType(r.Context(), r, id, typeID, delta); err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/pro/p/"+id+"/types#type-"+typeID, http.StatusSeeOther)
}

func (s *Server) handleTypeDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.archiveType(r.Context(), r, id, r.PathValue("type")); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.type_removed")
	http.Redirect(w, r, "/pro/p/"+id+"/types", http.StatusSeeOther)
}

// --- API -----------------------------------------------------------------

type apiTypeMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// apiType is DESIGN §5's appointment type, with more fields.
type apiType struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Minutes            int           `json:"minutes"`
	Price              apiTypeMoney  `json:"price"`
	FirstVisitPrice    *apiTypeMoney `json:"first_visit_price"`
	Teleconsultation   bool          `json:"teleconsultation"`
	BufferAfterMinutes int           `json:"buffer_after_minutes"`
	NewPatients        bool          `json:"new_patients"`
	ArchivedAt         string        `json:"archived_at,omitempty"`
}

func apiTypeOf(t *store.AppointmentType) apiType {
	out := apiType{ID: t.ID, Name: t.Name, Minutes: t.Minutes, Price: apiTypeMoney{t.Price, t.Currency},
		Teleconsultation: t.Teleconsultation, BufferAfterMinutes: t.BufferAfter, NewPatients: t.NewPatients}
	if t.FirstPrice != nil {
		out.FirstVisitPrice = &apiTypeMoney{*t.FirstPrice, t.Currency}
	}
	if t.Archived() {
		out.ArchivedAt = t.ArchivedAt.Format("2006-01-02T15:04:05Z07:00")
	}
	return out
}

func apiTypesOf(list []*store.AppointmentType) []apiType {
	out := make([]apiType, 0, len(list))
	for _, t := range list {
		out = append(out, apiTypeOf(t))
	}
	return out
}

// handleAPITypes answers GET /api/v1/practitioners/{id}/appointment-types:
// the active types of a verified practice, in the practitioner's order.
func (s *Server) handleAPITypes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err == nil && pr.Status != store.PracticeVerified {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindTypes(ctx, pr.ID, false)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiTypesOf(list))
}

// handleAPIPracticeTypes answers GET /api/v1/practices/{id}/appointment-types
// for the practice's staff, verified or not; ?archived=1 adds removed types.
func (s *Server) handleAPIPracticeTypes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	archived := false
	switch r.URL.Query().Get("archived") {
	case "", "0", "false":
	case "1", "true":
		archived = true
	default:
		s.error(w, r, typeInvalid("archived", "error.type_archived_param"))
		return
	}
	list, err := s.db.FindTypes(ctx, pr.ID, archived)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiTypesOf(list))
}

// typeBadRequest is a 400 answer naming the field at fault.
func typeBadRequest(field, msgID string, args ...any) *Error {
	e := errorf(ECodeBadRequest, msgID, args...)
	e.Field = field
	return e
}

// typesReadJSON reads a JSON object body (at most typeMaxBody bytes) into
// its members, refusing members not in allowed (400, naming the member).
func typesReadJSON(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, typeMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(ECodeBadRequest, "error.type_body_large")
		}
		return nil, errorf(ECodeBadRequest, "error.type_json")
	}
	return typesJSONMembers(b, "", allowed...)
}

// typesJSONMembers splits a JSON object into its members, refusing unknown ones.
// prefix names the object in error fields ("price.").
func typesJSONMembers(b []byte, prefix string, allowed ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &m) != nil {
		if prefix != "" {
			return nil, typeInvalid(strings.TrimSuffix(prefix, "."), "error.type_json_type", "Field", strings.TrimSuffix(prefix, "."))
		}
		return nil, errorf(ECodeBadRequest, "error.type_json")
	}
	for k := range m {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			return nil, typeBadRequest(prefix+k, "error.type_json_field", "Field", prefix+k)
		}
	}
	return m, nil
}

// typesJSONInt reads an integer member; a fraction or another type is a 422.
func typesJSONInt(raw json.RawMessage, field, msgID string) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || typesJSONNull(raw) || bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
		return 0, typeInvalid(field, "error.type_json_type", "Field", field)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		// ParseInt saturates: the field's own range check reports it.
		return v, nil
	}
	if err != nil {
		return 0, typeInvalid(field, msgID)
	}
	return v, nil
}

// typesJSONNull tells whether a member is JSON null, which decodes into Go values
// without error and must not pass for an empty name or false.
func typesJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func typesJSONString(raw json.RawMessage, field string) (string, error) {
	var v string
	if err := json.Unmarshal(raw, &v); err != nil || typesJSONNull(raw) {
		return "", typeInvalid(field, "error.type_json_type", "Field", field)
	}
	return v, nil
}

func typesJSONBool(raw json.RawMessage, field string) (bool, error) {
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil || typesJSONNull(raw) {
		return false, typeInvalid(field, "error.type_json_type", "Field", field)
	}
	return v, nil
}

// typesJSONMoney reads a {"amount","currency"} member; currency may be absent.
func typesJSONMoney(raw json.RawMessage, field string) (amount int64, currency string, err error) {
	m, err := typesJSONMembers(raw, field+".", "amount", "currency")
	if err != nil {
		return 0, "", err
	}
	a, ok := m["amount"]
	if !ok {
		return 0, "", typeInvalid(field+".amount", "error.type_required", "Field", field+".amount")
	}
	if amount, err = typesJSONInt(a, field+".amount", "error.type_amount_cents"); err != nil {
		return 0, "", err
	}
	if c, ok := m["currency"]; ok {
		if currency, err = typesJSONString(c, field+".currency"); err != nil {
			return 0, "", err
		}
		if !typeCurrencyRe.MatchString(currency) {
			return 0, "", typeInvalid(field+".currency", "error.type_currency")
		}
	}
	return amount, currency, nil
}

var typeJSONFields = []string{"id", "name", "minutes", "price", "first_visit_price", "teleconsultation", "buffer_after_minutes", "new_patients"}

// applyTypeJSON sets on t the members present in m (absent ones keep their
// value) and checks the result. create requires name and minutes.
func applyTypeJSON(m map[string]json.RawMessage, t *store.AppointmentType, slotMinutes int, create bool) error {
	if raw, ok := m["id"]; ok && !create {
		id, err := typesJSONString(raw, "id")
		if err != nil {
			return err
		}
		if id != t.ID {
			return typeInvalid("id", "error.type_id_mismatch")
		}
	}
	if create {
		for _, f := range []string{"name", "minutes"} {
			if _, ok := m[f]; !ok {
				return typeInvalid(f, "error.type_required", "Field", f)
			}
		}
	}
	var err error
	if raw, ok := m["name"]; ok {
		if t.Name, err = typesJSONString(raw, "name"); err != nil {
			return err
		}
	}
	if raw, ok := m["minutes"]; ok {
		v, err := typesJSONInt(raw, "minutes", "error.type_minutes_invalid")
		if err != nil {
			return err
		}
		t.Minutes = int(min(max(v, -1), typeMaxMinutes+1)) // out of range either way
	}
	if raw, ok := m["price"]; ok {
		amount, currency, err := typesJSONMoney(raw, "price")
		if err != nil {
			return err
		}
		t.Price = amount
		if currency != "" {
			t.Currency = currency
		}
	}
	if raw, ok := m["first_visit_price"]; ok {
		if typesJSONNull(raw) {
			t.FirstPrice = nil
		} else {
			amount, currency, err := typesJSONMoney(raw, "first_visit_price")
			if err != nil {
				return err
			}
			if currency != "" && currency != t.Currency {
				return typeInvalid("first_visit_price.currency", "error.type_currency_mismatch")
			}
			t.FirstPrice = &amount
		}
	}
	if raw, ok := m["teleconsultation"]; ok {
		if t.Teleconsultation, err = typesJSONBool(raw, "teleconsultation"); err != nil {
			return err
		}
	}
	if raw, ok := m["buffer_after_minutes"]; ok {
		v, err := typesJSONInt(raw, "buffer_after_minutes", "error.type_buffer")
		if err != nil {
			return err
		}
		t.BufferAfter = int(min(max(v, -1), typeMaxBuffer+1))
	}
	if raw, ok := m["new_patients"]; ok {
		if t.NewPatients, err = typesJSONBool(raw, "new_patients"); err != nil {
			return err
		}
	}
	if errs := checkType(slotMinutes, t); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (s *Server) handleAPITypeCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, err := typesReadJSON(w, r, typeJSONFields...)
	if err != nil {
		s.error(w, r, err)
		return
	}
	t := &store.AppointmentType{PracticeID: pr.ID, Currency: "EUR", NewPatients: true}
	if err := applyTypeJSON(m, t, pr.SlotMinutes, true); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.saveType(ctx, r, t); err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiTypeOf(t))
}

func (s *Server) handleAPITypeUpdate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := s.practiceType(ctx, pr.ID, r.PathValue("type"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, err := typesReadJSON(w, r, typeJSONFields...)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := applyTypeJSON(m, t, pr.SlotMinutes, false); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.saveType(ctx, r, t); err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiTypeOf(t))
}

func (s *Server) handleAPITypeDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.archiveType(r.Context(), r, r.PathValue("id"), r.PathValue("type")); err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// handleAPITypeMove moves a type one place ({"delta":-1} up, 1 down) and
// answers the practice's types in their new order.
func (s *Server) handleAPITypeMove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	m, err := typesReadJSON(w, r, "delta")
	if err != nil {
		s.error(w, r, err)
		return
	}
	raw, ok := m["delta"]
	if !ok {
		s.error(w, r, typeInvalid("delta", "error.type_delta"))
		return
	}
	delta, err := typesJSONInt(raw, "delta", "error.type_delta")
	if err == nil && delta != -1 && delta != 1 {
		err = typeInvalid("delta", "error.type_delta")
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.moveType(ctx, r, id, r.PathValue("type"), int(delta)); err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindTypes(ctx, id, false)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiTypesOf(list))
}
