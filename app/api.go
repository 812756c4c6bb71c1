package app

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

type apiRole struct {
	Role           string `json:"role"`
	PracticeID     string `json:"practice_id"` // "" for roles without a practice: the contract lists the key
	OrganizationID string `json:"organization_id,omitempty"`
}

type apiMe struct {
	ID     string    `json:"id"`
	Email  string    `json:"email"`
	Name   string    `json:"name"`
	Locale string    `json:"locale"`
	Roles  []apiRole `json:"roles"`
}

// handleAPIMe answers GET /api/v1/me.
func (s *Server) handleAPIMe(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	me := apiMe{ID: a.User.ID, Email: a.User.Email, Name: a.User.Name, Locale: a.User.Locale, Roles: []apiRole{}}
	for _, m := range a.Memberships {
		me.Roles = append(me.Roles, apiRole{Role: m.Role, PracticeID: m.PracticeID, OrganizationID: m.OrganizationID})
	}
	writeJSON(w, http.StatusOK, me)
}

// pageParams reads limit (1–1000; 0 when absent) and the opaque cursor.
func pageParams(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > 1000 {
			e := errorf(ECodeBadRequest, "error.bad_limit")
			e.Field = "limit"
			return 0, 0, e
		}
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		}
		if err != nil || offset < 0 || !strings.HasPrefix(string(b), "o:") {
			e := errorf(ECodeBadRequest, "error.bad_cursor")
			e.Field = "cursor"
			return 0, 0, e
		}
	}
	return limit, offset, nil
}

// paginate returns one page of items and the cursor of the next ("" at the end).
func paginate[T any](items []T, limit, offset int) ([]T, string) {
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+limit, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return items[offset:end], next
}

// handleOpenAPI serves the OpenAPI 3 description of the API. Its paths are
// made from the route table, so every API route is described and none that
// does not exist is.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	v, _, _ := BuildInfo()
	writeJSON(w, http.StatusOK, openAPIDocument(v, s.cfg.Server.BaseURL, s.routes))
}

// apiSummaries describes each API operation, keyed like the route table.
// TestOpenAPICoversRoutes fails when an API route has no entry.
var apiSummaries = map[string]string{
	"POST /api/v1/appointments/{id}/no-show":                    "Mark a started appointment as an unexcused absence (staff; 422 before its start, 409 the second time)",
	"POST /api/v1/appointments/{id}/paid":                       "Mark an appointment paid, e.g. a teleconsultation (staff; allowed before the visit; 409 when already paid)",
	"POST /api/v1/appointments/{id}/unpaid":                     "Put a paid appointment back to unpaid (staff; 409 unless paid)",
	"GET /api/v1/practices/{id}/allowlist":                      "The practice's allowlist of patient e-mails (q filters; limit and offset page it)",
	"POST /api/v1/practices/{id}/allowlist":                     "Add {\"emails\":[…]} to the allowlist; invalid entries are listed by index, the valid ones stored",
	"POST /api/v1/practices/{id}/allowlist/remove":              "Remove {\"emails\":[…]} from the allowlist",
	"GET /api/v1/practices/{id}/bans":                           "The patients the practice banned, with the reasons",
	"POST /api/v1/practices/{id}/bans":                          "Ban a patient of the practice {\"patient_id\",\"reason\"}: online booking is refused from then on",
	"DELETE /api/v1/practices/{id}/bans/{patient}":              "Lift a ban",
	"GET /api/v1/openapi.json":                                  "This document",
	"GET /api/v1/me":                                            "The caller's account and roles",
	"GET /api/v1/practitioners":                                 "Public directory of verified practitioners (id is the practice id) with each one's next_available start; filters q (name), specialty, city (city or postal code prefix), teleconsultation=true, language (ISO 639-1); limit and cursor page it",
	"GET /api/v1/practitioners/{id}/appointment-types":          "A verified practice's bookable appointment types, in order",
	"GET /api/v1/practitioners/{id}/slots":                      "Free bookable starts between from and to (YYYY-MM-DD, inclusive, practice time zone), for a type when given",
	"GET /api/v1/practices/{id}/settings":                       "The practice's settings (staff)",
	"PUT /api/v1/practices/{id}/settings":                       "Change settings; fields absent from the body keep their value",
	"GET /api/v1/practices/{id}/hours":                          "The weekly hours in force and every version",
	"PUT /api/v1/practices/{id}/hours":                          "New weekly hours from a date; free slots regenerated, conflicts listed",
	"POST /api/v1/practices/{id}/planning/generate":             "The one-time initial generation: 201 when done, 202 with status_url while it runs, 409 the second time",
	"GET /api/v1/practices/{id}/planning/runs/{run}":            "State of a generation run",
	"GET /api/v1/practices/{id}/appointment-types":              "The practice's appointment types, archived ones with archived=1 (staff)",
	"POST /api/v1/practices/{id}/appointment-types":             "Add an appointment type",
	"PUT /api/v1/practices/{id}/appointment-types/{type}":       "Change an appointment type; absent fields keep their value",
	"DELETE /api/v1/practices/{id}/appointment-types/{type}":    "Remove (archive) an appointment type",
	"POST /api/v1/practices/{id}/appointment-types/{type}/move": "Move an appointment type up (delta -1) or down (delta 1)",
	"GET /api/v1/practices/{id}/blocks":                         "Upcoming blocks (absences, holidays)",
	"POST /api/v1/practices/{id}/blocks":                        "Block a time range: free slots become blocked, appointments inside are listed as conflicts",
	"DELETE /api/v1/practices/{id}/blocks/{block}":              "Remove a block; its slots become free again",
	"GET /api/v1/practices/{id}/notices":                        "The practice's reminder offsets (null: the installation's), the effective ones, and whether SMS are on (staff)",
	"PUT /api/v1/practices/{id}/notices":                        "Change reminders ([\"48h\",\"2h\"], [] for none, null for the installation's) and sms_enabled; absent fields keep their value",
	"GET /api/v1/practices/{id}/webhooks":                       "The practice's webhook endpoints (staff), without their secrets",
	"POST /api/v1/practices/{id}/webhooks":                      "Add an endpoint {url, events}; 201 with its signing secret, shown only here",
	"DELETE /api/v1/practices/{id}/webhooks/{wh}":               "Remove an endpoint; its delivery log stays in the outbox",
	"GET /api/v1/practices/{id}/webhooks/{wh}/deliveries":       "The endpoint's latest deliveries: state, attempts, last error",
	"POST /api/v1/appointments":                                 "Book: claim a free start for a type (one transaction; 409 slot_taken with alternatives when it was just taken); Idempotency-Key header makes a retry find the same booking",
	"GET /api/v1/appointments":                                  "The caller's appointments, or with practice_id a practice's (staff), newest first",
	"GET /api/v1/appointments/{id}":                             "One appointment (its patient or the practice's staff)",
	"GET /api/v1/appointments/{id}/visit":                       "A teleconsultation's video visit inside its window (its patient or the practice's staff): url, expires_at and ice_servers with short-lived TURN credentials",
	"POST /api/v1/appointments/{id}/cancel":                     "Cancel (the patient within the practice's rules, or its staff)",
	"POST /api/v1/appointments/{id}/move":                       "Move to another free start in one atomic step; the id stays",
	"GET /api/v1/practices/{id}/holidays":                       "Public holidays of the practice's country for a year, and whether they are blocked",

	// Intake forms (intake.go).
	"GET /api/v1/practitioners/{id}/appointment-types/{type}/questions": "The intake questions a booking of the type answers (POST /api/v1/appointments \"answers\": {question id: value})",

	// Recurring series and the waitlist (series.go, waitlist.go).
	"POST /api/v1/practices/{id}/series":        "Staff: book a series {patient_email, type_id, first_start, interval_weeks 1-26, count 1-52, mode all|free, notify, reason, phone} in one transaction; 201 {series_id, appointments, conflicts}; with mode all a conflict books nothing: 409 with conflicts (each with the nearest alternative)",
	"GET /api/v1/waitlist":                      "The caller's waitlist entries and live offers",
	"POST /api/v1/waitlist":                     "Wait for an earlier time {practitioner_id, type_id, before (YYYY-MM-DD, optional)}; one entry per type",
	"DELETE /api/v1/waitlist/{id}":              "Leave the waitlist for a type",
	"POST /api/v1/waitlist/offers/{id}/accept":  "Book the time held for the caller {reason, phone}; 201 with the appointment",
	"POST /api/v1/waitlist/offers/{id}/decline": "Decline the held time; the next waiting patient is offered it",
}

// apiSchemas names the request and response bodies of operations whose
// payloads DESIGN §5 fixes.
var apiSchemas = map[string][2]string{ // operation → {request schema, response schema}
	"GET /api/v1/me":                                   {"", "Me"},
	"GET /api/v1/practitioners":                        {"", "Practitioners"},
	"GET /api/v1/practitioners/{id}/appointment-types": {"", "AppointmentTypes"},
	"GET /api/v1/practitioners/{id}/slots":             {"", "Slots"},
	"GET /api/v1/practices/{id}/settings":              {"", "Settings"},
	"PUT /api/v1/practices/{id}/settings":              {"Settings", "Settings"},
	"PUT /api/v1/practices/{id}/hours":                 {"Hours", ""},
	"POST /api/v1/practices/{id}/appointment-types":    {"AppointmentType", "AppointmentType"},
	"POST /api/v1/practices/{id}/blocks":               {"BlockRequest", ""},
	"POST /api/v1/appointments":                        {"BookRequest", "Appointment"},
	"GET /api/v1/appointments/{id}":                    {"", "Appointment"},
}

func openAPIDocument(version, baseURL string, routes []route) map[string]any {
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	jsonBody := func(schema map[string]any) map[string]any {
		return map[string]any{"application/json": map[string]any{"schema": schema}}
	}
	errResp := map[string]any{"description": "Error", "content": jsonBody(ref("Error"))}
	paths := map[string]any{}
	for _, rt := range routes {
		if !strings.HasPrefix(rt.path, "/api/v1/") {
			continue
		}
		key := rt.method + " " + rt.path
		op := map[string]any{"summary": apiSummaries[key], "operationId": operationID(key)}
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.perm == PermPublic {
			op["security"] = []any{}
		}
		ok := map[string]any{"description": "OK"}
		if sc := apiSchemas[key]; sc[1] != "" {
			ok["content"] = jsonBody(ref(sc[1]))
		}
		if sc := apiSchemas[key]; sc[0] != "" {
			op["requestBody"] = map[string]any{"required": true, "content": jsonBody(ref(sc[0]))}
		}
		status := "200"
		switch rt.method {
		case "POST":
			status = "201"
		case "DELETE":
			status = "204"
			ok = map[string]any{"description": "Done"}
		}
		op["responses"] = map[string]any{status: ok, "400": errResp, "401": errResp, "403": errResp, "404": errResp,
			"409": errResp, "422": errResp, "429": errResp}
		p := strings.TrimPrefix(rt.path, "/api/v1")
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p].(map[string]any)[strings.ToLower(rt.method)] = op
	}
	str := map[string]any{"type": "string"}
	integer := map[string]any{"type": "integer"}
	boolean := map[string]any{"type": "boolean"}
	strs := map[string]any{"type": "array", "items": str}
	obj := func(props map[string]any) map[string]any {
		return map[string]any{"type": "object", "properties": props}
	}
	money := obj(map[string]any{"amount": integer, "currency": str})
	ranges := map[string]any{"type": "array", "items": map[string]any{"type": "array", "items": str, "minItems": 2, "maxItems": 2}}
	week := obj(map[string]any{"mon": ranges, "tue": ranges, "wed": ranges, "thu": ranges, "fri": ranges, "sat": ranges, "sun": ranges})
	practitioner := obj(map[string]any{"id": str, "name": str, "specialties": strs, "city": str, "teleconsultation": boolean,
		"postal_code": str, "languages": strs, "next_available": map[string]any{"type": "string", "format": "date-time", "nullable": true}})
	apptType := obj(map[string]any{"id": str, "name": str, "minutes": integer, "price": money, "teleconsultation": boolean,
		"buffer_after_minutes": integer, "new_patients": boolean, "first_visit_price": money})
	return map[string]any{
		"openapi":  "3.0.3",
		"info":     map[string]any{"title": "Daraport API", "version": version},
		"servers":  []any{map[string]any{"url": baseURL + "/api/v1"}},
		"security": []any{map[string]any{"bearer": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{
				"Error": obj(map[string]any{"error": obj(map[string]any{"code": str, "message": str, "field": str})}),
				"Me": obj(map[string]any{"id": str, "email": str, "name": str, "locale": str,
					"roles": map[string]any{"type": "array", "items": obj(map[string]any{"role": str, "practice_id": str})}}),
				"Practitioner":     practitioner,
				"Practitioners":    map[string]any{"oneOf": []any{map[string]any{"type": "array", "items": practitioner}, obj(map[string]any{"practitioners": map[string]any{"type": "array", "items": practitioner}, "next": str})}},
				"AppointmentType":  apptType,
				"AppointmentTypes": map[string]any{"type": "array", "items": apptType},
				"Slots":            map[string]any{"type": "array", "items": obj(map[string]any{"id": str, "start": str, "end": str, "location_id": str})},
				"Settings": obj(map[string]any{"name": str, "time_zone": str, "slot_minutes": integer, "horizon_days": integer,
					"min_notice_minutes": integer, "max_future_per_patient": integer, "booking_mode": str, "reason_mode": str,
					"patient_can_cancel": boolean, "cancel_cutoff_hours": integer, "specialties": strs, "diplomas": strs,
					"payment_means": strs, "transport": strs, "access": strs, "languages": strs, "visit_types": str,
					"convention_sector": str, "vitale": boolean, "address": str, "postal_code": str, "city": str, "country": str,
					"secretary_phone": str}),
				"Hours":        obj(map[string]any{"weekly": week, "from": str, "locations": map[string]any{"type": "object", "additionalProperties": week}}),
				"BlockRequest": obj(map[string]any{"from": str, "to": str, "reason": str}),
				"BookRequest": obj(map[string]any{"slot_id": str, "type_id": str, "reason": str, "phone": str,
					"answers": map[string]any{"type": "object", "description": "intake answers by question id (see …/appointment-types/{type}/questions)"}}),
				"Appointment": obj(map[string]any{"id": str, "practitioner_id": str, "patient_id": str, "type_id": str, "start": str,
					"end": str, "state": str, "payment_state": str, "reason": str, "visit_url": str}),
			},
		},
	}
}

// operationID turns "GET /api/v1/practices/{id}/hours" into "getPracticesIdHours".
func operationID(key string) string {
	method, path, _ := strings.Cut(key, " ")
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(strings.TrimPrefix(path, "/api/v1"), func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == '{' || r == '}' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
