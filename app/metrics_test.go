package app

import (
	"net/http"
	"strings"
	"testing"

	"daraport/store"
)

// TestMetrics reads /metrics with the token and from an allowed address,
// and is refused otherwise; request counters use route patterns only.
func TestMetrics(t *testing.T) {
	const token = "0123456789abcdef0123"
	get := func(ts *testServer, auth string) response {
		req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		return ts.do(t, http.DefaultClient, req)
	}
	t.Run("Token", func(t *testing.T) {
		ts := newTestServer(t, func(c *Config) { c.Metrics.Token = token })
		ts.addUser(t, "admin@example.org", "Ada Admin", store.RoleAdmin, "")
		ts.get(t, ts.client(t), "/login")
		ts.get(t, ts.client(t), "/login?secret=patient-name")
		if res := get(ts, ""); res.StatusCode != http.StatusForbidden {
			t.Fatalf("without token: %d", res.StatusCode)
		}
		if res := get(ts, "wrong-token-wrong-token"); res.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong token: %d", res.StatusCode)
		}
		res := get(ts, token)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("with token: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		for _, want := range []string{
			"# TYPE daraport_http_requests_total counter",
			`daraport_http_requests_total{route="GET /login",code="2xx"} 2`,
			"daraport_uptime_seconds ", "daraport_db_bytes ", "daraport_db_wal_bytes ",
			"# TYPE daraport_appointments gauge", "daraport_turn_allocations 0",
			"daraport_backup_last_success_timestamp_seconds 0",
		} {
			if !strings.Contains(res.Body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		if strings.Contains(res.Body, "patient-name") {
			t.Error("metrics carry a query string")
		}
	})
	t.Run("Allow", func(t *testing.T) {
		ts := newTestServer(t, func(c *Config) { c.Metrics.Allow = []string{"127.0.0.0/8"} })
		if res := get(ts, ""); res.StatusCode != 200 {
			t.Fatalf("from an allowed address: %d", res.StatusCode)
		}
		other := newTestServer(t, func(c *Config) { c.Metrics.Allow = []string{"10.0.0.0/8"} })
		if res := get(other, ""); res.StatusCode != http.StatusForbidden {
			t.Fatalf("from another address: %d", res.StatusCode)
		}
	})
}

// TestForwardedProto: with tls.mode off, HSTS follows X-Forwarded-Proto
// only when the request comes from a configured proxy.
func TestForwardedProto(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		want    bool
	}{{"Trusted", []string{"127.0.0.1"}, true}, {"Untrusted", []string{"10.1.2.3"}, false}, {"NoProxies", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.Server.TrustedProxies = append([]string{}, tc.proxies...) })
			req, _ := http.NewRequest("GET", ts.URL+"/healthz", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			res := ts.do(t, http.DefaultClient, req)
			if got := res.Header.Get("Strict-Transport-Security") != ""; got != tc.want {
				t.Fatalf("HSTS %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOpsConfig: the [backup] and [metrics] keys refuse bad values with a
// message naming the key, from the environment as from a file.
func TestOpsConfig(t *testing.T) {
	for _, tc := range []struct{ env, key string }{
		{"DARAPORT_BACKUP_AT=25:00", "backup.at"},
		{"DARAPORT_BACKUP_KEEP=0", "backup.keep"},
		{"DARAPORT_METRICS_TOKEN=short", "metrics.token"},
		{"DARAPORT_METRICS_ALLOW=10.0.0.0/8,not-an-ip", "metrics.allow"},
	} {
		if _, err := LoadConfig("", []string{tc.env}); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
	cfg, err := LoadConfig("", []string{"DARAPORT_BACKUP_AT=", "DARAPORT_BACKUP_COPY_TO=/mnt/backup", "DARAPORT_METRICS_ALLOW=127.0.0.1,10.0.0.0/8"})
	if err != nil || cfg.Backup.At != "" || cfg.Backup.CopyTo != "/mnt/backup" || len(cfg.Metrics.Allow) != 2 {
		t.Fatalf("%+v %+v %v", cfg.Backup, cfg.Metrics, err)
	}
}
