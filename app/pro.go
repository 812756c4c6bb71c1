package app

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"daraport/store"
)

// maxProofBytes limits the proof of profession a practitioner uploads.
const maxProofBytes = 5 << 20

type applyPage struct {
	*Page
	PracticeName  string
	Profession    string
	RPPS          string
	Verifications []*store.Verification
}

// Pending tells whether the person already waits for a decision.
func (p *applyPage) Pending() bool {
	for _, v := range p.Verifications {
		if v.State == store.VerificationPending {
			return true
		}
	}
	return false
}

// handleProApply explains how practitioners join and, for a signed-in
// person, takes their request with a proof of profession.
func (s *Server) handleProApply(w http.ResponseWriter, r *http.Request) {
	p := &applyPage{Page: s.newPage(w, r, "apply.title")}
	if a := actorFrom(r); a != nil {
		list, err := s.db.FindVerifications(r.Context(), "", a.User.ID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Verifications, p.PracticeName = list, a.User.Name
	}
	s.render(w, r, http.StatusOK, "apply", p)
}

var rppsRe = regexp.MustCompile(`^[0-9]{11}$`)

// sniffProof returns the content type of an accepted proof (PDF, JPEG, PNG),
// judged by its bytes, never by its name or the browser's claim.
func sniffProof(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	}
	return ""
}

func (s *Server) handleProApplySubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	p := &applyPage{Page: s.newPage(w, r, "apply.title")}
	r.Body = http.MaxBytesReader(w, r.Body, maxProofBytes+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p.fail("proof", "error.proof_too_big")
			s.render(w, r, http.StatusRequestEntityTooLarge, "apply", p)
			return
		}
		s.error(w, r, errorf(ECodeBadRequest, "error.bad_form"))
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	var msg string
	if p.PracticeName, msg = cleanName(r.PostFormValue("practice_name")); msg != "" {
		p.fail("practice_name", msg)
	}
	p.Profession = strings.TrimSpace(r.PostFormValue("profession"))
	if p.Profession == "" || utf8.RuneCountInString(p.Profession) > 100 {
		p.fail("profession", "error.profession")
	}
	p.RPPS = strings.TrimSpace(r.PostFormValue("rpps"))
	if p.RPPS != "" && !rppsRe.MatchString(p.RPPS) {
		p.fail("rpps", "error.rpps")
	}
	var content []byte
	var filename, ctype string
	f, hdr, err := r.FormFile("proof")
	if err != nil {
		p.fail("proof", "error.proof_required")
	} else {
		defer f.Close()
		content, err = io.ReadAll(io.LimitReader(f, maxProofBytes+1))
		switch {
		case err != nil:
			s.error(w, r, err)
			return
		case len(content) > maxProofBytes:
			p.fail("proof", "error.proof_too_big")
		case len(content) == 0:
			p.fail("proof", "error.proof_required")
		default:
			if ctype = sniffProof(content); ctype == "" {
				p.fail("proof", "error.proof_type")
			}
		}
		filename = cleanFilename(hdr.Filename)
	}
	list, err := s.db.FindVerifications(ctx, store.VerificationPending, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(list) > 0 {
		p.Error = p.T("error.apply_pending")
	}
	if p.failed() {
		s.render(w, r, http.StatusUnprocessableEntity, "apply", p)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		pr := &store.Practice{Name: p.PracticeName, TimeZone: s.cfg.Server.TimeZone, Status: store.PracticePending}
		if err := tx.CreatePractice(ctx, pr); err != nil {
			return err
		}
		doc := &store.Document{OwnerID: a.User.ID, Purpose: "proof", Filename: filename, ContentType: ctype}
		if err := tx.CreateDocument(ctx, doc, content); err != nil {
			return err
		}
		v := &store.Verification{UserID: a.User.ID, PracticeID: pr.ID, DocumentID: doc.ID, Profession: p.Profession, RPPS: p.RPPS}
		if err := tx.CreateVerification(ctx, v); err != nil {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "verification.requested", "verification", v.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.apply_sent")
	http.Redirect(w, r, "/pro/apply", http.StatusSeeOther)
}

// cleanFilename keeps a safe base name for display and download.
func cleanFilename(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	var b strings.Builder
	for _, r := range name {
		if r == '"' || r == '/' || r < 0x20 || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	out := truncate(b.String(), 120)
	if out == "" || out == "." {
		return "document"
	}
	return out
}

// handleDocument serves a stored document to its owner or an admin, as an
// attachment so a browser never renders it in the site's origin.
func (s *Server) handleDocument(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d, content, err := s.db.FindDocument(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if !s.authorize(w, r, PermDocument, Target{UserID: d.OwnerID}) {
		return
	}
	a := actorFrom(r)
	if a.User.ID != d.OwnerID {
		_ = s.db.Update(ctx, func(tx *store.Tx) error {
			return s.audit(ctx, tx, r, a.User.ID, "document.viewed", "document", d.ID, "")
		})
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Filename}))
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	_, _ = w.Write(content)
}
