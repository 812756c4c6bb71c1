package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// writeConfig writes a TOML file under a test temp dir and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "daraport.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if got := cfg.Security.StaffIdleTimeout.Duration; got != 30*time.Minute {
			t.Errorf("staff_idle_timeout = %v, want 30m", got)
		}
	})
	t.Run("ValidateIsIdempotent", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		for range 2 {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		}
		if !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("Validate changed the config")
		}
	})
	t.Run("FreshSlicesEachCall", func(t *testing.T) {
		t.Parallel()
		a := DefaultConfig()
		a.Reminders.Before[0] = Duration{time.Minute}
		if b := DefaultConfig(); b.Reminders.Before[0].Duration != 48*time.Hour {
			t.Errorf("DefaultConfig shares its slices between calls")
		}
	})
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	t.Run("ExampleEqualsDefaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig(filepath.Join("..", "config.example.toml"), nil)
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if want := DefaultConfig(); !reflect.DeepEqual(cfg, want) {
			t.Errorf("example file differs from DefaultConfig:\n got %+v\nwant %+v", cfg, want)
		}
	})
	t.Run("ExampleHasEveryKey", func(t *testing.T) {
		t.Parallel()
		var cfg Config
		md, err := toml.DecodeFile(filepath.Join("..", "config.example.toml"), &cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range cfg.keys() {
			if !md.IsDefined(strings.Split(k.name, ".")...) {
				t.Errorf("config.example.toml lacks %s", k.name)
			}
		}
	})
	t.Run("NoFileNoEnvIsDefaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig("", []string{"PATH=/bin", "DARAPORT_CONFIG=/ignored.toml"})
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("got %+v, want defaults", cfg)
		}
	})
	t.Run("EnvOverridesFile", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, `
[server]
data_dir = "/from/file"
addr = "127.0.0.1:9000"
[smtp]
host = "file.example"
port = 2525
[reminders]
before = ["1h"]
`)
		cfg, err := LoadConfig(path, []string{
			"DARAPORT_SMTP_HOST=env.example",
			"DARAPORT_DATA=/from/env",
			"DARAPORT_SECURITY_STAFF_IDLE_TIMEOUT=10m",
			"HOME=/root",
		})
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		for _, c := range []struct{ key, got, want string }{
			{"smtp.host", cfg.SMTP.Host, "env.example"},
			{"server.data_dir", cfg.Server.DataDir, "/from/env"},
			{"server.addr", cfg.Server.Addr, "127.0.0.1:9000"},
			{"server.base_url", cfg.Server.BaseURL, "http://localhost:8080"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
			}
		}
		if cfg.SMTP.Port != 2525 {
			t.Errorf("smtp.port = %d, want 2525 from the file", cfg.SMTP.Port)
		}
		if got := cfg.Security.StaffIdleTimeout.Duration; got != 10*time.Minute {
			t.Errorf("security.staff_idle_timeout = %v, want 10m", got)
		}
		if want := []Duration{{time.Hour}}; !reflect.DeepEqual(cfg.Reminders.Before, want) {
			t.Errorf("reminders.before = %v, want %v (the file replaces the default list)", cfg.Reminders.Before, want)
		}
	})
	t.Run("EnvListsBoolsInts", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig("", []string{
			"DARAPORT_TLS_MODE=acme",
			"DARAPORT_TLS_DOMAINS=a.example, b.example",
			"DARAPORT_REMINDERS_BEFORE=24h,30m",
			"DARAPORT_TURN_ENABLED=0",
			"DARAPORT_TURN_ALLOW_PEERS=",
			"DARAPORT_SERVER_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1",
			"DARAPORT_SECURITY_API_RATE=250",
			"DARAPORT_ADDR=:9443",
			"DARAPORT_KEY=" + strings.Repeat("A", 43) + "=",
		})
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if want := []string{"a.example", "b.example"}; !reflect.DeepEqual(cfg.TLS.Domains, want) {
			t.Errorf("tls.domains = %q, want %q", cfg.TLS.Domains, want)
		}
		if want := []Duration{{24 * time.Hour}, {30 * time.Minute}}; !reflect.DeepEqual(cfg.Reminders.Before, want) {
			t.Errorf("reminders.before = %v, want %v", cfg.Reminders.Before, want)
		}
		if cfg.TURN.Enabled {
			t.Errorf("turn.enabled = true, want false")
		}
		if cfg.TURN.AllowPeers == nil || len(cfg.TURN.AllowPeers) != 0 {
			t.Errorf("turn.allow_peers = %#v, want an empty list", cfg.TURN.AllowPeers)
		}
		if want := []string{"10.0.0.0/8", "127.0.0.1"}; !reflect.DeepEqual(cfg.Server.TrustedProxies, want) {
			t.Errorf("server.trusted_proxies = %q, want %q", cfg.Server.TrustedProxies, want)
		}
		if cfg.Security.APIRate != 250 {
			t.Errorf("security.api_rate = %d, want 250", cfg.Security.APIRate)
		}
		if cfg.Server.Addr != ":9443" {
			t.Errorf("server.addr = %q, want :9443", cfg.Server.Addr)
		}
		if cfg.Security.Key == "" {
			t.Errorf("security.key not set by DARAPORT_KEY")
		}
	})
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		file string   // TOML content; empty: no file
		env  []string // DARAPORT_* variables
		want []string // substrings the one-line error must hold
		not  string   // a substring it must not hold (secrets)
	}{
		{name: "ErrUnknownFileKey", file: "[smtp]\nhots = \"x\"\n", want: []string{`unknown key "smtp.hots"`, "daraport.toml"}},
		{name: "ErrUnknownFileSection", file: "[mail]\nhost = \"x\"\n", want: []string{`unknown key "mail"`}},
		{name: "ErrUnknownEnv", env: []string{"DARAPORT_SMTP_HOTS=x"}, want: []string{"DARAPORT_SMTP_HOTS"}},
		{name: "ErrTOMLSyntax", file: "[smtp\n", want: []string{"daraport.toml", "toml: line "}},
		{name: "ErrPortNotNumberEnv", env: []string{"DARAPORT_SMTP_PORT=abc"}, want: []string{"smtp.port", `"abc" is not a number`}},
		{name: "ErrPortNotNumberFile", file: "[smtp]\nport = \"abc\"\n", want: []string{"smtp.port"}},
		{name: "ErrPortTooLarge", file: "[smtp]\nport = 70000\n", want: []string{"smtp.port", "70000"}},
		{name: "ErrPortTooLargeEnv", env: []string{"DARAPORT_SMTP_PORT=70000"}, want: []string{"smtp.port", "70000"}},
		{name: "ErrSMTPSecuritySSL", env: []string{"DARAPORT_SMTP_SECURITY=ssl"}, want: []string{"smtp.security", `"ssl"`}},
		{name: "ErrSMTPFrom", env: []string{"DARAPORT_SMTP_FROM=nobody"}, want: []string{"smtp.from"}},
		{name: "ErrRollAtOneDigitHour", file: "[planning]\nroll_at = \"2:30\"\n", want: []string{"planning.roll_at", `"2:30"`}},
		{name: "ErrRollAt24", env: []string{"DARAPORT_PLANNING_ROLL_AT=24:00"}, want: []string{"planning.roll_at", `"24:00"`}},
		{name: "ErrHistoryDays", env: []string{"DARAPORT_PLANNING_HISTORY_DAYS=3651"}, want: []string{"planning.history_days"}},
		{name: "ErrTimeZone", env: []string{"DARAPORT_SERVER_TIME_ZONE=Mars/Olympus"}, want: []string{"server.time_zone", "Mars/Olympus"}},
		{name: "ErrReminderNegativeFile", file: "[reminders]\nbefore = [\"48h\", \"-1h\"]\n", want: []string{"reminders.before", "-1h"}},
		{name: "ErrReminderNegativeEnv", env: []string{"DARAPORT_REMINDERS_BEFORE=-1h"}, want: []string{"reminders.before", "-1h"}},
		{name: "ErrReminderNotDurationFile", file: "[reminders]\nbefore = [\"two days\"]\n", want: []string{"reminders.before", "two days"}},
		{name: "ErrDurationNotDurationEnv", env: []string{"DARAPORT_VISIT_CLOSE_AFTER=2"}, want: []string{"visit.close_after", `"2"`}},
		{name: "ErrACMEWithoutDomains", env: []string{"DARAPORT_TLS_MODE=acme"}, want: []string{"tls.domains"}},
		{name: "ErrFilesWithoutCert", env: []string{"DARAPORT_TLS_MODE=files", "DARAPORT_TLS_KEY_FILE=k.pem"}, want: []string{"tls.cert_file"}},
		{name: "ErrTLSMode", env: []string{"DARAPORT_TLS_MODE=on"}, want: []string{"tls.mode"}},
		{name: "ErrBaseURLNoScheme", env: []string{"DARAPORT_SERVER_BASE_URL=localhost:8080"}, want: []string{"server.base_url", "localhost:8080"}},
		{name: "ErrBaseURLQuery", env: []string{"DARAPORT_SERVER_BASE_URL=https://rdv.example/?a=b"}, want: []string{"server.base_url"}},
		{name: "ErrAddr", env: []string{"DARAPORT_ADDR=8080"}, want: []string{"server.addr", `"8080"`}},
		{name: "ErrPublicIP", env: []string{"DARAPORT_TURN_PUBLIC_IP=x"}, want: []string{"turn.public_ip", `"x"`}},
		{name: "ErrAllowPeers", file: "[turn]\nallow_peers = [\"10.0.0.0/33\"]\n", want: []string{"turn.allow_peers", "10.0.0.0/33"}},
		{name: "ErrTURNTLSWithoutTLS", env: []string{"DARAPORT_TURN_TLS_LISTEN=:5349"}, want: []string{"turn.tls_listen"}},
		{name: "ErrTrustedProxy", env: []string{"DARAPORT_SERVER_TRUSTED_PROXIES=proxy.local"}, want: []string{"server.trusted_proxies"}},
		{name: "ErrSynchronous", env: []string{"DARAPORT_SERVER_SYNCHRONOUS=OFF"}, want: []string{"server.synchronous"}},
		{name: "ErrDefaultLanguage", env: []string{"DARAPORT_BRAND_DEFAULT_LANGUAGE=it"}, want: []string{"brand.default_language", `"it"`}},
		{name: "ErrRegistration", env: []string{"DARAPORT_SECURITY_REGISTRATION=invite"}, want: []string{"security.registration"}},
		{name: "ErrAPIRate", env: []string{"DARAPORT_SECURITY_API_RATE=0"}, want: []string{"security.api_rate"}},
		{name: "ErrKeyNotBase64", env: []string{"DARAPORT_SECURITY_KEY=s3cr3t-value"}, want: []string{"security.key"}, not: "s3cr3t-value"},
		{name: "ErrBoolEnv", env: []string{"DARAPORT_TURN_ENABLED=yes"}, want: []string{"turn.enabled", `"yes"`}},
		{name: "ErrAliasDisagrees", env: []string{"DARAPORT_DATA=/a", "DARAPORT_SERVER_DATA_DIR=/b"}, want: []string{"DARAPORT_DATA", "DARAPORT_SERVER_DATA_DIR"}},
		{name: "ErrLogLevel", env: []string{"DARAPORT_LOG_LEVEL=trace"}, want: []string{"log.level"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tc.file != "" {
				path = writeConfig(t, tc.file)
			}
			_, err := LoadConfig(path, tc.env)
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "config: ") {
				t.Errorf("error %q does not start with \"config: \"", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if tc.not != "" && strings.Contains(msg, tc.not) {
				t.Errorf("error %q leaks %q", msg, tc.not)
			}
		})
	}
	t.Run("ErrMissingFile", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "missing.toml")
		_, err := LoadConfig(path, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("LoadConfig(missing) = %v, want an error naming %s", err, path)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // key named by the error; empty: valid
	}{
		{name: "OKACMEWithDomain", change: func(c *Config) { c.TLS.Mode = "acme"; c.TLS.Domains = []string{"rdv.example"} }},
		{name: "OKFilesWithTURNTLS", change: func(c *Config) {
			c.TLS.Mode, c.TLS.CertFile, c.TLS.KeyFile = "files", "c.pem", "k.pem"
			c.TURN.TLSListen = ":5349"
		}},
		{name: "OKFlagOverridesAddr", change: func(c *Config) { c.Server.Addr = "127.0.0.1:0" }},
		{name: "OKTURNDisabledNoListen", change: func(c *Config) { c.TURN.Enabled = false; c.TURN.Listen = "" }},
		{name: "OKNoReminders", change: func(c *Config) { c.Reminders.Before = []Duration{} }},
		{name: "OKKey", change: func(c *Config) { c.Security.Key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }},
		{name: "ErrKeyShort", change: func(c *Config) { c.Security.Key = "MDEy" }, want: "security.key"},
		{name: "ErrFilesWithoutKey", change: func(c *Config) { c.TLS.Mode, c.TLS.CertFile = "files", "c.pem" }, want: "tls.key_file"},
		{name: "ErrDataDirEmpty", change: func(c *Config) { c.Server.DataDir = "" }, want: "server.data_dir"},
		{name: "ErrStaffIdleZero", change: func(c *Config) { c.Security.StaffIdleTimeout = Duration{} }, want: "security.staff_idle_timeout"},
		{name: "ErrOpenBeforeNegative", change: func(c *Config) { c.Visit.OpenBefore = Duration{-time.Minute} }, want: "visit.open_before"},
		{name: "ErrLoginAttempts", change: func(c *Config) { c.Security.LoginAttempts = 0 }, want: "security.login_attempts"},
		{name: "ErrLogFormat", change: func(c *Config) { c.Log.Format = "xml" }, want: "log.format"},
		{name: "ErrTLSEmail", change: func(c *Config) { c.TLS.Email = "not an address" }, want: "tls.email"},
		{name: "ErrACMEDirectory", change: func(c *Config) { c.TLS.ACMEDirectory = "acme.example/dir" }, want: "tls.acme_directory"},
		{name: "ErrHTTPAddrWithTLS", change: func(c *Config) { c.TLS.Mode, c.TLS.CertFile, c.TLS.KeyFile, c.TLS.HTTPAddr = "files", "c", "k", "80" }, want: "tls.http_addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate succeeded, want an error naming %s", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want+":"):
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}
