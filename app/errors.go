package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"daraport/store"
)

// Error codes, mapped to HTTP statuses in one place.
const (
	ECodeInvalid      = "invalid"      // 422: the input does not validate
	ECodeBadRequest   = "bad_request"  // 400: malformed request
	ECodeUnauthorized = "unauthorized" // 401: sign in first
	ECodeForbidden    = "forbidden"    // 403: not allowed
	ECodeNotFound     = "not_found"    // 404
	ECodeConflict     = "conflict"     // 409
	ECodeSlotTaken    = "slot_taken"   // 409: the slot was just taken
	ECodeRateLimited  = "rate_limited" // 429
	ECodeInternal     = "internal"     // 500
	ECodeUnavailable  = "unavailable"  // 503
)

var codeStatus = map[string]int{
	ECodeInvalid: http.StatusUnprocessableEntity, ECodeBadRequest: http.StatusBadRequest,
	ECodeUnauthorized: http.StatusUnauthorized, ECodeForbidden: http.StatusForbidden,
	ECodeNotFound: http.StatusNotFound, ECodeConflict: http.StatusConflict, ECodeSlotTaken: http.StatusConflict,
	ECodeRateLimited: http.StatusTooManyRequests, ECodeInternal: http.StatusInternalServerError,
	ECodeUnavailable: http.StatusServiceUnavailable,
}

// Error is an error meant for the person who made the request: a code and a
// catalogue id for the message. Anything else reaching s.error is internal:
// logged, never shown (it could carry patient data).
type Error struct {
	Code    string
	Message string // catalogue id
	Args    []any
	Field   string // the form field or JSON property at fault, if any
	// Details are extra properties of the JSON error (e.g. "alternatives"
	// when a slot was just taken).
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf builds an *Error.
func errorf(code, msgID string, args ...any) *Error {
	return &Error{Code: code, Message: msgID, Args: args}
}

// errorFrom turns any error into an *Error, mapping store errors.
func errorFrom(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(ECodeNotFound, "error.not_found"), true
	case errors.Is(err, store.ErrConflict):
		return errorf(ECodeConflict, "error.conflict"), true
	}
	return errorf(ECodeInternal, "error.internal"), false
}

func statusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// isAPI tells whether the request is for the JSON API.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// error answers a failed request: JSON for the API, a localized page otherwise.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	e, known := errorFrom(err)
	if !known {
		s.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	status := statusOf(e.Code)
	if isAPI(r) {
		a := actorFrom(r)
		locale := ""
		if a != nil {
			locale = a.User.Locale
		}
		lang := s.requestLanguage(r, locale)
		body := map[string]any{"code": e.Code, "message": s.i18n.T(lang, e.Message, e.Args...)}
		if e.Field != "" {
			body["field"] = e.Field
		}
		for k, v := range e.Details {
			body[k] = v
		}
		writeJSON(w, status, map[string]any{"error": body})
		return
	}
	if status == http.StatusUnauthorized {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(safeNext(r.URL.RequestURI())), http.StatusSeeOther)
		return
	}
	p := s.newPage(w, r, "error.title")
	p.Error = p.T(e.Message, e.Args...)
	s.render(w, r, status, "error", p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
