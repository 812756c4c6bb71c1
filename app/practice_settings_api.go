package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"daraport/store"
)

// apiSettings is the JSON form of a practice's settings (DESIGN §5).
type apiSettings struct {
	ID                  string           `json:"id"`
	Name                string           `json:"name"`
	TimeZone            string           `json:"time_zone"`
	SlotMinutes         int              `json:"slot_minutes"`
	HorizonDays         int              `json:"horizon_days"`
	MinNoticeMinutes    int              `json:"min_notice_minutes"`
	BookingMode         string           `json:"booking_mode"`
	ReasonMode          string           `json:"reason_mode"`
	PatientCanCancel    bool             `json:"patient_can_cancel"`
	CancelCutoffHours   int              `json:"cancel_cutoff_hours"`
	MaxFuturePerPatient int              `json:"max_future_per_patient"`
	Specialties         []string         `json:"specialties"`
	Diplomas            []string         `json:"diplomas"`
	PaymentMeans        []string         `json:"payment_means"`
	Transport           []string         `json:"transport"`
	Access              []string         `json:"access"`
	Languages           []string         `json:"languages"`
	VisitTypes          string           `json:"visit_types"`
	ConventionSector    string           `json:"convention_sector"`
	Vitale              bool             `json:"vitale"`
	Address             string           `json:"address"`
	PostalCode          string           `json:"postal_code"`
	City                string           `json:"city"`
	Country             string           `json:"country"`
	SecretaryPhone      string           `json:"secretary_phone"`
	PhotoURL            *string          `json:"photo_url"` // read-only: POST /pro/p/{id}/photo sets it
	Locations           []apiLocation    `json:"locations"` // read-only: edited on the settings page
	PlannedUntil        string           `json:"planned_until,omitempty"`
	Regenerated         *apiRegeneration `json:"regenerated,omitempty"`
}

// apiLocation is an extra place of the practice; its id keys its hours.
type apiLocation struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Address    string `json:"address"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
}

// apiRegeneration says what a new slot length did to the planning.
type apiRegeneration struct {
	From      string            `json:"from"`
	Removed   int               `json:"removed"`
	Added     int               `json:"added"`
	Conflicts []apiSlotConflict `json:"conflicts"`
}

type apiSlotConflict struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// apiSettingsPatch is a PUT body: absent fields keep their value.
type apiSettingsPatch struct {
	Name                *string   `json:"name"`
	TimeZone            *string   `json:"time_zone"`
	SlotMinutes         *int      `json:"slot_minutes"`
	HorizonDays         *int      `json:"horizon_days"`
	MinNoticeMinutes    *int      `json:"min_notice_minutes"`
	BookingMode         *string   `json:"booking_mode"`
	ReasonMode          *string   `json:"reason_mode"`
	PatientCanCancel    *bool     `json:"patient_can_cancel"`
	CancelCutoffHours   *int      `json:"cancel_cutoff_hours"`
	MaxFuturePerPatient *int      `json:"max_future_per_patient"`
	Specialties         *[]string `json:"specialties"`
	Diplomas            *[]string `json:"diplomas"`
	PaymentMeans        *[]string `json:"payment_means"`
	Transport           *[]string `json:"transport"`
	Access              *[]string `json:"access"`
	Languages           *[]string `json:"languages"`
	VisitTypes          *string   `json:"visit_types"`
	ConventionSector    *string   `json:"convention_sector"`
	Vitale              *bool     `json:"vitale"`
	Address             *string   `json:"address"`
	PostalCode          *string   `json:"postal_code"`
	City                *string   `json:"city"`
	Country             *string   `json:"country"`
	SecretaryPhone      *string   `json:"secretary_phone"`
}

// settingsKeys are the keys a PUT body may hold; the read-only ones a GET
// answers are accepted and ignored, so a client may send back what it read.
var settingsKeys = map[string]bool{"name": true, "time_zone": true, "slot_minutes": true, "horizon_days": true,
	"min_notice_minutes": true, "booking_mode": true, "reason_mode": true, "patient_can_cancel": true,
	"cancel_cutoff_hours": true, "max_future_per_patient": true, "specialties": true, "diplomas": true,
	"payment_means": true, "transport": true, "access": true, "languages": true, "visit_types": true,
	"convention_sector": true, "vitale": true, "address": true, "postal_code": true, "city": true, "country": true,
	"secretary_phone": true, "id": true, "photo_url": true, "locations": true, "planned_until": true}

func (p *apiSettingsPatch) apply(v *practiceSettings) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	num := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	list := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = append([]string{}, *src...)
		}
	}
	flag := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	set(&v.Name, p.Name)
	set(&v.TimeZone, p.TimeZone)
	num(&v.SlotMinutes, p.SlotMinutes)
	num(&v.HorizonDays, p.HorizonDays)
	num(&v.MinNoticeMinutes, p.MinNoticeMinutes)
	set(&v.BookingMode, p.BookingMode)
	set(&v.ReasonMode, p.ReasonMode)
	flag(&v.PatientCanCancel, p.PatientCanCancel)
	num(&v.CancelCutoffHours, p.CancelCutoffHours)
	num(&v.MaxFuturePerPatient, p.MaxFuturePerPatient)
	list(&v.Specialties, p.Specialties)
	list(&v.Diplomas, p.Diplomas)
	list(&v.PaymentMeans, p.PaymentMeans)
	list(&v.Transport, p.Transport)
	list(&v.Access, p.Access)
	list(&v.Languages, p.Languages)
	set(&v.VisitTypes, p.VisitTypes)
	set(&v.ConventionSector, p.ConventionSector)
	flag(&v.Vitale, p.Vitale)
	set(&v.Address, p.Address)
	set(&v.PostalCode, p.PostalCode)
	set(&v.City, p.City)
	set(&v.Country, p.Country)
	set(&v.SecretaryPhone, p.SecretaryPhone)
}

// apiSettingsOf builds the JSON form of a practice's settings.
func (s *Server) apiSettingsOf(ctx context.Context, p *store.Practice) (*apiSettings, error) {
	st := p.Settings
	out := &apiSettings{ID: p.ID, Name: p.Name, TimeZone: p.TimeZone, SlotMinutes: st.SlotMinutes, HorizonDays: st.HorizonDays,
		MinNoticeMinutes: st.MinNoticeMinutes, BookingMode: st.BookingMode, ReasonMode: st.ReasonMode,
		PatientCanCancel: st.PatientCanCancel, CancelCutoffHours: st.CancelCutoffHours, MaxFuturePerPatient: st.MaxFuturePerPatient,
		Specialties: st.Specialties, Diplomas: st.Diplomas, PaymentMeans: st.PaymentMeans, Transport: st.Transport,
		Access: st.Access, Languages: st.Languages, VisitTypes: st.VisitTypes, ConventionSector: st.ConventionSector,
		Vitale: st.Vitale, Address: st.Address, PostalCode: st.PostalCode, City: st.City, Country: st.Country,
		SecretaryPhone: st.SecretaryPhone, Locations: []apiLocation{}, PlannedUntil: p.PlannedUntil}
	if st.PhotoDocumentID != "" {
		u := s.cfg.Server.BaseURL + "/practices/" + p.ID + "/photo?v=" + url.QueryEscape(st.PhotoDocumentID)
		out.PhotoURL = &u
	}
	locs, err := s.db.Locations(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, l := range locs {
		out.Locations = append(out.Locations, apiLocation{ID: l.ID, Name: l.Name, Kind: l.Kind, Address: l.Address, PostalCode: l.PostalCode, City: l.City})
	}
	return out, nil
}

// handleAPISettings answers GET /api/v1/practices/{id}/settings.
func (s *Server) handleAPISettings(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.FindPracticeByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	out, err := s.apiSettingsOf(r.Context(), p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// badField is a 400 naming the JSON property at fault.
func badField(field, msgID string) *Error {
	e := errorf(ECodeBadRequest, msgID, "Field", field)
	e.Field = field
	return e
}

// decodeSettingsPatch reads a PUT body: a JSON object of known keys.
func decodeSettingsPatch(body []byte) (*apiSettingsPatch, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil || keys == nil {
		return nil, errorf(ECodeBadRequest, "error.settings.json")
	}
	for k := range keys {
		if !settingsKeys[k] {
			return nil, badField(k, "error.settings.unknown_field")
		}
	}
	var patch apiSettingsPatch
	if err := json.Unmarshal(body, &patch); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, badField(te.Field, "error.settings.json_type")
		}
		return nil, errorf(ECodeBadRequest, "error.settings.json")
	}
	return &patch, nil
}

// handleAPISettingsPut answers PUT /api/v1/practices/{id}/settings: the
// fields present replace the stored ones; 400 for an unknown field or a
// wrong type, 422 with the first invalid field, else 200 with the settings.
func (s *Server) handleAPISettingsPut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, settingsBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.error(w, r, errorf(ECodeBadRequest, "error.settings.body_too_big"))
			return
		}
		s.error(w, r, errorf(ECodeBadRequest, "error.settings.json"))
		return
	}
	patch, err := decodeSettingsPatch(bytes.TrimSpace(body))
	if err != nil {
		s.error(w, r, err)
		return
	}
	next := settingsOf(p)
	patch.apply(&next)
	res, errs, err := s.applySettings(ctx, r, actorFrom(r).User.ID, p, next, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(errs) > 0 {
		s.error(w, r, errs[0])
		return
	}
	if p, err = s.db.FindPracticeByID(ctx, p.ID); err != nil {
		s.error(w, r, err)
		return
	}
	out, err := s.apiSettingsOf(ctx, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if ch := res.Change; ch != nil {
		out.Regenerated = &apiRegeneration{From: ch.From.String(), Removed: ch.Removed + res.Dropped, Added: ch.Added - res.Dropped,
			Conflicts: []apiSlotConflict{}}
		for _, a := range ch.Conflicts {
			out.Regenerated.Conflicts = append(out.Regenerated.Conflicts, apiSlotConflict{ID: a.ID, Start: a.Start.In(s.location(p.TimeZone)), End: a.End.In(s.location(p.TimeZone))})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
