package app

import (
	"net/http"

	"daraport/store"
)

type apiRole struct {
	Role           string `json:"role"`
	PracticeID     string `json:"practice_id,omitempty"`
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
// directory of verified practices (the id is the practice id).
func (s *Server) handleAPIPractitioners(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.FindPractices(r.Context(), store.PracticeFilter{Status: store.PracticeVerified})
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]apiPractitioner, 0, len(list))
	for _, p := range list {
		out = append(out, apiPractitioner{ID: p.ID, Name: p.Name, Specialties: []string{}})
	}
	writeJSON(w, http.StatusOK, out)
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
				"summary":    "Public directory of verified practitioners",
				"security":   []any{},
				"parameters": []any{map[string]any{"name": "limit", "in": "query", "required": false, "schema": map[string]any{"type": "integer"}}},
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
