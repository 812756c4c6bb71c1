package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"daraport/store"
)

// settingsMatrix are the route × role rows of this capability.
func settingsMatrix() []matrixRow {
	//                                              anon  patient  patient2 proA    proB     secA     org      affiliate admin
	const page = "login notfound notfound ok notfound notfound notfound notfound ok"
	const refused = "login notfound notfound invalid notfound notfound notfound notfound invalid"
	return []matrixRow{
		{route: "GET /pro/p/{id}/settings", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/settings", want: page, check: checkSettingsView},
		{route: "GET /pro/p/{id}/settings/edit", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/settings/edit", want: page},
		// A form that does not validate: the owner gets its messages (422),
		// nothing is written, others learn nothing.
		{route: "POST /pro/p/{id}/settings", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/settings",
			form: url.Values{"name": {"Matrix"}, "slot_minutes": {"7"}}, want: refused, check: checkSettingsRefused},
		// Renames the fixture's location (the same for everyone: safe to repeat).
		{route: "POST /pro/p/{id}/locations", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/locations",
			form: url.Values{"loc_id": {"{locationA}"}, "loc_name": {"Hôpital Pasteur"}, "loc_kind": {"hospital"}}, want: page},
		// Deleting a place already gone answers as if it had just gone.
		{route: "POST /pro/p/{id}/locations/{loc}/delete", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/locations/{throwawayLocation}/delete", want: page},
		// Not multipart: asked to choose a photo.
		{route: "POST /pro/p/{id}/photo", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/photo", want: refused},
		// Practice A is verified and has a photo: anyone may see it.
		{route: "GET /practices/{id}/photo", perm: PermPublic, path: "/practices/{practiceA}/photo",
			want: "ok ok ok ok ok ok ok ok ok", check: checkPhotoServed},
		{route: "GET /api/v1/practices/{id}/settings", perm: PermPracticeAdmin, path: "/api/v1/practices/{practiceA}/settings", want: page,
			check: checkAPISettings},
		// No body: 400.
		{route: "PUT /api/v1/practices/{id}/settings", perm: PermPracticeAdmin, path: "/api/v1/practices/{practiceA}/settings", want: refused},
		// Last of these rows (they need the photo): removes practice A's photo.
		{route: "POST /pro/p/{id}/photo/delete", perm: PermPracticeAdmin, path: "/pro/p/{practiceA}/photo/delete", want: page},
	}
}

// settingsFixture adds the objects those rows need to f.ids: a location of
// practice A, another to delete, and a photo of practice A.
func settingsFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	ts := f.ts
	pa := f.users["proA"].PracticeID
	photo, perr := processPhoto(settingsPNG(t, 40, 30))
	if perr != nil {
		t.Fatal(perr.msgID)
	}
	err := ts.db.Update(ctx, func(tx *store.Tx) error {
		l := &store.Location{PracticeID: pa, Name: "Hôpital", Kind: "hospital"}
		if err := tx.SaveLocation(ctx, l); err != nil {
			return err
		}
		f.ids["locationA"] = l.ID
		gone := &store.Location{PracticeID: pa, Name: "Ancienne clinique", Kind: "clinic"}
		if err := tx.SaveLocation(ctx, gone); err != nil {
			return err
		}
		f.ids["throwawayLocation"] = gone.ID
		doc := &store.Document{OwnerID: f.users["proA"].ID, Purpose: "photo", Filename: "photo.jpg", ContentType: "image/jpeg"}
		if err := tx.CreateDocument(ctx, doc, photo); err != nil {
			return err
		}
		p, err := tx.FindPracticeByID(ctx, pa)
		if err != nil {
			return err
		}
		st := p.Settings
		st.PhotoDocumentID = doc.ID
		return tx.UpdateSettings(ctx, pa, st)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkSettingsView(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != http.StatusOK {
		return
	}
	if strings.Contains(mainOf(res.Body), "<form") {
		t.Errorf("the read-only settings view as %s holds a form", persona)
	}
	if !strings.Contains(res.Body, `href="/pro/p/`+f.ids["practiceA"]+`/settings/edit"`) {
		t.Errorf("the settings view as %s has no Edit link", persona)
	}
}

func checkSettingsRefused(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != http.StatusUnprocessableEntity {
		return
	}
	if !pageHas(res.Body, f.ts.text(t, "en", "error.settings.slot_minutes")) {
		t.Errorf("refused settings as %s: no slot length message", persona)
	}
}

func checkPhotoServed(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.Header.Get("Content-Type") != "image/jpeg" || !strings.HasPrefix(res.Body, "\xff\xd8") {
		t.Errorf("photo as %s: %s, not a JPEG", persona, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Cache-Control") != "public, max-age=3600" || res.Header.Get("ETag") == "" {
		t.Errorf("photo as %s: Cache-Control %q, ETag %q", persona, res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
	}
}

func checkAPISettings(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != http.StatusOK {
		return
	}
	for _, key := range []string{`"time_zone":"Europe/Paris"`, `"slot_minutes":`, `"horizon_days":`, `"booking_mode":`, `"photo_url":"http`} {
		if !strings.Contains(res.Body, key) {
			t.Errorf("API settings as %s lack %s: %s", persona, key, res.Body)
		}
	}
}
