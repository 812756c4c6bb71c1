package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"daraport/store"
)

// The staff operations of the workspace in the JSON API (DESIGN §5):
// no-show, paid and back to unpaid, the allowlist and bans. Same policy and
// validation as the pages.

func (s *Server) handleAPINoShow(w http.ResponseWriter, r *http.Request) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	if err := s.markNoShow(r.Context(), actorFrom(r), appt, p, s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	s.writeAppointment(w, r, appt.ID, p)
}

func (s *Server) handleAPIPaid(w http.ResponseWriter, r *http.Request)   { s.apiPaid(w, r, true) }
func (s *Server) handleAPIUnpaid(w http.ResponseWriter, r *http.Request) { s.apiPaid(w, r, false) }

func (s *Server) apiPaid(w http.ResponseWriter, r *http.Request, paid bool) {
	appt, p, ok := s.loadAppointment(w, r)
	if !ok {
		return
	}
	if err := s.setPaid(r.Context(), actorFrom(r), appt, p, paid, s.clientIP(r)); err != nil {
		s.error(w, r, err)
		return
	}
	s.writeAppointment(w, r, appt.ID, p)
}

func (s *Server) writeAppointment(w http.ResponseWriter, r *http.Request, id string, p *store.Practice) {
	appt, err := s.db.FindAppointmentByID(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiAppointment(appt, p.TimeZone))
}

// readBigJSON is readJSON for bodies up to 2 MB (an allowlist of 20,000
// addresses).
func readBigJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 2<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(ECodeBadRequest, "error.bad_json")
	}
	return nil
}

func (s *Server) handleAPIAllowlist(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	limit, offset, err := pageParams(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, total, err := s.db.FindAllowlist(r.Context(), p.ID, strings.TrimSpace(r.URL.Query().Get("q")), limit, offset)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]map[string]string, 0, len(list))
	for _, e := range list {
		out = append(out, map[string]string{"email": e.Email, "added_at": e.CreatedAt.Format(time.RFC3339)})
	}
	body := map[string]any{"emails": out, "total": total}
	if limit > 0 && offset+limit < total {
		body["next"] = strconv.Itoa(offset + limit)
	}
	writeJSON(w, http.StatusOK, body)
}

// handleAPIAllowlistAdd adds {"emails":[…]}: the valid ones are stored, the
// others listed by index; 422 when none is valid.
func (s *Server) handleAPIAllowlistAdd(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var body struct {
		Emails []string `json:"emails"`
	}
	if err := readBigJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	if len(body.Emails) > allowlistMax {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_too_many_emails", "emails"))
		return
	}
	l := &emailList{}
	seen := map[string]bool{}
	invalid := []map[string]any{}
	for i, e := range body.Emails {
		if v, msg := cleanEmail(e); msg == "" {
			l.good(v, seen)
		} else {
			l.BadCount++
			invalid = append(invalid, map[string]any{"index": i, "value": e})
		}
	}
	if len(l.Good) == 0 {
		e := fieldErr(ECodeInvalid, "error.ws_no_email", "emails")
		e.Details = map[string]any{"invalid": invalid}
		s.error(w, r, e)
		return
	}
	added, err := s.addToAllowlist(r.Context(), r, p, actorFrom(r), l, "api")
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"added": added, "valid": len(l.Good), "invalid": invalid})
}

func (s *Server) handleAPIAllowlistRemove(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var body struct {
		Emails []string `json:"emails"`
	}
	if err := readBigJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	if len(body.Emails) == 0 || len(body.Emails) > allowlistMax {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_no_email", "emails"))
		return
	}
	n, err := s.removeFromAllowlist(r.Context(), r, p, actorFrom(r), body.Emails)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": n})
}

type apiBan struct {
	PatientID string `json:"patient_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Reason    string `json:"reason"`
	CreatedAt string `json:"created_at"`
}

func (s *Server) handleAPIBans(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindBans(r.Context(), p.ID, "")
	if err != nil {
		s.error(w, r, err)
		return
	}
	loc := s.location(p.TimeZone)
	out := make([]apiBan, 0, len(list))
	for _, b := range list {
		out = append(out, apiBan{PatientID: b.PatientID, Name: b.PatientName, Email: b.Email, Reason: b.Reason, CreatedAt: b.CreatedAt.In(loc).Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAPIBan bans {"patient_id","reason"}: only a patient of the practice
// (anyone else answers 404).
func (s *Server) handleAPIBan(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var body struct {
		PatientID string `json:"patient_id"`
		Reason    string `json:"reason"`
	}
	if err := readJSON(r, &body); err != nil {
		s.error(w, r, err)
		return
	}
	ok, err := s.db.IsPracticePatient(ctx, p.ID, body.PatientID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !ok {
		s.auditDenied(r, "user", body.PatientID)
		s.error(w, r, fieldErr(ECodeNotFound, "error.not_found", "patient_id"))
		return
	}
	if err := s.banPatient(ctx, r, p, actorFrom(r), body.PatientID, body.Reason); err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.db.FindBans(ctx, p.ID, body.PatientID)
	if err != nil || len(list) == 0 {
		s.error(w, r, err)
		return
	}
	b := list[0]
	writeJSON(w, http.StatusCreated, apiBan{PatientID: b.PatientID, Name: b.PatientName, Email: b.Email, Reason: b.Reason,
		CreatedAt: b.CreatedAt.In(s.location(p.TimeZone)).Format(time.RFC3339)})
}

func (s *Server) handleAPIUnban(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// DELETE is idempotent: no ban (any more) answers 204 as well.
	if err := s.unbanPatient(r.Context(), r, p, actorFrom(r), r.PathValue("patient")); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
