package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // registers PNG for image.Decode
	"io"
	"net/http"
	"strings"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP for image.Decode

	"daraport/store"
)

// The practitioner's identity photo: JPEG, PNG or WebP judged by content,
// size and pixel count checked before anything is decoded, then decoded,
// turned upright, resized to fit 400×400 and re-encoded as JPEG, which
// drops every metadata block (EXIF with GPS position, XMP, comments).

const (
	maxPhotoBytes  = 10 << 20   // upload size
	maxPhotoPixels = 40_000_000 // decoded size: a small file can claim a huge image
	photoBox       = 400        // the stored photo fits a photoBox square
	photoQuality   = 85
)

// photoFormats are the accepted formats, as image.DecodeConfig names them.
var photoFormats = map[string]bool{"jpeg": true, "png": true, "webp": true}

// photoError is why a photo is refused: a catalogue id and its arguments.
type photoError struct {
	msgID string
	args  []any
}

// processPhoto checks an uploaded image and returns it re-encoded: upright,
// at most photoBox pixels a side, JPEG, without metadata.
func processPhoto(b []byte) ([]byte, *photoError) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || !photoFormats[format] {
		if looksLikeSVG(b) {
			return nil, &photoError{msgID: "error.photo.svg"}
		}
		return nil, &photoError{msgID: "error.photo.type"}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPhotoPixels {
		return nil, &photoError{msgID: "error.photo.pixels", args: []any{"Max", maxPhotoPixels / 1_000_000}}
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, &photoError{msgID: "error.photo.damaged"}
	}
	sb := src.Bounds()
	w, h := fitBox(sb.Dx(), sb.Dy(), photoBox)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// JPEG has no transparency: transparent parts become white.
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, draw.Over, nil)
	if format == "jpeg" {
		dst = orient(dst, jpegOrientation(b))
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: photoQuality}); err != nil {
		return nil, &photoError{msgID: "error.photo.damaged"}
	}
	return out.Bytes(), nil
}

// fitBox scales w×h to fit a box×box square, keeping the aspect ratio and
// never enlarging.
func fitBox(w, h, box int) (int, int) {
	if w <= box && h <= box {
		return w, h
	}
	if w >= h {
		return box, max(1, (h*box+w/2)/w)
	}
	return max(1, (w*box+h/2)/h), box
}

// looksLikeSVG tells whether b starts like an SVG drawing (to say why it is
// refused: it can carry script).
func looksLikeSVG(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 1024)]))
	return strings.Contains(head, "<svg") || (strings.HasPrefix(strings.TrimSpace(head), "<?xml") && strings.Contains(head, "svg"))
}

// jpegOrientation reads the EXIF orientation (1–8) of a JPEG, 1 when it
// has none: phones store pictures sideways and say so there, and the
// re-encoding drops that note, so the pixels must be turned first.
func jpegOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // image data: no metadata after
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation reads tag 0x0112 of IFD0 of a TIFF structure.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for k := 0; k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// orient turns an image as EXIF orientation o says it must be shown.
func orient(src *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return src
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.SetRGBA(dx, dy, src.RGBAAt(src.Bounds().Min.X+x, src.Bounds().Min.Y+y))
		}
	}
	return dst
}

// readPhotoPart reads the "photo" part of a multipart upload, never more
// than maxPhotoBytes+1 bytes of it, and stops reading the request there.
func readPhotoPart(r *http.Request) ([]byte, *photoError) {
	tooBig := &photoError{msgID: "error.photo.too_big", args: []any{"Max", maxPhotoBytes >> 20}}
	if r.ContentLength > maxPhotoBytes+64<<10 {
		return nil, tooBig // known at once: read nothing
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &photoError{msgID: "error.photo.required"}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, &photoError{msgID: "error.photo.required"}
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooBig
		}
		if err != nil {
			return nil, &photoError{msgID: "error.photo.required"}
		}
		if part.FormName() != "photo" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, maxPhotoBytes+1))
		if errors.As(err, &mbe) || len(data) > maxPhotoBytes {
			return nil, tooBig
		}
		if err != nil || len(data) == 0 {
			return nil, &photoError{msgID: "error.photo.required"}
		}
		return data, nil
	}
}

// handlePhotoUpload takes a new identity photo for the practice.
func (s *Server) handlePhotoUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.newSettingsPage(w, r, "settings.edit_title")
	if err != nil {
		s.error(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBytes+64<<10)
	data, perr := readPhotoPart(r)
	var photo []byte
	if perr == nil {
		photo, perr = processPhoto(data)
	}
	if perr != nil {
		status := http.StatusUnprocessableEntity
		if perr.msgID == "error.photo.too_big" {
			status = http.StatusRequestEntityTooLarge
		}
		p.fail("photo", perr.msgID, perr.args...)
		p.Error = p.T(perr.msgID, perr.args...)
		p.fillChoices()
		s.render(w, r, status, "settings_edit", p)
		return
	}
	a := actorFrom(r)
	owner, err := s.practitionerOf(ctx, p.Practice.ID, a.User.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.FindPracticeByID(ctx, p.Practice.ID)
		if err != nil {
			return err
		}
		doc := &store.Document{OwnerID: owner, Purpose: "photo", Filename: "photo.jpg", ContentType: "image/jpeg"}
		if err := tx.CreateDocument(ctx, doc, photo); err != nil {
			return err
		}
		st := cur.Settings
		old := st.PhotoDocumentID
		st.PhotoDocumentID = doc.ID
		if err := tx.UpdateSettings(ctx, cur.ID, st); err != nil {
			return err
		}
		if old != "" {
			if err := tx.DeleteDocument(ctx, old); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return s.audit(ctx, tx, r, a.User.ID, "practice.photo_set", "practice", cur.ID, "document="+doc.ID)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.photo_saved")
	http.Redirect(w, r, p.Base+"/settings/edit#photo", http.StatusSeeOther)
}

// practitionerOf returns the user id of the practice's practitioner (the
// photo is theirs), or fallback when it has none.
func (s *Server) practitionerOf(ctx context.Context, practiceID, fallback string) (string, error) {
	ms, err := s.db.PracticeMembers(ctx, practiceID)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.Role == store.RolePractitioner {
			return m.UserID, nil
		}
	}
	return fallback, nil
}

// handlePhotoDelete removes the practice's photo (nothing to do when it has
// none: a second click lands on the same page).
func (s *Server) handlePhotoDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	a := actorFrom(r)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.FindPracticeByID(ctx, id)
		if err != nil {
			return err
		}
		st := cur.Settings
		old := st.PhotoDocumentID
		if old == "" {
			return nil
		}
		st.PhotoDocumentID = ""
		if err := tx.UpdateSettings(ctx, cur.ID, st); err != nil {
			return err
		}
		if err := tx.DeleteDocument(ctx, old); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return s.audit(ctx, tx, r, a.User.ID, "practice.photo_removed", "practice", cur.ID, "document="+old)
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.photo_removed")
	http.Redirect(w, r, "/pro/p/"+id+"/settings/edit#photo", http.StatusSeeOther)
}

// handlePhoto serves a practice's photo: to anyone once the practice is
// verified (cacheable, the URL changes with the photo), else only to those
// who manage it; 404 when there is none.
func (s *Server) handlePhoto(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.db.FindPracticeByID(ctx, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	public := p.Status == store.PracticeVerified
	if p.PhotoDocumentID == "" || (!public && !Allow(actorFrom(r), PermPracticeAdmin, Target{PracticeID: p.ID})) {
		s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
		return
	}
	d, content, err := s.db.FindDocument(ctx, p.PhotoDocumentID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if d.Purpose != "photo" || d.ContentType != "image/jpeg" {
		s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
		return
	}
	h := w.Header()
	etag := `"` + d.ID + `"`
	h.Set("ETag", etag)
	if public {
		h.Set("Cache-Control", "public, max-age=3600")
	} else {
		h.Set("Cache-Control", "private, no-store")
	}
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "image/jpeg")
	_, _ = w.Write(content)
}

// etagMatch tells whether an If-None-Match header names etag (or "*").
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
