package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"daraport/store"
)

// The practice's patients (seed 004 "Rechercher les rdv enregistrés d'un
// patient", bans, "Gestion des adresses mail des patients"): search, the
// patient card with staff notes (encrypted at rest), bans, and the
// allowlist of patient e-mails for practices in allowlist mode.

const (
	patientSearchMax = 200
	banReasonMax     = 200
	noteMax          = 5000
	// allowlistMax bounds the addresses one paste or import may carry.
	allowlistMax = 20000
	// allowlistCSVMax bounds an imported file.
	allowlistCSVMax = 2 << 20
	allowlistPage   = 200
	// badLinesShown bounds the bad lines a page lists (all are counted).
	badLinesShown = 100
)

type patientsPage struct {
	*Page
	Practice *store.Practice
	Query    string
	Patients []*store.PracticePatient
	More     bool
}

func (s *Server) handlePatients(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if utf8.RuneCountInString(q) > 100 || !utf8.ValidString(q) {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_query", "q"))
		return
	}
	list, err := s.searchPatients(r.Context(), p.ID, q, patientSearchMax+1)
	if err != nil {
		s.error(w, r, err)
		return
	}
	pp := &patientsPage{Page: s.newPage(w, r, "ws.patients_title"), Practice: p, Query: q, Patients: list}
	if len(list) > patientSearchMax {
		pp.Patients, pp.More = list[:patientSearchMax], true
	}
	s.render(w, r, http.StatusOK, "workspace_patients", pp)
}

// searchPatients finds the practice's patients whose name contains q
// without regard to accents, case, spaces or hyphens ("noe" finds "Noé",
// "jean pierre" finds "Jean-Pierre"), or whose e-mail contains it; all of
// them when q is empty; at most limit, by name.
func (s *Server) searchPatients(ctx context.Context, practiceID, q string, limit int) ([]*store.PracticePatient, error) {
	if q == "" {
		return s.db.FindPracticePatients(ctx, practiceID, "", limit)
	}
	names, err := s.db.PracticePatientNames(ctx, practiceID)
	if err != nil {
		return nil, err
	}
	fq, lq := foldText(q), strings.ToLower(q)
	var ids []string
	for _, n := range names {
		if (fq != "" && strings.Contains(foldText(n.Name), fq)) || strings.Contains(strings.ToLower(n.Email), lq) {
			ids = append(ids, n.ID)
			if len(ids) == limit {
				break
			}
		}
	}
	return s.db.FindPracticePatientsByID(ctx, practiceID, ids)
}

type patientCardPage struct {
	*Page
	wsCtx
	Practice *store.Practice
	Patient  *store.User
	Upcoming []wsRow
	Recent   []wsRow
	NoShows  []wsRow
	Unpaid   []wsRow
	Bans     []*store.Ban
	Notes    []*store.StaffNote
	Self     string
	Note     string
	Reason   string
}

// deskPatient loads the patient {patient} of the practice {id}: someone who
// never booked with it (nor was banned by it) is not its patient, and the
// attempt answers 404 and is audited.
func (s *Server) deskPatient(r *http.Request) (*store.User, *store.Practice, error) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.db.FindUserByID(ctx, r.PathValue("patient"))
	if err != nil {
		return nil, nil, err
	}
	ok, err := s.db.IsPracticePatient(ctx, p.ID, u.ID)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		s.auditDenied(r, "user", u.ID)
		return nil, nil, store.ErrNotFound
	}
	return u, p, nil
}

func (s *Server) patientCard(w http.ResponseWriter, r *http.Request, u *store.User, p *store.Practice) (*patientCardPage, error) {
	ctx := r.Context()
	loc := s.location(p.TimeZone)
	now := s.clock()
	today := s.today(p, now)
	pg := s.newPage(w, r, "ws.patient_title")
	pg.Loc = loc
	cp := &patientCardPage{Page: pg, Practice: p, Patient: u, Self: "/pro/p/" + url.PathEscape(p.ID) + "/patients/" + url.PathEscape(u.ID)}
	cp.wsCtx = newWSCtx(pg, p, cp.Self)
	all, err := s.db.FindPlanningEntries(ctx, store.PlanningFilter{PracticeID: p.ID, PatientID: u.ID})
	if err != nil {
		return nil, err
	}
	monthAgo := now.AddDate(0, 0, -30)
	for _, e := range all {
		row := s.wsApptRow(pg, e, now, today, loc)
		if e.State == store.AppointmentNoShow {
			cp.NoShows = append([]wsRow{row}, cp.NoShows...)
		}
		if e.Teleconsultation && e.PaymentState == "unpaid" && e.State != store.AppointmentCancelled && e.Start.Before(now) {
			cp.Unpaid = append([]wsRow{row}, cp.Unpaid...)
		}
		switch {
		case e.State == store.AppointmentBooked && e.Start.After(now):
			cp.Upcoming = append(cp.Upcoming, row)
		case e.Start.After(monthAgo) && !e.Start.After(now):
			if e.State == store.AppointmentCancelled {
				row.Labels = append(row.Labels, pg.T("ws.state.cancelled"))
				row.CanCancel, row.CanMove, row.CanNoShow, row.CanPaid, row.CanUnpaid = false, false, false, false, false
			}
			cp.Recent = append([]wsRow{row}, cp.Recent...)
		}
	}
	if cp.Bans, err = s.db.FindBans(ctx, p.ID, u.ID); err != nil {
		return nil, err
	}
	if cp.Notes, err = s.db.FindStaffNotes(ctx, p.ID, u.ID); err != nil {
		return nil, err
	}
	return cp, nil
}

func (s *Server) handlePatientCard(w http.ResponseWriter, r *http.Request) {
	u, p, err := s.deskPatient(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	cp, err := s.patientCard(w, r, u, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_patient", cp)
}

func (s *Server) handlePatientNote(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, p, err := s.deskPatient(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	body, msg := cleanLongText(r.PostFormValue("note"), noteMax)
	if msg == "" && body == "" {
		msg = "error.ws_note_required"
	}
	if msg != "" {
		cp, err := s.patientCard(w, r, u, p)
		if err != nil {
			s.error(w, r, err)
			return
		}
		cp.Note = body
		cp.fail("note", msg)
		s.render(w, r, http.StatusUnprocessableEntity, "workspace_patient", cp)
		return
	}
	a := actorFrom(r)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		n := &store.StaffNote{PracticeID: p.ID, PatientID: u.ID, Body: body, AuthorID: a.User.ID}
		if err := tx.AddStaffNote(ctx, n); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "patient.note_added", "user", u.ID, "practice="+p.ID+" note="+n.ID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_note_added")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/patients/"+url.PathEscape(u.ID), http.StatusSeeOther)
}

// banPatient bans a patient of the practice with a reason (1–200
// characters): online booking with the practice is refused from then on.
func (s *Server) banPatient(ctx context.Context, r *http.Request, p *store.Practice, a *Actor, patientID, reason string) error {
	reason, msg := cleanBlockReason(reason)
	if msg == "" && reason == "" {
		msg = "error.ws_ban_reason"
	}
	if msg != "" {
		if msg == "error.block_reason_long" {
			msg = "error.ws_ban_reason_long"
		}
		return fieldErr(ECodeInvalid, msg, "reason")
	}
	return s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Ban(ctx, p.ID, patientID, reason, a.User.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "patient.banned", "user", patientID, "practice="+p.ID)
	})
}

func (s *Server) unbanPatient(ctx context.Context, r *http.Request, p *store.Practice, a *Actor, patientID string) error {
	return s.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.Unban(ctx, p.ID, patientID); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "patient.unbanned", "user", patientID, "practice="+p.ID)
	})
}

func (s *Server) handlePatientBan(w http.ResponseWriter, r *http.Request) {
	u, p, err := s.deskPatient(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.banPatient(r.Context(), r, p, actorFrom(r), u.ID, r.PostFormValue("reason")); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Field == "reason" {
			cp, err2 := s.patientCard(w, r, u, p)
			if err2 != nil {
				s.error(w, r, err2)
				return
			}
			cp.Reason = r.PostFormValue("reason")
			cp.fail("reason", e.Message)
			s.render(w, r, http.StatusUnprocessableEntity, "workspace_patient", cp)
			return
		}
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_banned")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/patients/"+url.PathEscape(u.ID), http.StatusSeeOther)
}

func (s *Server) handlePatientUnban(w http.ResponseWriter, r *http.Request) {
	u, p, err := s.deskPatient(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// Lifting a ban that is not there (lifted meanwhile by someone else)
	// leaves what was asked: not an error.
	if err := s.unbanPatient(r.Context(), r, p, actorFrom(r), u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_unbanned")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/patients/"+url.PathEscape(u.ID), http.StatusSeeOther)
}

// ---- Allowlist ----

// badLine is an entry of a paste or import that is not an e-mail address.
type badLine struct {
	Line  int
	Value string
}

// emailList is the outcome of reading pasted addresses or a CSV file.
type emailList struct {
	Good     []string
	Bad      []badLine
	TooMany  bool
	Lines    int
	BadCount int
}

func (l *emailList) bad(line int, v string) {
	l.BadCount++
	if len(l.Bad) < badLinesShown {
		if utf8.RuneCountInString(v) > 80 {
			v = string([]rune(v)[:80]) + "…"
		}
		l.Bad = append(l.Bad, badLine{Line: line, Value: v})
	}
}

func (l *emailList) good(v string, seen map[string]bool) {
	k := strings.ToLower(v)
	if seen[k] {
		return
	}
	if len(l.Good) >= allowlistMax {
		l.TooMany = true
		return
	}
	seen[k] = true
	l.Good = append(l.Good, v)
}

// parsePastedEmails reads addresses pasted one or more per line (separated
// by commas, semicolons or spaces); each bad entry is reported with its line
// number; duplicates count once.
func parsePastedEmails(text string) *emailList {
	out := &emailList{}
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		out.Lines = i + 1
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\r' }) {
			if e, msg := cleanEmail(strings.Trim(f, "<>\"'")); msg == "" {
				out.good(e, seen)
			} else {
				out.bad(i+1, f)
			}
		}
	}
	return out
}

// parseEmailCSV reads a CSV file (comma or semicolon separated) with one
// patient per line. A first line without "@" is a header: its column named
// like "email" ("e-mail", "mail", "courriel") holds the addresses; without
// one, the first field holding an "@" is the address. Each line is read on
// its own, so a malformed line (a stray quote) is reported with its number
// and cannot swallow the lines after it; the good lines are kept.
func parseEmailCSV(data []byte) *emailList {
	out := &emailList{}
	seen := map[string]bool{}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	sep := ','
	if len(lines) > 0 && strings.Count(lines[0], ";") > strings.Count(lines[0], ",") {
		sep = ';'
	}
	col := -1
	for i, line := range lines {
		n := i + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		out.Lines = n
		cr := csv.NewReader(strings.NewReader(line))
		cr.Comma, cr.FieldsPerRecord = sep, -1
		rec, err := cr.Read()
		if err != nil {
			out.bad(n, line)
			continue
		}
		if n == 1 && !strings.Contains(line, "@") {
			for j, f := range rec {
				h := strings.ToLower(strings.TrimSpace(f))
				if strings.Contains(h, "mail") || h == "courriel" || h == "correo" {
					col = j
					break
				}
			}
			continue
		}
		addr := ""
		if col >= 0 && col < len(rec) {
			addr = strings.TrimSpace(rec[col])
		} else {
			for _, f := range rec {
				if strings.Contains(f, "@") {
					addr = strings.TrimSpace(f)
					break
				}
			}
		}
		if addr == "" {
			if strings.TrimSpace(strings.Join(rec, "")) != "" {
				out.bad(n, line)
			}
			continue
		}
		if e, msg := cleanEmail(addr); msg == "" {
			out.good(e, seen)
		} else {
			out.bad(n, addr)
		}
	}
	return out
}

type allowlistPageData struct {
	*Page
	Practice *store.Practice
	Query    string
	Entries  []store.AllowEntry
	Total    int
	Offset   int
	Next     int
	Prev     int
	Paste    string
	Result   *emailList
	Added    int
	Removed  int
	Mode     string
	OwnEmail string
}

func (s *Server) allowlistPage(w http.ResponseWriter, r *http.Request, p *store.Practice) (*allowlistPageData, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 254 {
		q = q[:254]
	}
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	if off < 0 {
		off = 0
	}
	list, total, err := s.db.FindAllowlist(r.Context(), p.ID, q, allowlistPage, off)
	if err != nil {
		return nil, err
	}
	ap := &allowlistPageData{Page: s.newPage(w, r, "ws.allowlist_title"), Practice: p, Query: q, Entries: list, Total: total,
		Offset: off, Next: -1, Prev: -1, Mode: p.BookingMode, OwnEmail: actorFrom(r).User.Email}
	if off+allowlistPage < total {
		ap.Next = off + allowlistPage
	}
	if off > 0 {
		ap.Prev = max(0, off-allowlistPage)
	}
	return ap, nil
}

func (s *Server) handleAllowlist(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	ap, err := s.allowlistPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "workspace_allowlist", ap)
}

// addToAllowlist stores the good addresses of l in one transaction, with one
// audit entry, and returns how many were new.
func (s *Server) addToAllowlist(ctx context.Context, r *http.Request, p *store.Practice, a *Actor, l *emailList, how string) (int, error) {
	added := 0
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		n, err := tx.AddToAllowlist(ctx, p.ID, a.User.ID, l.Good...)
		if err != nil {
			return err
		}
		added = n
		return s.audit(ctx, tx, r, a.User.ID, "allowlist.added", "practice", p.ID,
			how+" given="+strconv.Itoa(len(l.Good))+" new="+strconv.Itoa(n)+" bad="+strconv.Itoa(l.BadCount))
	})
	return added, err
}

// allowlistOutcome renders the allowlist page with what an addition did:
// 200 when every entry was good, 422 when some were refused (the good ones
// are stored all the same).
func (s *Server) allowlistOutcome(w http.ResponseWriter, r *http.Request, p *store.Practice, l *emailList, added int, paste string) {
	ap, err := s.allowlistPage(w, r, p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	ap.Result, ap.Added = l, added
	status := http.StatusOK
	if l.BadCount > 0 || l.TooMany {
		status = http.StatusUnprocessableEntity
		ap.Paste = paste
	}
	if len(l.Good) == 0 && l.BadCount == 0 {
		ap.fail("emails", "error.ws_no_email")
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "workspace_allowlist", ap)
}

func (s *Server) handleAllowlistAdd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a := actorFrom(r)
	text := r.PostFormValue("emails")
	how := "paste"
	if r.PostFormValue("self") == "1" {
		// Seed 004: the secretary's own address, so she can book the
		// "fictitious" appointment that makes her appear in the patient list.
		text, how = a.User.Email, "self"
	}
	l := parsePastedEmails(text)
	added := 0
	if len(l.Good) > 0 {
		if added, err = s.addToAllowlist(ctx, r, p, a, l, how); err != nil {
			s.error(w, r, err)
			return
		}
	}
	if how == "self" || (l.BadCount == 0 && !l.TooMany && len(l.Good) > 0) {
		setFlash(w, "flash.ws_allowlist_added")
		http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/allowlist", http.StatusSeeOther)
		return
	}
	s.allowlistOutcome(w, r, p, l, added, text)
}

func (s *Server) handleAllowlistImport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, allowlistCSVMax+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.error(w, r, fieldErr(ECodeInvalid, "error.ws_csv_too_big", "file"))
			return
		}
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	defer r.MultipartForm.RemoveAll()
	f, _, err := r.FormFile("file")
	if err != nil {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_csv_required", "file"))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, allowlistCSVMax+1))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(data) > allowlistCSVMax {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_csv_too_big", "file"))
		return
	}
	if !utf8.Valid(data) {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_csv_encoding", "file"))
		return
	}
	l := parseEmailCSV(data)
	added := 0
	if len(l.Good) > 0 {
		if added, err = s.addToAllowlist(ctx, r, p, actorFrom(r), l, "csv"); err != nil {
			s.error(w, r, err)
			return
		}
	}
	s.allowlistOutcome(w, r, p, l, added, "")
}

func (s *Server) removeFromAllowlist(ctx context.Context, r *http.Request, p *store.Practice, a *Actor, emails []string) (int, error) {
	n := 0
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = tx.RemoveFromAllowlist(ctx, p.ID, emails...); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "allowlist.removed", "practice", p.ID, "given="+strconv.Itoa(len(emails))+" removed="+strconv.Itoa(n))
	})
	return n, err
}

func (s *Server) handleAllowlistRemove(w http.ResponseWriter, r *http.Request) {
	p, err := s.deskPractice(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	emails := r.PostForm["email"]
	if len(emails) == 0 || len(emails) > allowlistMax {
		s.error(w, r, fieldErr(ECodeInvalid, "error.ws_no_email", "email"))
		return
	}
	if _, err := s.removeFromAllowlist(r.Context(), r, p, actorFrom(r), emails); err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.ws_allowlist_removed")
	http.Redirect(w, r, "/pro/p/"+url.PathEscape(p.ID)+"/allowlist", http.StatusSeeOther)
}
