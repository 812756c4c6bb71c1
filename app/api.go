package app

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"daraport/store"
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

type apiPractitioner struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Specialties      []string `json:"specialties"`
	City             string   `json:"city"`
	Teleconsultation bool     `json:"teleconsultation"`
}

// handleAPIPractitioners answers GET /api/v1/practitioners: the public
// directory of verified practices (the id is the practice id). Without
// limit it returns every entry as an array; with limit, an object
// {"practitioners":[…],"next":"cursor"} whose next is empty on the last page.
func (s *Server) handleAPIPractitioners(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindPractices(r.Context(), store.PracticeFilter{Status: store.PracticeVerified})
	if err != nil {
		s.error(w, r, err)
		return
	}
	teleTypes, err := s.db.TeleconsultationPractices(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]apiPractitioner, 0, len(list))
	for _, p := range list {
		out = append(out, apiPractitioner{ID: p.ID, Name: p.Name, Specialties: p.Specialties, City: p.City, Teleconsultation: teleTypes[p.ID]})
	}
	if limit == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	page, next := paginate(out, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"practitioners": page, "next": next})
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

// handleOpenAPI serves the OpenAPI 3 description of the API.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	v, _, _ := BuildInfo()
	writeJSON(w, http.StatusOK, openAPIDocument(v, s.cfg.Server.BaseURL))
}

func openAPIDocument(version, baseURL string) map[string]any {
	errResp := map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	return map[string]any{
		"openapi":  "3.0.3",
		"info":     map[string]any{"title": "Daraport API", "version": version},
		"servers":  []any{map[string]any{"url": baseURL + "/api/v1"}},
		"security": []any{map[string]any{"bearer": []string{}}},
		"paths": map[string]any{
			"/me": map[string]any{"get": map[string]any{
				"summary": "The caller's account and roles",
				"responses": map[string]any{
					"200": map[string]any{"description": "The caller", "content": map[string]any{"application/json": map[string]any{
						"schema": map[string]any{"$ref": "#/components/schemas/Me"}}}},
					"401": errResp, "429": errResp,
				}}},
			"/practitioners": map[string]any{"get": map[string]any{
				"summary":  "Public directory of verified practitioners",
				"security": []any{},
				"parameters": []any{
					map[string]any{"name": "limit", "in": "query", "required": false, "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 1000},
						"description": "Page size; without it every entry is returned as an array"},
					map[string]any{"name": "cursor", "in": "query", "required": false, "schema": map[string]any{"type": "string"},
						"description": "The next value of the previous page"}},
				"responses": map[string]any{
					"200": map[string]any{"description": "Directory entries", "content": map[string]any{"application/json": map[string]any{
						"schema": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Practitioner"}}}}},
				}}},
		},
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "properties": map[string]any{"error": map[string]any{"type": "object",
					"properties": map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}}},
				"Me": map[string]any{"type": "object", "properties": map[string]any{
					"id": map[string]any{"type": "string"}, "email": map[string]any{"type": "string"}, "name": map[string]any{"type": "string"},
					"roles": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
						"role": map[string]any{"type": "string"}, "practice_id": map[string]any{"type": "string"}}}}}},
				"Practitioner": map[string]any{"type": "object", "properties": map[string]any{
					"id": map[string]any{"type": "string"}, "name": map[string]any{"type": "string"},
					"specialties": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
					"city":        map[string]any{"type": "string"}, "teleconsultation": map[string]any{"type": "boolean"}}},
			},
		},
	}
}
