package app

import (
	"context"
	"crypto/subtle"
	"daraport/app/visit"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"daraport/store"
)

// opsState is what operations keep on the Server: the certificate source,
// the request counters of /metrics and the backup lock.
type opsState struct {
	certs    *certSource
	backupMu sync.Mutex
	// reqs counts answered requests by "route pattern\x00status class".
	// Patterns come from the route table, so the set is bounded.
	reqs sync.Map // string → *atomic.Int64
}

// opsRoutes are the routes of operations: TLS, backups, metrics, system page (issue 8).
func (s *Server) opsRoutes() []route {
	return []route{
		{method: "GET", path: "/admin/system", perm: PermAdmin, h: s.handleAdminSystem},
		{method: "POST", path: "/admin/system/backup", perm: PermAdmin, h: s.handleAdminSystemBackup},
		// /metrics checks its own token or address list (metrics.*); with
		// neither configured it does not exist (404).
		{method: "GET", path: "/metrics", perm: PermPublic, h: s.handleMetrics},
	}
}

// TURNStats is what the TURN relay reports to the system page and
// /metrics: its counters since start (zero while the relay is off).
type TURNStats = visit.Stats

// turnStats reads the running relay's counters.
func (s *Server) turnStats() TURNStats { return s.VisitStats() }

// countRequest counts one answered request for /metrics (called by
// logRequests with the route pattern, never the concrete path).
func (s *Server) countRequest(route string, status int) {
	if strings.HasSuffix(route, "(unrouted)") {
		// The method of an unrouted request is the client's choice: one
		// bucket, so nobody can grow the map.
		route = "unrouted"
	}
	class := "other"
	if status >= 100 && status < 600 {
		class = fmt.Sprintf("%dxx", status/100)
	}
	k := route + "\x00" + class
	v, ok := s.ops.reqs.Load(k)
	if !ok {
		v, _ = s.ops.reqs.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

type adminSystemPage struct {
	*Page
	Version, Commit, Built string
	GoVersion              string
	Uptime                 string
	DataDir                string
	DBSize, WALSize        string
	BackupDir              string
	BackupAt               string
	LastBackup             backupRecord
	LastBackupSize         string
	BackupFailed           backupRecord
	LastRoll               *store.PlanningRun
	Outbox                 []countRow
	TURN                   TURNStats
	TURNBytes              string // relayed both ways, for people
	TLSMode                string
	CertExpiry             time.Time
	CertDays               int
	CertSoon               bool
}

// countRow is one "state: n" line.
type countRow struct {
	Key string
	N   int
}

func sortedCounts(m map[string]int) []countRow {
	out := make([]countRow, 0, len(m))
	for k, n := range m {
		out = append(out, countRow{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// handleAdminSystem shows how the installation runs: version, uptime,
// database and WAL size, backups, the nightly roll, the outbox, the TURN
// relay and the certificate.
func (s *Server) handleAdminSystem(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := &adminSystemPage{Page: s.newPage(w, r, "ops.system.title"), GoVersion: runtime.Version(),
		DataDir: s.cfg.Server.DataDir, BackupDir: s.backupDir(), BackupAt: s.cfg.Backup.At, TLSMode: s.cfg.TLS.Mode}
	p.Version, p.Commit, p.Built = BuildInfo()
	p.Uptime = time.Since(s.started).Round(time.Second).String()
	dbb, walb, err := s.db.Sizes()
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.DBSize, p.WALSize = humanBytes(dbb), humanBytes(walb)
	p.LastBackup, p.BackupFailed = s.lastBackups(ctx)
	p.LastBackupSize = humanBytes(p.LastBackup.Bytes)
	runs, err := s.db.FindRuns(ctx, "", 50)
	if err != nil {
		s.error(w, r, err)
		return
	}
	for _, run := range runs {
		if run.Kind == "roll" {
			p.LastRoll = run
			break
		}
	}
	out, err := s.db.CountOutbox(ctx)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Outbox = sortedCounts(out)
	p.TURN = s.turnStats()
	p.TURNBytes = humanBytes(p.TURN.BytesToPeers + p.TURN.BytesFromPeers)
	if cs := s.ops.certs; cs != nil {
		p.CertExpiry = cs.expiry()
		if !p.CertExpiry.IsZero() {
			left := p.CertExpiry.Sub(s.now())
			p.CertDays = int(left.Hours() / 24)
			p.CertSoon = left < 14*24*time.Hour
		}
	}
	s.render(w, r, http.StatusOK, "admin_system", p)
}

// handleAdminSystemBackup runs a backup now, as the nightly job would.
func (s *Server) handleAdminSystemBackup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorFrom(r)
	if err := s.db.Update(ctx, func(tx *store.Tx) error {
		return tx.Audit(ctx, &store.AuditEntry{ActorID: a.User.ID, Action: "admin.backup_requested", ObjectType: "backup", IP: s.clientIP(r)})
	}); err != nil {
		s.error(w, r, err)
		return
	}
	// The outcome is recorded (and shown on the page) whether it worked or not.
	_ = s.nightlyBackup(context.WithoutCancel(ctx), s.clock())
	http.Redirect(w, r, "/admin/system", http.StatusSeeOther)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// metricsAllowed tells whether r may read /metrics: the bearer token of
// metrics.token, or a peer in metrics.allow (the connection's address, or
// the client address a trusted proxy reports).
func (s *Server) metricsAllowed(r *http.Request) bool {
	m := s.cfg.Metrics
	if m.Token != "" {
		if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(got), []byte(m.Token)) == 1 {
			return true
		}
	}
	if len(m.Allow) > 0 {
		ip := s.clientIP(r)
		for _, a := range m.Allow {
			if n, err := parseCIDROrIP(a); err == nil && n.Contains(net.ParseIP(ip)) {
				return true
			}
		}
	}
	return false
}

// handleMetrics writes the Prometheus text format (version 0.0.4) by hand:
// a handful of gauges and counters do not earn a client library.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	m := s.cfg.Metrics
	if m.Token == "" && len(m.Allow) == 0 {
		s.error(w, r, errorf(ECodeNotFound, "error.not_found"))
		return
	}
	if !s.metricsAllowed(r) {
		if m.Token != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		}
		http.Error(w, "forbidden\n", http.StatusForbidden)
		return
	}
	ctx := r.Context()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	v, c, _ := BuildInfo()
	metric("daraport_build_info", "gauge", "Version and commit of the running binary.")
	fmt.Fprintf(&b, "daraport_build_info{version=%s,commit=%s} 1\n", promQuote(v), promQuote(c))
	metric("daraport_uptime_seconds", "gauge", "Seconds since the server started.")
	fmt.Fprintf(&b, "daraport_uptime_seconds %d\n", int64(time.Since(s.started).Seconds()))

	metric("daraport_http_requests_total", "counter", "Answered HTTP requests by route pattern and status class.")
	var lines []string
	s.ops.reqs.Range(func(k, v any) bool {
		route, class, _ := strings.Cut(k.(string), "\x00")
		lines = append(lines, fmt.Sprintf("daraport_http_requests_total{route=%s,code=%s} %d\n", promQuote(route), promQuote(class), v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l)
	}

	if dbb, walb, err := s.db.Sizes(); err == nil {
		metric("daraport_db_bytes", "gauge", "Size of the SQLite database file.")
		fmt.Fprintf(&b, "daraport_db_bytes %d\n", dbb)
		metric("daraport_db_wal_bytes", "gauge", "Size of the SQLite write-ahead log.")
		fmt.Fprintf(&b, "daraport_db_wal_bytes %d\n", walb)
	}
	if out, err := s.db.CountOutbox(ctx); err == nil {
		metric("daraport_outbox_messages", "gauge", "Outbox messages by state.")
		for _, row := range sortedCounts(out) {
			fmt.Fprintf(&b, "daraport_outbox_messages{state=%s} %d\n", promQuote(row.Key), row.N)
		}
	}
	if appts, err := s.db.CountAppointments(ctx); err == nil {
		metric("daraport_appointments", "gauge", "Appointments by state.")
		for _, row := range sortedCounts(appts) {
			fmt.Fprintf(&b, "daraport_appointments{state=%s} %d\n", promQuote(row.Key), row.N)
		}
	}
	ok, failed := s.lastBackups(ctx)
	metric("daraport_backup_last_success_timestamp_seconds", "gauge", "Unix time of the last verified backup (0: none yet).")
	fmt.Fprintf(&b, "daraport_backup_last_success_timestamp_seconds %d\n", unixOrZero(ok.At))
	metric("daraport_backup_last_failure_timestamp_seconds", "gauge", "Unix time of the last failed backup since the last success (0: none).")
	fmt.Fprintf(&b, "daraport_backup_last_failure_timestamp_seconds %d\n", unixOrZero(failed.At))
	ts := s.turnStats()
	metric("daraport_turn_allocations", "gauge", "Live TURN relay allocations.")
	fmt.Fprintf(&b, "daraport_turn_allocations %d\n", ts.Allocations)
	for _, c := range []struct {
		name, help string
		v          int64
	}{
		{"daraport_turn_allocations_total", "TURN relay allocations made since start.", ts.AllocationsTotal},
		{"daraport_turn_relayed_bytes_total", "Bytes the TURN relay carried, both ways.", ts.BytesToPeers + ts.BytesFromPeers},
		{"daraport_turn_relayed_packets_total", "Packets the TURN relay carried.", ts.PacketsRelayed},
		{"daraport_turn_dropped_packets_total", "Packets dropped: over the bandwidth limit or to a refused address.", ts.PacketsDropped},
		{"daraport_turn_refused_peers_total", "Permissions refused by the peer filter.", ts.PeersRefused},
		{"daraport_turn_auth_failures_total", "TURN requests with a wrong or expired credential.", ts.AuthFailures},
		{"daraport_turn_quota_refusals_total", "Allocations refused by the per-user quota.", ts.QuotaRefusals},
	} {
		metric(c.name, "counter", c.help)
		fmt.Fprintf(&b, "%s %d\n", c.name, c.v)
	}
	if cs := s.ops.certs; cs != nil {
		metric("daraport_certificate_expiry_timestamp_seconds", "gauge", "Unix time when the served certificate expires (0: none yet).")
		fmt.Fprintf(&b, "daraport_certificate_expiry_timestamp_seconds %d\n", unixOrZero(cs.expiry()))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// promQuote quotes a label value as the text format wants: backslash,
// double quote and newline escaped.
func promQuote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}
