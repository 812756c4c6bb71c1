package app

import (
	"strings"
	"testing"

	"daraport/store"
)

// directoryMatrix are the route × role rows of the directory: the
// practitioner page is public. (The home page and GET /api/v1/practitioners
// have their rows in routes_test.go.)
func directoryMatrix() []matrixRow {
	return []matrixRow{
		//                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /p/{id}", perm: PermPublic, path: "/p/{directoryPractice}", want: "ok ok ok ok ok ok ok ok ok", check: checkPractitionerPage},
	}
}

// directoryFixture adds a verified practice of its own (no account: the
// directory needs none) with a type and a generated planning, and a pending
// practice the page must not show.
func directoryFixture(t *testing.T, f *matrixFixture) {
	ts := f.ts
	p := dirAddPractice(t, ts, dirPracticeSpec{Name: "Matrix Directory Practice", Specialties: []string{"Matrix specialty"},
		City: "Matrixville", Types: []dirTypeSpec{{Name: "Matrix visit", Minutes: 15, Price: 2500}}, Planning: true})
	f.ids["directoryPractice"] = p.ID
	pending := dirAddPractice(t, ts, dirPracticeSpec{Name: "Matrix Pending Practice", Status: store.PracticePending})
	f.ids["directoryPending"] = pending.ID
}

// checkPractitionerPage: whoever asks sees the practice and links to book
// it; a pending practice is 404 for everyone, admin included.
func checkPractitionerPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if !pageHas(res.Body, "Matrix Directory Practice") || !strings.Contains(res.Body, `href="/p/`+f.ids["directoryPractice"]+`/book?type=`) {
		t.Errorf("practitioner page as %s: no name or no booking link", persona)
	}
	c := f.ts.client(t)
	if persona != "anon" {
		c = f.clients[persona]
	}
	if got := f.ts.get(t, c, "/p/"+f.ids["directoryPending"]); got.StatusCode != 404 {
		t.Errorf("pending practice page as %s: status %d, want 404", persona, got.StatusCode)
	}
}
