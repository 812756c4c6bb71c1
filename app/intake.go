package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"daraport/store"
)

// Intake forms: the practitioner attaches questions to an appointment type
// (short or long text, single or multiple choice, yes/no, date); the patient
// answers them while booking; the answers are stored encrypted, one JSON
// document per appointment, each answer with a copy of its question's label
// so later edits of the form never change what the patient said. The
// practice reads them beside the appointment (audited: health data), the
// patient on their own appointment page.
//
// For the booking page: questions := s.intakeQuestions(ctx, typeID); render
// {{template "intake-fields" .Intake}} with .Intake = s.intakeView(p,
// questions, r.PostForm); on submit answers, errs := parseIntake(r.PostForm,
// questions), p.failIntake(errs), and hand the answers to the booking, which
// stores them with s.saveIntake in its transaction. The API takes
// "answers":{"<question id>": value} and checks them with s.intakeFromAPI.

func (s *Server) intakeRoutes() []route {
	const page = "/pro/p/{id}/types/{type}/intake"
	return []route{
		{method: "GET", path: page, perm: PermPracticeAdmin, practice: "id", h: s.handleIntake},
		{method: "POST", path: page, perm: PermPracticeAdmin, practice: "id", h: s.handleIntakeCreate},
		{method: "GET", path: page + "/{q}", perm: PermPracticeAdmin, practice: "id", h: s.handleIntakeEdit},
		{method: "POST", path: page + "/{q}", perm: PermPracticeAdmin, practice: "id", h: s.handleIntakeSave},
		{method: "POST", path: page + "/{q}/move", perm: PermPracticeAdmin, practice: "id", h: s.handleIntakeMove},
		{method: "POST", path: page + "/{q}/delete", perm: PermPracticeAdmin, practice: "id", h: s.handleIntakeDelete},
		{method: "GET", path: "/pro/p/{id}/appointments/{appt}/intake", perm: PermPracticeDesk, practice: "id", h: s.handleIntakeAnswers},
		{method: "GET", path: "/api/v1/practitioners/{id}/appointment-types/{type}/questions", perm: PermPublic, h: s.handleAPIIntakeQuestions},
	}
}

// Limits of intake forms.
const (
	intakeMaxQuestions = 30
	intakeMaxLabel     = 300
	intakeMinOptions   = 2
	intakeMaxOptions   = 20
	intakeMaxOption    = 100
	intakeMaxShort     = 200
	intakeMaxLong      = 5000
)

// intakeKinds are the kinds of question, in the order the form offers them.
var intakeKinds = []string{store.IntakeShort, store.IntakeLong, store.IntakeSingle, store.IntakeMultiple, store.IntakeYesNo, store.IntakeDate}

func intakeKindValid(k string) bool {
	for _, v := range intakeKinds {
		if v == k {
			return true
		}
	}
	return false
}

func intakeHasOptions(kind string) bool {
	return kind == store.IntakeSingle || kind == store.IntakeMultiple
}

// intakeQuestion is one question of a type's intake form.
type intakeQuestion = store.IntakeQuestion

// intakeQuestions returns the active questions of an appointment type, in
// order (an empty list when it has none).
func (s *Server) intakeQuestions(ctx context.Context, typeID string) ([]intakeQuestion, error) {
	// Every API booking asks; the answer changes only when staff edit the
	// questions, which moves the store's intake epoch.
	epoch := s.db.IntakeEpoch()
	if v, ok := s.intakeCache.Load(typeID); ok {
		if e := v.(intakeCacheEntry); e.epoch == epoch {
			return slices.Clone(e.questions), nil
		}
	}
	list, err := s.db.FindIntakeQuestions(ctx, typeID)
	if err != nil {
		return nil, err
	}
	out := make([]intakeQuestion, len(list))
	for i, q := range list {
		out[i] = *q
	}
	s.intakeCache.Store(typeID, intakeCacheEntry{epoch: epoch, questions: slices.Clone(out)})
	return out, nil
}

type intakeCacheEntry struct {
	epoch     uint64
	questions []intakeQuestion
}

// --- Answers: checking ----------------------------------------------------

// intakeField is the form field of a question.
func intakeField(id string) string { return "intake_" + id }

var intakeDateRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// cleanIntakeText trims a text answer, unifies line ends and tells whether
// it holds only printable characters (line breaks and tabs allowed when
// multiline).
func cleanIntakeText(v string, multiline bool) (string, bool) {
	v = strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
	if !utf8.ValidString(v) {
		return v, false
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return v, false
		}
	}
	return v, true
}

// checkIntakeAnswer validates the values given for one question (form
// values: text, option labels, "yes"/"no", YYYY-MM-DD) and returns the
// answer to store (nil when unanswered) or the catalogue id of the problem.
func checkIntakeAnswer(q *intakeQuestion, vals []string) (any, string) {
	switch q.Kind {
	case store.IntakeMultiple:
		picked := map[string]bool{}
		for _, v := range vals {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			found := false
			for _, o := range q.Options {
				if o == v {
					found = true
					break
				}
			}
			if !found {
				return nil, "error.intake_choice"
			}
			picked[v] = true
		}
		if len(picked) == 0 {
			if q.Required {
				return nil, "error.intake_required_choice"
			}
			return nil, ""
		}
		// In the options' order, each once.
		out := []string{}
		for _, o := range q.Options {
			if picked[o] {
				out = append(out, o)
			}
		}
		return out, ""
	}
	v := ""
	for _, x := range vals {
		if strings.TrimSpace(x) != "" {
			if v != "" {
				return nil, "error.intake_one_value"
			}
			v = x
		}
	}
	if strings.TrimSpace(v) == "" {
		if q.Required {
			if q.Kind == store.IntakeSingle || q.Kind == store.IntakeYesNo {
				return nil, "error.intake_required_choice"
			}
			return nil, "error.intake_required"
		}
		return nil, ""
	}
	switch q.Kind {
	case store.IntakeShort, store.IntakeLong:
		multi := q.Kind == store.IntakeLong
		t, ok := cleanIntakeText(v, multi)
		if !ok {
			return nil, "error.intake_text_invalid"
		}
		if multi && utf8.RuneCountInString(t) > intakeMaxLong {
			return nil, "error.intake_long_too_long"
		}
		if !multi && utf8.RuneCountInString(t) > intakeMaxShort {
			return nil, "error.intake_short_too_long"
		}
		return t, ""
	case store.IntakeSingle:
		v = strings.TrimSpace(v)
		for _, o := range q.Options {
			if o == v {
				return v, ""
			}
		}
		return nil, "error.intake_choice"
	case store.IntakeYesNo:
		switch strings.TrimSpace(v) {
		case "yes":
			return true, ""
		case "no":
			return false, ""
		}
		return nil, "error.intake_yesno"
	case store.IntakeDate:
		v = strings.TrimSpace(v)
		if !intakeDateRe.MatchString(v) {
			return nil, "error.intake_date"
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil || d.Year() < 1900 || d.Year() > 2200 {
			return nil, "error.intake_date"
		}
		return v, ""
	}
	return nil, "error.intake_invalid"
}

// parseIntake reads the answers to questions from a submitted form (fields
// intake_<question id>; r.PostForm fits) and returns the answers by question
// id (unanswered optional questions absent) and the problems by form field,
// as catalogue ids (Page.failIntake records them). Nothing is stored.
func parseIntake(form map[string][]string, questions []intakeQuestion) (map[string]any, map[string]string) {
	answers, errs := map[string]any{}, map[string]string{}
	for i := range questions {
		q := &questions[i]
		v, msg := checkIntakeAnswer(q, form[intakeField(q.ID)])
		if msg != "" {
			errs[intakeField(q.ID)] = msg
			continue
		}
		if v != nil {
			answers[q.ID] = v
		}
	}
	return answers, errs
}

// failIntake records parseIntake's problems on the page.
func (p *Page) failIntake(errs map[string]string) {
	for field, id := range errs {
		p.fail(field, id)
	}
}

// intakeValues turns one JSON answer into form values: a string, a list of
// strings (multiple choice), a boolean (yes/no); null is no answer.
func intakeValues(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{x}, true
	case bool:
		if x {
			return []string{"yes"}, true
		}
		return []string{"no"}, true
	case []string:
		return x, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// checkIntakeMap validates answers keyed by question id (JSON values) against
// questions; the first problem comes back as a 422 on "answers.<id>".
func checkIntakeMap(questions []intakeQuestion, raw map[string]any) (map[string]any, error) {
	known := map[string]bool{}
	for _, q := range questions {
		known[q.ID] = true
	}
	for id := range raw {
		if !known[id] {
			return nil, fieldErr(ECodeInvalid, "error.intake_unknown", "answers."+truncate(id, 40))
		}
	}
	form := map[string][]string{}
	for id, v := range raw {
		vals, ok := intakeValues(v)
		if !ok {
			return nil, fieldErr(ECodeInvalid, "error.intake_invalid", "answers."+id)
		}
		form[intakeField(id)] = vals
	}
	answers, errs := parseIntake(form, questions)
	for _, q := range questions {
		if msg, bad := errs[intakeField(q.ID)]; bad {
			return nil, fieldErr(ECodeInvalid, msg, "answers."+q.ID)
		}
	}
	return answers, nil
}

// intakeFromAPI checks the "answers" of a booking made through the API
// against the type's questions (required ones included) and returns them
// ready for saveIntake. Returns a 422 *Error naming "answers.<id>".
func (s *Server) intakeFromAPI(ctx context.Context, typeID string, raw map[string]any) (map[string]any, error) {
	questions, err := s.intakeQuestions(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if len(questions) == 0 && len(raw) == 0 {
		return nil, nil
	}
	return checkIntakeMap(questions, raw)
}

// --- Answers: storing and reading ------------------------------------------

// intakeDoc is the stored (encrypted) answers document of an appointment.
type intakeDoc struct {
	Version int                `json:"v"`
	Answers []intakeStoredItem `json:"answers"`
}

type intakeStoredItem struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Kind  string `json:"kind"`
	Value any    `json:"value"`
}

// saveIntake stores the answers (from parseIntake or intakeFromAPI) of a new
// appointment in tx, checked again against the questions of its type, with
// each question's label. No answers: nothing is stored (a staff booking
// asks no questions). Returns a 422 *Error on "answers.<id>" when an answer
// does not fit its question.
func (s *Server) saveIntake(ctx context.Context, tx *store.Tx, appointmentID string, answers map[string]any) error {
	if len(answers) == 0 {
		return nil
	}
	typeID, err := tx.IntakeAppointmentType(ctx, appointmentID)
	if err != nil {
		return err
	}
	list, err := tx.FindIntakeQuestions(ctx, typeID)
	if err != nil {
		return err
	}
	questions := make([]intakeQuestion, len(list))
	for i, q := range list {
		questions[i] = *q
	}
	clean, err := checkIntakeMap(questions, answers)
	if err != nil {
		return err
	}
	doc := intakeDoc{Version: 1, Answers: []intakeStoredItem{}}
	for _, q := range questions {
		if v, ok := clean[q.ID]; ok {
			doc.Answers = append(doc.Answers, intakeStoredItem{ID: q.ID, Label: q.Label, Kind: q.Kind, Value: v})
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return tx.SaveIntakeAnswers(ctx, appointmentID, b)
}

// intakeAnswer is one answer as shown to the practice or the patient.
type intakeAnswer struct {
	ID, Label, Kind string
	Value           any // string, []string, bool
	cat             *catalog
}

// Show is the answer as text in lang: choices joined, yes/no translated,
// dates in the language's format.
func (a intakeAnswer) Show(lang string) string {
	switch v := a.Value.(type) {
	case bool:
		if v {
			return a.cat.T(lang, "intake.yes")
		}
		return a.cat.T(lang, "intake.no")
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	case string:
		if a.Kind == store.IntakeDate {
			if d, err := time.Parse(time.DateOnly, v); err == nil {
				return formatDate(lang, d, time.UTC)
			}
		}
		return v
	}
	return ""
}

// Long tells whether the answer is a paragraph (shown with its line breaks).
func (a intakeAnswer) Long() bool { return a.Kind == store.IntakeLong }

// intakeAnswersFor returns the answers given with an appointment, in the
// order of the form (none: an empty list). The caller checked the viewer may
// see the appointment. A page shows them with {{template "intake-answers" .}}
// when its data has IntakeAnswers []intakeAnswer.
func (s *Server) intakeAnswersFor(ctx context.Context, appointmentID string) ([]intakeAnswer, error) {
	b, err := s.db.FindIntakeAnswers(ctx, appointmentID)
	if errors.Is(err, store.ErrNotFound) {
		return []intakeAnswer{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc intakeDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := make([]intakeAnswer, 0, len(doc.Answers))
	for _, it := range doc.Answers {
		out = append(out, intakeAnswer{ID: it.ID, Label: it.Label, Kind: it.Kind, Value: it.Value, cat: s.i18n})
	}
	return out, nil
}

// --- The form partial ------------------------------------------------------

// intakeView is what {{template "intake-fields" .Intake}} renders: the
// questions as form fields with their current values and messages.
type intakeView struct {
	page   *Page
	Fields []intakeFormField
}

// T translates in the page's language.
func (v *intakeView) T(id string, args ...any) string { return v.page.T(id, args...) }

// intakeFormField is one question as a form field.
type intakeFormField struct {
	ID, Name, Label, Kind string
	Required              bool
	Value                 string // text, date, "yes"/"no"
	Options               []intakeOption
	Error                 string
	Max                   int
}

// intakeOption is one choice of a single or multiple choice question.
type intakeOption struct {
	ID, Value string
	Checked   bool
}

// intakeView prepares the questions' fields for the page: values from form
// (the submitted form when it is shown again; nil for a fresh one), messages
// from the page's field errors.
func (s *Server) intakeView(p *Page, questions []intakeQuestion, form map[string][]string) *intakeView {
	v := &intakeView{page: p}
	for _, q := range questions {
		name := intakeField(q.ID)
		vals := form[name]
		f := intakeFormField{ID: "intake-" + q.ID, Name: name, Label: q.Label, Kind: q.Kind, Required: q.Required, Error: p.FieldError(name)}
		if len(vals) > 0 {
			f.Value = vals[0]
		}
		switch q.Kind {
		case store.IntakeShort:
			f.Max = intakeMaxShort
		case store.IntakeLong:
			f.Max = intakeMaxLong
		}
		for i, o := range q.Options {
			checked := false
			for _, x := range vals {
				if x == o {
					checked = true
				}
			}
			f.Options = append(f.Options, intakeOption{ID: f.ID + "-" + strconv.Itoa(i), Value: o, Checked: checked})
		}
		v.Fields = append(v.Fields, f)
	}
	return v
}

// --- The practitioner's page -----------------------------------------------

// intakeForm is the add/edit question form as typed.
type intakeForm struct {
	Label, Kind, Options string
	Required             bool
}

// intakeRow is one question of the list.
type intakeRow struct {
	*store.IntakeQuestion
	First, Last bool
}

type intakePage struct {
	*Page
	Practice  *store.Practice
	Type      *store.AppointmentType
	Questions []intakeRow
	Form      intakeForm
	Editing   *store.IntakeQuestion
	Kinds     []string
	Intake    *intakeView // the preview: the form as patients see it
	Full      bool
}

// Base is the page's address.
func (p *intakePage) Base() string {
	return "/pro/p/" + p.Practice.ID + "/types/" + p.Type.ID + "/intake"
}

// Action is where the form posts.
func (p *intakePage) Action() string {
	if p.Editing != nil {
		return p.Base() + "/" + p.Editing.ID
	}
	return p.Base()
}

// MaxQuestions is how many questions a type may have.
func (p *intakePage) MaxQuestions() int { return intakeMaxQuestions }

// KindName is the label of a kind.
func (p *intakePage) KindName(kind string) string { return p.T("intake.kind_" + kind) }

func (s *Server) intakePage(w http.ResponseWriter, r *http.Request) (*intakePage, error) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	t, err := s.practiceType(ctx, pr.ID, r.PathValue("type"))
	if err != nil {
		return nil, err
	}
	qs, err := s.intakeQuestions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	p := &intakePage{Page: s.newPage(w, r, "intake.title"), Practice: pr, Type: t, Kinds: intakeKinds,
		Form: intakeForm{Kind: store.IntakeShort}, Full: len(qs) >= intakeMaxQuestions}
	for i := range qs {
		p.Questions = append(p.Questions, intakeRow{IntakeQuestion: &qs[i], First: i == 0, Last: i == len(qs)-1})
	}
	p.Intake = s.intakeView(p.Page, qs, nil)
	return p, nil
}

func (s *Server) handleIntake(w http.ResponseWriter, r *http.Request) {
	p, err := s.intakePage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "intake", p)
}

// findQuestion returns the active question id of the page's type.
func (p *intakePage) findQuestion(id string) (*store.IntakeQuestion, error) {
	for _, q := range p.Questions {
		if q.ID == id {
			return q.IntakeQuestion, nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *Server) handleIntakeEdit(w http.ResponseWriter, r *http.Request) {
	p, err := s.intakePage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q, err := p.findQuestion(r.PathValue("q"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Editing = q
	p.Form = intakeForm{Label: q.Label, Kind: q.Kind, Options: strings.Join(q.Options, "\n"), Required: q.Required}
	s.render(w, r, http.StatusOK, "intake", p)
}

// checkIntakeQuestion reads the posted question form into q, recording what
// is wrong on p.
func (p *intakePage) checkIntakeQuestion(r *http.Request, q *store.IntakeQuestion) {
	f := intakeForm{Label: r.PostFormValue("label"), Kind: strings.TrimSpace(r.PostFormValue("kind")),
		Options: r.PostFormValue("options"), Required: r.PostFormValue("required") != ""}
	p.Form = f
	label, ok := cleanIntakeText(f.Label, false)
	switch {
	case label == "":
		p.fail("label", "error.intake_label_required")
	case !ok:
		p.fail("label", "error.intake_label_invalid")
	case utf8.RuneCountInString(label) > intakeMaxLabel:
		p.fail("label", "error.intake_label_long")
	}
	if !intakeKindValid(f.Kind) {
		p.fail("kind", "error.intake_kind")
	}
	q.Label, q.Kind, q.Required, q.Options = label, f.Kind, f.Required, []string{}
	if intakeHasOptions(f.Kind) {
		seen := map[string]bool{}
		for _, line := range strings.Split(f.Options, "\n") {
			o, ok := cleanIntakeText(line, false)
			if o == "" {
				continue
			}
			switch {
			case !ok:
				p.fail("options", "error.intake_option_invalid")
			case utf8.RuneCountInString(o) > intakeMaxOption:
				p.fail("options", "error.intake_option_long")
			case seen[strings.ToLower(o)]:
				p.fail("options", "error.intake_option_twice")
			}
			seen[strings.ToLower(o)] = true
			q.Options = append(q.Options, o)
		}
		if len(q.Options) < intakeMinOptions || len(q.Options) > intakeMaxOptions {
			p.fail("options", "error.intake_options_count")
		}
		p.Form.Options = strings.Join(q.Options, "\n")
	}
	p.Form.Label = label
}

func (s *Server) handleIntakeCreate(w http.ResponseWriter, r *http.Request) {
	s.submitIntake(w, r, false)
}

func (s *Server) handleIntakeSave(w http.ResponseWriter, r *http.Request) { s.submitIntake(w, r, true) }

// submitIntake adds (edit false) or saves a question; bad input shows the
// form again with its messages and writes nothing.
func (s *Server) submitIntake(w http.ResponseWriter, r *http.Request, edit bool) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	p, err := s.intakePage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := &store.IntakeQuestion{TypeID: p.Type.ID}
	if edit {
		cur, err := p.findQuestion(r.PathValue("q"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Editing, q.ID = cur, cur.ID
	} else if p.Full {
		p.fail("label", "error.intake_too_many", "Max", intakeMaxQuestions)
	}
	p.checkIntakeQuestion(r, q)
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "intake", p)
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		action := "intake.question_update"
		if edit {
			if err := tx.UpdateIntakeQuestion(ctx, q); err != nil {
				return err
			}
		} else {
			action = "intake.question_create"
			// Counted again under the write lock: two tabs adding at once
			// must not pass the limit.
			qs, err := tx.FindIntakeQuestions(ctx, q.TypeID)
			if err != nil {
				return err
			}
			if len(qs) >= intakeMaxQuestions {
				return fieldErr(ECodeInvalid, "error.intake_too_many", "label")
			}
			if err := tx.CreateIntakeQuestion(ctx, q); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, r, a.User.ID, action, "intake_question", q.ID, p.Type.ID+"; "+q.Kind)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == ECodeInvalid {
			p.fail(e.Field, e.Message, "Max", intakeMaxQuestions)
			s.render(w, r, http.StatusUnprocessableEntity, "intake", p)
			return
		}
		s.error(w, r, err)
		return
	}
	if edit {
		setFlash(w, "flash.intake_saved")
	} else {
		setFlash(w, "flash.intake_added")
	}
	http.Redirect(w, r, p.Base()+"#q-"+q.ID, http.StatusSeeOther)
}

func (s *Server) handleIntakeMove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.intakePage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q, err := p.findQuestion(r.PathValue("q"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	delta := 0
	switch r.PostFormValue("dir") {
	case "up":
		delta = -1
	case "down":
		delta = 1
	default:
		s.error(w, r, errorf(ECodeInvalid, "error.intake_direction"))
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		moved, err := tx.MoveIntakeQuestion(ctx, p.Type.ID, q.ID, delta)
		if err != nil || !moved {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "intake.question_move", "intake_question", q.ID, strconv.Itoa(delta))
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, p.Base()+"#q-"+q.ID, http.StatusSeeOther)
}

func (s *Server) handleIntakeDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.intakePage(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q, err := p.findQuestion(r.PathValue("q"))
	if errors.Is(err, store.ErrNotFound) {
		// Already removed (a second click): nothing to do.
		http.Redirect(w, r, p.Base(), http.StatusSeeOther)
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ArchiveIntakeQuestion(ctx, p.Type.ID, q.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "intake.question_remove", "intake_question", q.ID, p.Type.ID)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.intake_removed")
	http.Redirect(w, r, p.Base(), http.StatusSeeOther)
}

// --- The answers, for the practice -----------------------------------------

type intakeAnswersPage struct {
	*Page
	Practice      *store.Practice
	Appointment   *store.Appointment
	Patient       *store.User
	TypeName      string
	When          string
	IntakeAnswers []intakeAnswer
}

// handleIntakeAnswers shows the practice what the patient answered; reading
// health data is audited.
func (s *Server) handleIntakeAnswers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	appt, err := s.db.FindAppointmentByID(ctx, r.PathValue("appt"))
	if err == nil && appt.PracticeID != pr.ID {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	patient, err := s.db.FindUserByID(ctx, appt.PatientID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	answers, err := s.intakeAnswersFor(ctx, appt.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	if err := s.db.Update(ctx, func(tx *store.Tx) error {
		return s.audit(ctx, tx, r, a.User.ID, "intake.viewed", "appointment", appt.ID, "")
	}); err != nil {
		s.error(w, r, err)
		return
	}
	p := &intakeAnswersPage{Page: s.newPage(w, r, "intake.answers_title"), Practice: pr, Appointment: appt, Patient: patient,
		TypeName: s.typeName(ctx, appt.TypeID), IntakeAnswers: answers}
	p.When = formatDateTime(p.Lang, appt.Start, s.location(pr.TimeZone))
	s.render(w, r, http.StatusOK, "intake_answers", p)
}

// --- API -------------------------------------------------------------------

type apiIntakeQuestion struct {
	ID       string   `json:"id"`
	Label    string   `json:"label"`
	Kind     string   `json:"kind"`
	Options  []string `json:"options,omitempty"`
	Required bool     `json:"required"`
}

// handleAPIIntakeQuestions lists the questions a booking of the type
// answers (in "answers", keyed by id).
func (s *Server) handleAPIIntakeQuestions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pr, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err == nil && pr.Status != store.PracticeVerified {
		err = store.ErrNotFound
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := s.practiceType(ctx, pr.ID, r.PathValue("type"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	qs, err := s.intakeQuestions(ctx, t.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]apiIntakeQuestion, len(qs))
	for i, q := range qs {
		out[i] = apiIntakeQuestion{ID: q.ID, Label: q.Label, Kind: q.Kind, Options: q.Options, Required: q.Required}
	}
	writeJSON(w, http.StatusOK, out)
}
