package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"daraport/store"
)

func TestParseIntake(t *testing.T) {
	t.Parallel()
	qs := []intakeQuestion{
		{ID: "short", Kind: store.IntakeShort, Label: "Short"},
		{ID: "long", Kind: store.IntakeLong, Label: "Long"},
		{ID: "one", Kind: store.IntakeSingle, Label: "One", Options: []string{"Red", "Blue"}},
		{ID: "many", Kind: store.IntakeMultiple, Label: "Many", Options: []string{"A", "B", "C"}},
		{ID: "yn", Kind: store.IntakeYesNo, Label: "Yes/no"},
		{ID: "day", Kind: store.IntakeDate, Label: "Date"},
	}
	req := make([]intakeQuestion, len(qs))
	for i, q := range qs {
		q.Required = true
		req[i] = q
	}
	for _, tc := range []struct {
		name     string
		required bool
		form     url.Values
		want     map[string]any
		errs     map[string]string
	}{
		{"all answered", false, url.Values{"intake_short": {"  Pollen "}, "intake_long": {"Line 1\r\nLine 2"}, "intake_one": {"Blue"},
			"intake_many": {"C", "A", "C", ""}, "intake_yn": {"no"}, "intake_day": {"1980-04-23"}},
			map[string]any{"short": "Pollen", "long": "Line 1\nLine 2", "one": "Blue", "many": []string{"A", "C"}, "yn": false, "day": "1980-04-23"}, map[string]string{}},
		{"optional left empty", false, url.Values{"intake_short": {" "}, "intake_many": {""}}, map[string]any{}, map[string]string{}},
		{"required left empty", true, url.Values{},
			map[string]any{}, map[string]string{"intake_short": "error.intake_required", "intake_long": "error.intake_required",
				"intake_one": "error.intake_required_choice", "intake_many": "error.intake_required_choice", "intake_yn": "error.intake_required_choice",
				"intake_day": "error.intake_required"}},
		{"not among the options", false, url.Values{"intake_one": {"Green"}, "intake_many": {"A", "Z"}},
			map[string]any{}, map[string]string{"intake_one": "error.intake_choice", "intake_many": "error.intake_choice"}},
		{"option case matters", false, url.Values{"intake_one": {"red"}}, map[string]any{}, map[string]string{"intake_one": "error.intake_choice"}},
		{"two values for one", false, url.Values{"intake_one": {"Red", "Blue"}, "intake_short": {"a", "b"}},
			map[string]any{}, map[string]string{"intake_one": "error.intake_one_value", "intake_short": "error.intake_one_value"}},
		{"yes/no strict", false, url.Values{"intake_yn": {"maybe"}}, map[string]any{}, map[string]string{"intake_yn": "error.intake_yesno"}},
		{"yes", false, url.Values{"intake_yn": {"yes"}}, map[string]any{"yn": true}, map[string]string{}},
		{"dates strict", false, url.Values{"intake_day": {"1980-4-23"}}, map[string]any{}, map[string]string{"intake_day": "error.intake_date"}},
		{"date impossible", false, url.Values{"intake_day": {"2023-02-30"}}, map[string]any{}, map[string]string{"intake_day": "error.intake_date"}},
		{"date in words", false, url.Values{"intake_day": {"23/04/1980"}}, map[string]any{}, map[string]string{"intake_day": "error.intake_date"}},
		{"date out of range", false, url.Values{"intake_day": {"1899-12-31"}}, map[string]any{}, map[string]string{"intake_day": "error.intake_date"}},
		{"short at its limit", false, url.Values{"intake_short": {strings.Repeat("é", intakeMaxShort)}},
			map[string]any{"short": strings.Repeat("é", intakeMaxShort)}, map[string]string{}},
		{"short too long", false, url.Values{"intake_short": {strings.Repeat("é", intakeMaxShort+1)}}, map[string]any{},
			map[string]string{"intake_short": "error.intake_short_too_long"}},
		{"long too long", false, url.Values{"intake_long": {strings.Repeat("x", intakeMaxLong+1)}}, map[string]any{},
			map[string]string{"intake_long": "error.intake_long_too_long"}},
		{"line break in a short answer", false, url.Values{"intake_short": {"a\nb"}}, map[string]any{}, map[string]string{"intake_short": "error.intake_text_invalid"}},
		{"control character", false, url.Values{"intake_long": {"a\x07b"}}, map[string]any{}, map[string]string{"intake_long": "error.intake_text_invalid"}},
		{"invalid UTF-8", false, url.Values{"intake_short": {"a\xffb"}}, map[string]any{}, map[string]string{"intake_short": "error.intake_text_invalid"}},
		{"HTML kept as text", false, url.Values{"intake_short": {"<script>x</script>"}}, map[string]any{"short": "<script>x</script>"}, map[string]string{}},
		{"other fields ignored", false, url.Values{"intake_nope": {"x"}, "reason": {"y"}}, map[string]any{}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			questions := qs
			if tc.required {
				questions = req
			}
			got, errs := parseIntake(tc.form, questions)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("answers %#v, want %#v", got, tc.want)
			}
			if !reflect.DeepEqual(errs, tc.errs) {
				t.Errorf("errors %v, want %v", errs, tc.errs)
			}
		})
	}
}

func TestCheckIntakeMap(t *testing.T) {
	t.Parallel()
	qs := []intakeQuestion{
		{ID: "a", Kind: store.IntakeShort, Required: true},
		{ID: "m", Kind: store.IntakeMultiple, Options: []string{"X", "Y"}},
		{ID: "y", Kind: store.IntakeYesNo},
	}
	for _, tc := range []struct {
		name  string
		raw   string
		want  map[string]any
		field string
		msg   string
	}{
		{"ok", `{"a":"text","m":["Y","X"],"y":true}`, map[string]any{"a": "text", "m": []string{"X", "Y"}, "y": true}, "", ""},
		{"yes as a word", `{"a":"t","y":"no"}`, map[string]any{"a": "t", "y": false}, "", ""},
		{"one choice as a string", `{"a":"t","m":"X"}`, map[string]any{"a": "t", "m": []string{"X"}}, "", ""},
		{"null is no answer", `{"a":"t","m":null}`, map[string]any{"a": "t"}, "", ""},
		{"required missing", `{}`, nil, "answers.a", "error.intake_required"},
		{"unknown question", `{"a":"t","zz":"x"}`, nil, "answers.zz", "error.intake_unknown"},
		{"number", `{"a":5}`, nil, "answers.a", "error.intake_invalid"},
		{"object", `{"a":"t","m":{"x":1}}`, nil, "answers.m", "error.intake_invalid"},
		{"list of numbers", `{"a":"t","m":[1]}`, nil, "answers.m", "error.intake_invalid"},
		{"bad option", `{"a":"t","m":["Z"]}`, nil, "answers.m", "error.intake_choice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var raw map[string]any
			if err := json.Unmarshal([]byte(tc.raw), &raw); err != nil {
				t.Fatal(err)
			}
			got, err := checkIntakeMap(qs, raw)
			if tc.msg == "" {
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %#v, %v; want %#v", got, err, tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != ECodeInvalid || e.Field != tc.field || e.Message != tc.msg {
				t.Errorf("error %+v, want %s on %s", err, tc.msg, tc.field)
			}
		})
	}
}

// intakeQuestionsOf returns the stored active questions of a type.
func intakeQuestionsOf(t *testing.T, ts *testServer, typeID string) []intakeQuestion {
	t.Helper()
	qs, err := ts.srv.intakeQuestions(context.Background(), typeID)
	if err != nil {
		t.Fatal(err)
	}
	return qs
}

func TestIntakeQuestionPages(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	base := "/pro/p/" + w.pA.ID + "/types/" + w.typeA.ID + "/intake"
	res := ts.get(t, w.cProA, base)
	if res.StatusCode != 200 || !pageHas(res.Body, ts.text(t, "en", "intake.none")) || !pageHas(res.Body, "Journey visit") {
		t.Fatalf("empty page: %d", res.StatusCode)
	}
	// Who may not: the secretary, another practitioner, a patient (404); a
	// type of another practice under A's path (404).
	for name, c := range map[string]*http.Client{"secretary": w.cSecA, "practice B": w.cProB, "patient": w.cPatient} {
		if res := ts.get(t, c, base); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	typeB := addTypeRow(t, ts, w.pB.ID, "B visit", 15, 0, false)
	if res := ts.get(t, w.cProA, "/pro/p/"+w.pA.ID+"/types/"+typeB+"/intake"); res.StatusCode != http.StatusNotFound {
		t.Errorf("B's type under A's path: %d", res.StatusCode)
	}

	// Bad input: a message on the field, nothing written.
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"no label", url.Values{"label": {"  "}, "kind": {"short"}}, "label", "error.intake_label_required"},
		{"label too long", url.Values{"label": {strings.Repeat("q", intakeMaxLabel+1)}, "kind": {"short"}}, "label", "error.intake_label_long"},
		{"control in label", url.Values{"label": {"a\x01"}, "kind": {"short"}}, "label", "error.intake_label_invalid"},
		{"unknown kind", url.Values{"label": {"Q"}, "kind": {"essay"}}, "kind", "error.intake_kind"},
		{"one option", url.Values{"label": {"Q"}, "kind": {"single"}, "options": {"Only\n\n"}}, "options", "error.intake_options_count"},
		{"21 options", url.Values{"label": {"Q"}, "kind": {"multiple"}, "options": {strings.Repeat("o\n", 1) + manyOptions(21)}}, "options", "error.intake_options_count"},
		{"long option", url.Values{"label": {"Q"}, "kind": {"single"}, "options": {"A\n" + strings.Repeat("b", intakeMaxOption+1)}}, "options", "error.intake_option_long"},
		{"twice", url.Values{"label": {"Q"}, "kind": {"single"}, "options": {"Yes\nyes"}}, "options", "error.intake_option_twice"},
	} {
		res := ts.post(t, w.cProA, base, tc.form)
		if res.StatusCode != http.StatusUnprocessableEntity || !pageHas(res.Body, ts.text(t, "en", tc.msg, "Max", intakeMaxQuestions)) {
			t.Errorf("%s: %d, want 422 with %s", tc.name, res.StatusCode, tc.msg)
		}
	}
	if n := ts.rows(t, "intake_questions"); n != 0 {
		t.Fatalf("refused questions wrote %d rows", n)
	}

	// Add: a short question, a single choice, a date.
	add := func(form url.Values) {
		t.Helper()
		if res := ts.post(t, w.cProA, base, form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("add %v: %d %s", form, res.StatusCode, mainOf(res.Body))
		}
	}
	add(url.Values{"label": {"Allergies <any>?"}, "kind": {"short"}, "required": {"1"}, "options": {"ignored"}})
	add(url.Values{"label": {"Which arm?"}, "kind": {"single"}, "options": {" Left \r\n\r\nRight\n"}})
	add(url.Values{"label": {"Date of the last visit"}, "kind": {"date"}})
	qs := intakeQuestionsOf(t, ts, w.typeA.ID)
	if len(qs) != 3 || qs[0].Label != "Allergies <any>?" || !qs[0].Required || len(qs[0].Options) != 0 ||
		!reflect.DeepEqual(qs[1].Options, []string{"Left", "Right"}) || qs[2].Kind != store.IntakeDate {
		t.Fatalf("questions: %+v", qs)
	}
	res = ts.get(t, w.cProA, base)
	if !strings.Contains(res.Body, "Allergies &lt;any&gt;?") || !strings.Contains(res.Body, `name="intake_`+qs[1].ID+`" value="Right"`) {
		t.Error("list or preview missing")
	}
	// Edit, move, remove.
	res = ts.get(t, w.cProA, base+"/"+qs[1].ID)
	if res.StatusCode != 200 || !strings.Contains(res.Body, "Left\nRight</textarea>") {
		t.Fatalf("edit page: %d", res.StatusCode)
	}
	if res := ts.post(t, w.cProA, base+"/"+qs[1].ID, url.Values{"label": {"Which arm?"}, "kind": {"multiple"}, "options": {"Left\nRight\nBoth"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", res.StatusCode)
	}
	if res := ts.post(t, w.cProA, base+"/"+qs[2].ID+"/move", url.Values{"dir": {"up"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move: %d", res.StatusCode)
	}
	if res := ts.post(t, w.cProA, base+"/"+qs[0].ID+"/move", url.Values{"dir": {"sideways"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("move sideways: %d", res.StatusCode)
	}
	if res := ts.post(t, w.cProA, base+"/"+qs[0].ID+"/delete", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	got := intakeQuestionsOf(t, ts, w.typeA.ID)
	if len(got) != 2 || got[0].ID != qs[2].ID || got[1].ID != qs[1].ID || got[1].Kind != store.IntakeMultiple || len(got[1].Options) != 3 ||
		got[0].Position != 1 || got[1].Position != 2 {
		t.Fatalf("after edit, move and delete: %+v", got)
	}
	// Unknown or removed question: 404.
	if res := ts.get(t, w.cProA, base+"/"+qs[0].ID); res.StatusCode != http.StatusNotFound {
		t.Errorf("removed question: %d", res.StatusCode)
	}
	if n := ts.rows(t, "audit", "action LIKE 'intake.question_%' AND actor_id = ?", w.proA.ID); n != 6 {
		t.Errorf("%d audited changes, want 6", n)
	}
	// The public API lists the questions in order.
	api := ts.api(t, "GET", "/api/v1/practitioners/"+w.pA.ID+"/appointment-types/"+w.typeA.ID+"/questions", "", nil)
	var list []apiIntakeQuestion
	if err := json.Unmarshal([]byte(api.Body), &list); err != nil || len(list) != 2 || list[0].Kind != "date" || len(list[1].Options) != 3 {
		t.Errorf("API questions: %d %s", api.StatusCode, api.Body)
	}
	if api := ts.api(t, "GET", "/api/v1/practitioners/"+w.pA.ID+"/appointment-types/"+typeB+"/questions", "", nil); api.StatusCode != http.StatusNotFound {
		t.Errorf("API with another practice's type: %d", api.StatusCode)
	}
}

func manyOptions(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("option " + strings.Repeat("i", i+1) + "\n")
	}
	return b.String()
}

func TestIntakeAnswers(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	ctx := context.Background()
	var allergy, smoker, arms *store.IntakeQuestion
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		allergy = &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Allergies", Kind: store.IntakeLong, Required: true}
		smoker = &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Smoker?", Kind: store.IntakeYesNo}
		arms = &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Arms", Kind: store.IntakeMultiple, Options: []string{"Left", "Right"}}
		for _, q := range []*store.IntakeQuestion{allergy, smoker, arms} {
			if err := tx.CreateIntakeQuestion(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	starts := w.freeStarts(t, w.typeA, 3, 5)
	appt, err := ts.srv.book(ctx, bookRequest{SlotID: starts[0].ID, TypeID: w.typeA.ID, Patient: w.patient.User, ActorID: w.patient.ID})
	if err != nil {
		t.Fatal(err)
	}
	qs := intakeQuestionsOf(t, ts, w.typeA.ID)
	// The API's "answers" are checked against the type's questions.
	if got, err := ts.srv.intakeFromAPI(ctx, w.typeA.ID, map[string]any{allergy.ID: "Latex", arms.ID: []any{"Left"}}); err != nil || len(got) != 2 {
		t.Errorf("API answers: %v %v", got, err)
	}
	if _, err := ts.srv.intakeFromAPI(ctx, w.typeA.ID, nil); err == nil {
		t.Error("API booking without the required answer accepted")
	}
	other := addTypeRow(t, ts, w.pA.ID, "No questions", 15, 0, false)
	if got, err := ts.srv.intakeFromAPI(ctx, other, nil); err != nil || got != nil {
		t.Errorf("type without questions: %v %v", got, err)
	}
	if _, err := ts.srv.intakeFromAPI(ctx, other, map[string]any{allergy.ID: "x"}); err == nil {
		t.Error("an answer to another type's question accepted")
	}
	// Answers that do not fit are refused inside the transaction: nothing stored.
	err = ts.db.Update(ctx, func(tx *store.Tx) error {
		return ts.srv.saveIntake(ctx, tx, appt.ID, map[string]any{smoker.ID: true})
	})
	var e *Error
	if !errors.As(err, &e) || e.Field != "answers."+allergy.ID {
		t.Fatalf("missing required answer: %v", err)
	}
	// No answers (a staff booking): nothing stored, no error.
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return ts.srv.saveIntake(ctx, tx, appt.ID, nil) }); err != nil {
		t.Fatal(err)
	}
	if n := ts.rows(t, "intake_answers"); n != 0 {
		t.Fatalf("%d answers stored", n)
	}
	secret := "Penicillin <b>severe</b>\nsince 2001"
	answers, errs := parseIntake(url.Values{"intake_" + allergy.ID: {secret}, "intake_" + smoker.ID: {"yes"}, "intake_" + arms.ID: {"Right", "Left"}}, qs)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return ts.srv.saveIntake(ctx, tx, appt.ID, answers) }); err != nil {
		t.Fatal(err)
	}
	// Encrypted at rest: the raw column holds neither the answer nor the label.
	raw := ts.rawColumn(t, "SELECT answers FROM intake_answers WHERE appointment_id = ?", appt.ID)
	if strings.Contains(string(raw), "Penicillin") || strings.Contains(string(raw), "Allergies") {
		t.Fatal("intake answers stored in clear")
	}
	// The label is kept with the answer: editing the question later does not change what was asked.
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		allergy.Label = "Renamed question"
		return tx.UpdateIntakeQuestion(ctx, allergy)
	}); err != nil {
		t.Fatal(err)
	}
	list, err := ts.srv.intakeAnswersFor(ctx, appt.ID)
	if err != nil || len(list) != 3 || list[0].Label != "Allergies" || list[0].Show("en") != secret || list[1].Show("fr") != "Oui" || list[2].Show("en") != "Left, Right" {
		t.Fatalf("answers for the patient: %v %+v", err, list)
	}

	// The practice's desk reads them (escaped), and the reading is audited.
	path := "/pro/p/" + w.pA.ID + "/appointments/" + appt.ID + "/intake"
	for name, c := range map[string]*http.Client{"practitioner": w.cProA, "secretary": w.cSecA} {
		res := ts.get(t, c, path)
		if res.StatusCode != 200 || !strings.Contains(res.Body, "Penicillin &lt;b&gt;severe&lt;/b&gt;") || !pageHas(res.Body, "Pat Patient") ||
			!pageHas(res.Body, "Allergies") || !pageHas(res.Body, "Left, Right") {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	if n := ts.rows(t, "audit", "action = 'intake.viewed' AND object_id = ?", appt.ID); n != 2 {
		t.Errorf("%d readings audited, want 2", n)
	}
	// Nobody else: another practice (by A's path or its own), the patient here, another patient.
	for name, p := range map[string]struct {
		c    *http.Client
		path string
	}{
		"practice B, A's path":   {w.cProB, path},
		"practice B, its path":   {w.cProB, "/pro/p/" + w.pB.ID + "/appointments/" + appt.ID + "/intake"},
		"the patient":            {w.cPatient, path},
		"another patient":        {w.cPatient2, path},
		"unknown appointment":    {w.cProA, "/pro/p/" + w.pA.ID + "/appointments/nope/intake"},
		"anonymous (to sign in)": {w.cAnon, path},
	} {
		res := ts.get(t, p.c, p.path)
		want := http.StatusNotFound
		if p.c == w.cAnon {
			want = http.StatusSeeOther
		}
		if res.StatusCode != want || strings.Contains(res.Body, "Penicillin") {
			t.Errorf("%s: %d, want %d", name, res.StatusCode, want)
		}
	}
	if n := ts.rows(t, "audit", "action = 'intake.viewed'"); n != 2 {
		t.Errorf("refused readings were audited as views (%d)", n)
	}
}

// TestIntakeFieldsPartial renders the booking form's fields with values and
// messages, as the booking page and the assisted confirmation show them.
func TestIntakeFieldsPartial(t *testing.T) {
	t.Parallel()
	w := newJourneyWorld(t)
	ts := w.ts
	ctx := context.Background()
	q := &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Which <arm>?", Kind: store.IntakeSingle, Options: []string{"Left \"L\"", "Right"}, Required: true}
	d := &store.IntakeQuestion{TypeID: w.typeA.ID, Label: "Since when?", Kind: store.IntakeDate}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.CreateIntakeQuestion(ctx, q); err != nil {
			return err
		}
		return tx.CreateIntakeQuestion(ctx, d)
	}); err != nil {
		t.Fatal(err)
	}
	// Through the assisted confirmation: a bad date comes back with its message and the values kept.
	id := w.sendRequest(t, w.cPatient, url.Values{"preferences": {"Any time"}, "type": {w.typeA.ID}})
	starts := w.freeStarts(t, w.typeA, 3, 4)
	if res := ts.post(t, w.cProA, "/pro/p/"+w.pA.ID+"/requests/"+id+"/propose", url.Values{"type": {w.typeA.ID}, "slot": {starts[0].ID}}); res.StatusCode != http.StatusSeeOther {
		t.Fatal(res.StatusCode)
	}
	res := ts.post(t, w.cPatient, "/requests/"+id+"/confirm", url.Values{"intake_" + q.ID: {`Left "L"`}, "intake_" + d.ID: {"31/12/2020"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad date: %d", res.StatusCode)
	}
	for _, want := range []string{"Which &lt;arm&gt;?", `value="Left &#34;L&#34;" checked`, `value="31/12/2020"`, `type="date"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if !pageHas(res.Body, ts.text(t, "en", "error.intake_date")) {
		t.Error("no message for the date")
	}
	if n := ts.rows(t, "appointments"); n != 0 {
		t.Errorf("%d appointments", n)
	}
}
