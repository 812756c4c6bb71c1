package app

import (
	"net/url"
	"strings"
	"testing"
)

// bookPagesMatrix are the route × role rows of the booking pages and "My
// appointments". They use appointmentsFixture's objects: {appointment} is
// patient's booked appointment in practice A, {cancelled} a cancelled one.
// The POST rows change nothing: a tampered slot, or an appointment that is
// no longer booked (409: invalid) for whoever may see it, 404 for others.
func bookPagesMatrix() []matrixRow {
	return []matrixRow{
		//                                                                                  anon   patient  patient2 proA     proB     secA     org      affiliate admin
		{route: "GET /p/{id}/book", perm: PermSignedIn, path: "/p/{practiceA}/book", want: "login ok ok ok ok ok ok ok ok", check: checkBookTypes},
		{route: "POST /p/{id}/book", perm: PermSignedIn, path: "/p/{practiceA}/book", form: url.Values{"slot": {"x"}, "type": {"x"}},
			want: "login invalid invalid invalid invalid invalid invalid invalid invalid"},
		{route: "GET /appointments", perm: PermSignedIn, path: "/appointments", want: "login ok ok ok ok ok ok ok ok", check: checkMyAppointments},
		{route: "GET /appointments/{id}", perm: PermSignedIn, path: "/appointments/{appointment}",
			want: "login ok notfound ok notfound ok notfound notfound ok"},
		{route: "GET /appointments/{id}/confirmed", perm: PermSignedIn, path: "/appointments/{appointment}/confirmed",
			want: "login ok notfound ok notfound ok notfound notfound ok"},
		{route: "GET /appointments/{id}/cancel", perm: PermSignedIn, path: "/appointments/{appointment}/cancel",
			want: "login ok notfound ok notfound ok notfound notfound ok"},
		{route: "POST /appointments/{id}/cancel", perm: PermSignedIn, path: "/appointments/{cancelled}/cancel",
			want: "login invalid notfound invalid notfound invalid notfound notfound invalid"},
		{route: "GET /appointments/{id}/move", perm: PermSignedIn, path: "/appointments/{appointment}/move",
			want: "login ok notfound ok notfound ok notfound notfound ok"},
		{route: "POST /appointments/{id}/move", perm: PermSignedIn, path: "/appointments/{cancelled}/move", form: url.Values{"slot": {"x"}},
			want: "login invalid notfound invalid notfound invalid notfound notfound invalid"},
	}
}

// checkBookTypes: step 1 lists practice A's bookable type.
func checkBookTypes(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "anon" {
		return
	}
	if !pageHas(res.Body, "Booking matrix visit") {
		t.Errorf("/p/A/book as %s: the practice's type is not offered", persona)
	}
}

// checkMyAppointments: each person sees their own appointments only.
func checkMyAppointments(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona == "anon" {
		return
	}
	own := strings.Contains(res.Body, `id="appt-`+f.ids["appointment"]+`"`)
	if want := persona == "patient"; own != want {
		t.Errorf("/appointments as %s: patient's appointment listed = %v, want %v", persona, own, want)
	}
}
