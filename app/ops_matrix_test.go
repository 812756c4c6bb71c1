package app

import (
	"strings"
	"testing"
)

// opsMatrix are the route × role rows of operations: TLS, backups, metrics, system page (issue 8).
// /metrics is off in the matrix's default configuration, so it does not
// exist for anyone; TestMetrics covers the token and address list.
func opsMatrix() []matrixRow {
	return []matrixRow{
		//                                                                          anon   patient  patient2 proA     proB     secA     org       affiliate admin
		{route: "GET /admin/system", perm: PermAdmin, path: "/admin/system",
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok", check: checkSystemPage},
		{route: "POST /admin/system/backup", perm: PermAdmin, path: "/admin/system/backup",
			want: "login forbidden forbidden forbidden forbidden forbidden forbidden forbidden ok"},
		{route: "GET /metrics", perm: PermPublic, path: "/metrics",
			want: "notfound notfound notfound notfound notfound notfound notfound notfound notfound"},
	}
}

// opsFixture prepares what the ops rows act on: nothing beyond the personas.
func opsFixture(t *testing.T, f *matrixFixture) {}

func checkSystemPage(t *testing.T, f *matrixFixture, persona string, res response) {
	if persona != "admin" {
		return
	}
	if !strings.Contains(res.Body, `action="/admin/system/backup"`) || !strings.Contains(res.Body, `id="last-backup"`) {
		t.Errorf("system page lacks the backup line or button")
	}
}
