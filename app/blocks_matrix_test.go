package app

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"daraport/app/schedule"
	"daraport/store"
)

// blocksMatrix are the route × role rows of this capability. Blocks are the
// practice desk's business: its practitioner, its secretary and the admin;
// anyone else gets 404 (the practice's existence is not revealed).
func blocksMatrix() []matrixRow {
	const desk = "login notfound notfound ok notfound ok notfound notfound ok"
	const deskInvalid = "login notfound notfound invalid notfound invalid notfound notfound invalid"
	const nobody = "login notfound notfound notfound notfound notfound notfound notfound notfound"
	paris, _ := time.LoadLocation("Europe/Paris")
	today := schedule.DayOf(time.Now().In(paris))
	day := today.AddDays(30).String()
	holidayDay := ""
	for _, h := range holidaysFor("FR", today.AddDays(1), holidayYearAfter(today)) {
		holidayDay = h.Day.String()
		break
	}
	return []matrixRow{
		{route: "GET /pro/p/{id}/absences", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/absences", want: desk, check: checkAbsencesPage},
		{route: "POST /pro/p/{id}/absences", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/absences",
			form: url.Values{"mode": {"day"}, "day_date": {day}, "reason": {"Matrix day"}}, want: desk},
		// The practice's own block: one of the desk personas removes it,
		// the others are told it is gone already.
		{route: "POST /pro/p/{id}/absences/{block}/delete", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/absences/{blockA}/delete", want: desk},
		{route: "POST /pro/p/{id}/holidays", perm: PermPracticeDesk, path: "/pro/p/{practiceA}/holidays", form: url.Values{"days": {holidayDay}}, want: desk},
		{route: "GET /api/v1/practices/{id}/blocks", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/blocks", want: desk, check: checkAPIBlocks},
		// A form body is not JSON: the desk gets 400, the others 404 first.
		{route: "POST /api/v1/practices/{id}/blocks", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/blocks",
			form: url.Values{"from": {"x"}}, want: deskInvalid},
		// Practice B's block through practice A: 404 for everyone, and it stays.
		{route: "DELETE /api/v1/practices/{id}/blocks/{block}", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/blocks/{blockB}",
			want: nobody, check: checkBlockBKept},
		{route: "GET /api/v1/practices/{id}/holidays", perm: PermPracticeDesk, path: "/api/v1/practices/{practiceA}/holidays?year=2027", want: desk,
			check: checkAPIHolidays},
	}
}

// blocksFixture adds a block to each of practices A and B (blockA, blockB).
func blocksFixture(t *testing.T, f *matrixFixture) {
	ctx := context.Background()
	start := time.Now().Add(40 * 24 * time.Hour).Truncate(time.Hour)
	err := f.ts.db.Update(ctx, func(tx *store.Tx) error {
		for _, b := range []struct{ name, practice, reason string }{
			{"blockA", f.ids["practiceA"], "Matrix absence A"},
			{"blockA2", f.ids["practiceA"], "Matrix listed A"},
			{"blockB", f.ids["practiceB"], "Matrix absence B"},
		} {
			blk := &store.Block{PracticeID: b.practice, Start: start, End: start.Add(2 * time.Hour), Reason: b.reason}
			if _, err := tx.CreateBlock(ctx, blk); err != nil {
				return err
			}
			f.ids[b.name] = blk.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkAbsencesPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !pageHas(res.Body, "Matrix listed A") || pageHas(res.Body, "Matrix absence B") {
		t.Errorf("absences as %s: lists the wrong blocks", persona)
	}
	if !strings.Contains(res.Body, `action="/pro/p/`+f.ids["practiceA"]+`/holidays"`) {
		t.Errorf("absences as %s: no holidays form", persona)
	}
}

func checkAPIBlocks(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !strings.Contains(res.Body, f.ids["blockA2"]) || strings.Contains(res.Body, f.ids["blockB"]) {
		t.Errorf("blocks as %s: wrong blocks listed: %s", persona, res.Body)
	}
}

func checkAPIHolidays(t *testing.T, f *matrixFixture, persona string, res response) {
	if res.StatusCode != 200 {
		return
	}
	if !strings.Contains(res.Body, `"date":"2027-07-14"`) {
		t.Errorf("holidays as %s: no 14 July: %s", persona, res.Body)
	}
}

func checkBlockBKept(t *testing.T, f *matrixFixture, persona string, res response) {
	if n := f.ts.rows(t, "blocks", "id = ?", f.ids["blockB"]); n != 1 {
		t.Errorf("after DELETE as %s, practice B's block is gone", persona)
	}
}
