// Configuration: the Config struct mirrors config.example.toml key for key.
//
// Sources, lowest precedence first: DefaultConfig, the TOML file, the
// DARAPORT_* environment (LoadConfig), then flags, which main sets on the
// loaded Config before calling Validate again (Validate never changes c, so
// calling it twice is safe).
//
// Durations are written as strings in TOML and env ("30m", "48h") and held
// as Duration, a struct embedding time.Duration: read them as
// cfg.Security.StaffIdleTimeout.Duration (a time.Duration).
//
// Empty lists are non-nil empty slices, both in DefaultConfig and after
// loading `domains = []` or DARAPORT_TLS_DOMAINS="", so configs compare
// with reflect.DeepEqual.

package app

import (
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // a bare server (no /usr/share/zoneinfo) still knows every zone

	"github.com/BurntSushi/toml"
)

// Config mirrors config.example.toml.
type Config struct {
	Server    ServerConfig    `toml:"server"`
	Brand     BrandConfig     `toml:"brand"`
	Security  SecurityConfig  `toml:"security"`
	TLS       TLSConfig       `toml:"tls"`
	SMTP      SMTPConfig      `toml:"smtp"`
	SMS       SMSConfig       `toml:"sms"`
	Delivery  DeliveryConfig  `toml:"delivery"`
	TURN      TURNConfig      `toml:"turn"`
	Planning  PlanningConfig  `toml:"planning"`
	Reminders RemindersConfig `toml:"reminders"`
	Visit     VisitConfig     `toml:"visit"`
	Backup    BackupConfig    `toml:"backup"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Log       LogConfig       `toml:"log"`
}

// BackupConfig is the [backup] section: the nightly online backup.
type BackupConfig struct {
	At      string `toml:"at"`       // "HH:MM", 24-hour, server local time; "" turns the job off
	Keep    int    `toml:"keep"`     // nightly backups kept in each destination
	Dir     string `toml:"dir"`      // empty: data_dir/backups
	CopyTo  string `toml:"copy_to"`  // optional second destination (another disk)
	WithKey bool   `toml:"with_key"` // put the at-rest key in the nightly backups too
}

// MetricsConfig is the [metrics] section: the Prometheus text at /metrics,
// off unless a token or an address list is set.
type MetricsConfig struct {
	Token string   `toml:"token"` // Authorization: Bearer <token>
	Allow []string `toml:"allow"` // IPs or CIDRs that may read without the token
}

// ServerConfig is the [server] section.
type ServerConfig struct {
	Addr           string   `toml:"addr"`            // host:port of the HTTP(S) listener
	BaseURL        string   `toml:"base_url"`        // links in e-mails, never the request's Host
	DataDir        string   `toml:"data_dir"`        // database, key, backups
	TimeZone       string   `toml:"time_zone"`       // IANA zone, default for new practices
	TrustedProxies []string `toml:"trusted_proxies"` // CIDRs or IPs whose X-Forwarded-For/-Proto are believed
	Synchronous    string   `toml:"synchronous"`     // SQLite synchronous pragma: FULL or NORMAL
}

// BrandConfig is the [brand] section: the identity of a fresh install's brand.
type BrandConfig struct {
	Name            string   `toml:"name"`
	DefaultLanguage string   `toml:"default_language"` // fr, en, de or es
	Journeys        []string `toml:"journeys"`         // patient journeys offered: directory, match, assisted
}

// SecurityConfig is the [security] section.
type SecurityConfig struct {
	SessionLifetime  Duration `toml:"session_lifetime"`   // a normal session
	RememberLifetime Duration `toml:"remember_lifetime"`  // "keep me signed in"
	StaffIdleTimeout Duration `toml:"staff_idle_timeout"` // staff sessions end after this long idle
	Registration     string   `toml:"registration"`       // open or closed
	Key              string   `toml:"key"`                // base64 of 32 bytes; empty: data_dir/secret.key
	APIRate          int      `toml:"api_rate"`           // requests per second per API token
	LoginAttempts    int      `toml:"login_attempts"`     // failed sign-ins per account or IP per 15 min
}

// TLSConfig is the [tls] section.
type TLSConfig struct {
	Mode           string   `toml:"mode"`              // off, acme or files
	HTTPAddr       string   `toml:"http_addr"`         // plain HTTP listener when TLS is on
	Domains        []string `toml:"domains"`           // ACME certificate names
	Email          string   `toml:"email"`             // ACME account contact
	ACMEDirectory  string   `toml:"acme_directory"`    // empty: Let's Encrypt production
	ACMERootCAFile string   `toml:"acme_root_ca_file"` // extra CA trusted for the ACME server
	CertFile       string   `toml:"cert_file"`         // files mode
	KeyFile        string   `toml:"key_file"`          // files mode
}

// SMTPConfig is the [smtp] section. An empty Host keeps mail in the outbox viewer.
type SMTPConfig struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	From     string `toml:"from"`     // parsed by net/mail.ParseAddress
	Security string `toml:"security"` // starttls, tls or none
	// Delivery details (issue 6; app/delivery*.go).
	Timeout        Duration `toml:"timeout"`         // connecting and waiting for each reply
	MaxConnections int      `toml:"max_connections"` // connections open at once
	CAFile         string   `toml:"ca_file"`         // extra PEM CA trusted for the server's certificate
	DKIMDomain     string   `toml:"dkim_domain"`     // empty: no DKIM signature
	DKIMSelector   string   `toml:"dkim_selector"`
	DKIMKeyFile    string   `toml:"dkim_key_file"` // empty: data_dir/dkim.key, created when missing
}

// SMSConfig is the [sms] section: a generic HTTP gateway. An empty URL
// disables SMS (SMS messages stay in the outbox).
type SMSConfig struct {
	URL           string   `toml:"url"`            // {{to}} and {{text}} are replaced, URL-escaped
	Method        string   `toml:"method"`         // GET, POST or PUT
	Headers       []string `toml:"headers"`        // "Name: value"
	ContentType   string   `toml:"content_type"`   // how body placeholders are escaped
	Body          string   `toml:"body"`           // template with {{to}} and {{text}}
	SuccessStatus int      `toml:"success_status"` // 0: any 2xx
}

// DeliveryConfig is the [delivery] section: the outbox worker's policy.
type DeliveryConfig struct {
	RetryFor             Duration `toml:"retry_for"`              // temporary failures are retried this long
	AllowPrivateWebhooks bool     `toml:"allow_private_webhooks"` // webhooks may reach loopback and private addresses
}

// TURNConfig is the [turn] section.
type TURNConfig struct {
	Enabled    bool     `toml:"enabled"`
	Listen     string   `toml:"listen"`      // UDP and TCP
	PublicIP   string   `toml:"public_ip"`   // relay candidate address; empty: detected
	TLSListen  string   `toml:"tls_listen"`  // TURN over TLS; needs tls.mode acme or files; TURNOnHTTPS: on server.addr
	AllowPeers []string `toml:"allow_peers"` // CIDRs the relay may reach although private
	// Relayed ports, per allocation bandwidth (kbit/s each way, 0: no
	// limit) and allocations one visit credential may hold (0: no limit).
	RelayMinPort  int `toml:"relay_min_port"`
	RelayMaxPort  int `toml:"relay_max_port"`
	BandwidthKbps int `toml:"bandwidth_kbps"`
	UserQuota     int `toml:"user_quota"`
}

// PlanningConfig is the [planning] section.
type PlanningConfig struct {
	RollAt      string `toml:"roll_at"`      // "HH:MM", 24-hour, server local time
	HistoryDays int    `toml:"history_days"` // days of past slots kept by the roll
}

// RemindersConfig is the [reminders] section.
type RemindersConfig struct {
	Before []Duration `toml:"before"` // one reminder this long before each appointment
}

// VisitConfig is the [visit] section: the video room's window around the start.
type VisitConfig struct {
	OpenBefore Duration `toml:"open_before"`
	CloseAfter Duration `toml:"close_after"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// Duration is a time.Duration written as a Go duration string ("90m", "48h")
// in TOML and env. Use its Duration field for the time.Duration.
type Duration struct {
	time.Duration
}

// UnmarshalText parses a Go duration string. It returns an error naming the
// text when it is not one.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like \"30m\" or \"48h\")", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// DefaultConfig returns the configuration used when nothing is set: the
// values config.example.toml documents.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{
			Addr:           ":8080",
			BaseURL:        "http://localhost:8080",
			DataDir:        "./daraport-data",
			TimeZone:       "Europe/Paris",
			TrustedProxies: []string{},
			// FULL: a booking confirmed to the patient must survive a power
			// loss, which NORMAL in WAL mode does not promise.
			Synchronous: "FULL",
		},
		Brand: BrandConfig{
			Name:            "Daraport",
			DefaultLanguage: "fr",
			Journeys:        []string{"directory", "match", "assisted"},
		},
		Security: SecurityConfig{
			SessionLifetime:  Duration{12 * time.Hour},
			RememberLifetime: Duration{720 * time.Hour},
			StaffIdleTimeout: Duration{30 * time.Minute},
			Registration:     "open",
			Key:              "",
			APIRate:          100,
			LoginAttempts:    10,
		},
		TLS: TLSConfig{
			Mode:     "off",
			HTTPAddr: ":80",
			Domains:  []string{},
		},
		SMTP: SMTPConfig{
			Port:     587,
			From:     "Daraport <no-reply@localhost>",
			Security: "starttls",

			Timeout:        Duration{30 * time.Second},
			MaxConnections: 4,
			DKIMSelector:   "daraport",
		},
		SMS: SMSConfig{
			Method:      "POST",
			Headers:     []string{},
			ContentType: "application/x-www-form-urlencoded",
			Body:        "to={{to}}&text={{text}}",
		},
		Delivery: DeliveryConfig{
			RetryFor: Duration{72 * time.Hour},
		},
		TURN: TURNConfig{
			Enabled:       true,
			Listen:        ":3478",
			AllowPeers:    []string{},
			RelayMinPort:  49152,
			RelayMaxPort:  65535,
			BandwidthKbps: 10000,
			UserQuota:     12,
		},
		Planning: PlanningConfig{
			RollAt:      "02:30",
			HistoryDays: 30,
		},
		Reminders: RemindersConfig{
			Before: []Duration{{48 * time.Hour}, {2 * time.Hour}},
		},
		Visit: VisitConfig{
			OpenBefore: Duration{15 * time.Minute},
			CloseAfter: Duration{2 * time.Hour},
		},
		Backup: BackupConfig{
			At:   "03:30",
			Keep: 7,
		},
		Metrics: MetricsConfig{
			Allow: []string{},
		},
		Log: LogConfig{
			Level:  "info",
			Format: "text",
		},
	}
}

// envPrefix starts every environment variable LoadConfig reads.
const envPrefix = "DARAPORT_"

// envConfigFile names the config file; main reads it, LoadConfig ignores it.
const envConfigFile = "DARAPORT_CONFIG"

// envAliases are short names for keys set often; each maps to section.key.
var envAliases = map[string]string{
	"DARAPORT_DATA": "server.data_dir",
	"DARAPORT_ADDR": "server.addr",
	"DARAPORT_KEY":  "security.key",
}

// LoadConfig starts from DefaultConfig, decodes the TOML file at path unless
// path is empty, applies the DARAPORT_* variables of environ ("KEY=VALUE"
// strings, as os.Environ returns), then validates. Every error is one line:
// a missing or unreadable file, a TOML syntax or type error, an unknown key
// in the file, an unknown DARAPORT_* variable, a bad value (naming the key as
// section.key), or what Validate returns.
func LoadConfig(path string, environ []string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		if err := cfg.decodeFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.applyEnv(environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) decodeFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		// toml's Error() is one line and names the last key read.
		return fmt.Errorf("config: %s: %s", path, oneLine(err.Error()))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return fmt.Errorf("config: unknown key %q in %s", undecoded[0].String(), path)
	}
	return nil
}

// configKey is one settable key found by reflection over the toml tags.
type configKey struct {
	name  string        // "smtp.port"
	value reflect.Value // addressable field inside the Config being loaded
}

// keys lists every key of c by env variable name (DARAPORT_SMTP_PORT).
func (c *Config) keys() map[string]configKey {
	byEnv := make(map[string]configKey)
	sections := reflect.ValueOf(c).Elem()
	for i := range sections.NumField() {
		section := sections.Type().Field(i).Tag.Get("toml")
		fields := sections.Field(i)
		for j := range fields.NumField() {
			key := fields.Type().Field(j).Tag.Get("toml")
			env := envPrefix + strings.ToUpper(section) + "_" + strings.ToUpper(key)
			byEnv[env] = configKey{name: section + "." + key, value: fields.Field(j)}
		}
	}
	return byEnv
}

func (c *Config) applyEnv(environ []string) error {
	set := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == envConfigFile {
			continue
		}
		set[name] = value
	}
	byEnv := c.keys()
	envOf := make(map[string]string, len(byEnv))
	for env, k := range byEnv {
		envOf[k.name] = env
	}
	for alias, key := range envAliases {
		v, ok := set[alias]
		if !ok {
			continue
		}
		full := envOf[key]
		if fv, both := set[full]; both && fv != v {
			return fmt.Errorf("config: %s: %s and %s disagree", key, alias, full)
		}
		set[full] = v
		delete(set, alias)
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		k, ok := byEnv[name]
		if !ok {
			return fmt.Errorf("config: unknown environment variable %s", name)
		}
		if err := setFromString(k.value, set[name]); err != nil {
			return fmt.Errorf("config: %s: %s (from %s)", k.name, err, name)
		}
	}
	return nil
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// setFromString sets v from an env value: TextUnmarshaler, string, bool
// (true/false/1/0), integer, or a comma-separated list of those. Its error
// does not name the key; the caller adds it.
func setFromString(v reflect.Value, s string) error {
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			v.SetBool(true)
		case "false", "0":
			v.SetBool(false)
		default:
			return fmt.Errorf("%q is not a boolean (true, false, 1 or 0)", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is out of range", s)
		}
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		list := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setFromString(list.Index(i), p); err != nil {
				return err
			}
		}
		v.Set(list)
	default:
		// Only reached if a key of a new type is added without support here.
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

var rollAtPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Validate checks every key and the keys that go together. It returns the
// first problem as a one-line error naming the key (section.key), and never
// changes c, so main may call it again after applying flags.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.Server.validate, c.Brand.validate, c.Security.validate,
		c.TLS.validate, c.SMTP.validate, c.SMS.validate, c.Delivery.validate, c.validateTURN,
		c.Planning.validate, c.Reminders.validate, c.Visit.validate, c.Backup.validate, c.Metrics.validate, c.Log.validate,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// bad formats a Validate error.
func bad(key, format string, args ...any) error {
	return fmt.Errorf("config: "+key+": "+format, args...)
}

func (s *ServerConfig) validate() error {
	if err := checkHostPort("server.addr", s.Addr); err != nil {
		return err
	}
	if err := checkHTTPURL("server.base_url", s.BaseURL); err != nil {
		return err
	}
	if s.DataDir == "" {
		return bad("server.data_dir", "must not be empty")
	}
	if s.TimeZone == "" || s.TimeZone == "Local" {
		return bad("server.time_zone", "%q is not an IANA time zone (like \"Europe/Paris\")", s.TimeZone)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return bad("server.time_zone", "%q is not an IANA time zone (like \"Europe/Paris\")", s.TimeZone)
	}
	for _, p := range s.TrustedProxies {
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			return bad("server.trusted_proxies", "%q is neither an IP address nor a CIDR", p)
		}
	}
	return checkOneOf("server.synchronous", s.Synchronous, "FULL", "NORMAL")
}

func (b *BrandConfig) validate() error {
	if strings.TrimSpace(b.Name) == "" {
		return bad("brand.name", "must not be empty")
	}
	if err := checkOneOf("brand.default_language", b.DefaultLanguage, "fr", "en", "de", "es"); err != nil {
		return err
	}
	if len(b.Journeys) == 0 {
		return bad("brand.journeys", "must name at least one of directory, match, assisted")
	}
	seen := map[string]bool{}
	for _, j := range b.Journeys {
		if err := checkOneOf("brand.journeys", j, "directory", "match", "assisted"); err != nil {
			return err
		}
		if seen[j] {
			return bad("brand.journeys", fmt.Sprintf("%q is listed twice", j))
		}
		seen[j] = true
	}
	return nil
}

func (s *SecurityConfig) validate() error {
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"security.session_lifetime", s.SessionLifetime},
		{"security.remember_lifetime", s.RememberLifetime},
		{"security.staff_idle_timeout", s.StaffIdleTimeout},
	} {
		if d.v.Duration <= 0 {
			return bad(d.key, "%q must be longer than 0", d.v.Duration)
		}
	}
	if err := checkOneOf("security.registration", s.Registration, "open", "closed"); err != nil {
		return err
	}
	if s.Key != "" {
		// The value is a secret: never echo it.
		if k, err := base64.StdEncoding.DecodeString(s.Key); err != nil || len(k) != 32 {
			return bad("security.key", "must be 32 bytes in standard base64 (openssl rand -base64 32)")
		}
	}
	if s.APIRate < 1 {
		return bad("security.api_rate", "%d must be at least 1", s.APIRate)
	}
	if s.LoginAttempts < 1 {
		return bad("security.login_attempts", "%d must be at least 1", s.LoginAttempts)
	}
	return nil
}

func (t *TLSConfig) validate() error {
	if err := checkOneOf("tls.mode", t.Mode, "off", "acme", "files"); err != nil {
		return err
	}
	if t.Mode != "off" {
		if err := checkHostPort("tls.http_addr", t.HTTPAddr); err != nil {
			return err
		}
	}
	for _, d := range t.Domains {
		if d == "" || strings.ContainsAny(d, "/: \t") {
			return bad("tls.domains", "%q is not a host name", d)
		}
	}
	if t.Mode == "acme" && len(t.Domains) == 0 {
		return bad("tls.domains", "mode acme needs at least one domain")
	}
	if t.Email != "" {
		if _, err := mail.ParseAddress(t.Email); err != nil {
			return bad("tls.email", "%q is not an e-mail address", t.Email)
		}
	}
	if t.ACMEDirectory != "" {
		if err := checkHTTPURL("tls.acme_directory", t.ACMEDirectory); err != nil {
			return err
		}
	}
	if t.Mode == "files" {
		if t.CertFile == "" {
			return bad("tls.cert_file", "mode files needs a certificate file")
		}
		if t.KeyFile == "" {
			return bad("tls.key_file", "mode files needs a key file")
		}
	}
	return nil
}

func (s *SMTPConfig) validate() error {
	if s.Port < 1 || s.Port > 65535 {
		return bad("smtp.port", "%d is not a port (1-65535)", s.Port)
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return bad("smtp.from", "%q is not an e-mail address (like \"Daraport <no-reply@example.org>\")", s.From)
	}
	if err := checkOneOf("smtp.security", s.Security, "starttls", "tls", "none"); err != nil {
		return err
	}
	if s.Timeout.Duration < time.Second {
		return bad("smtp.timeout", "%q must be at least 1s", s.Timeout.Duration)
	}
	if s.MaxConnections < 1 || s.MaxConnections > 100 {
		return bad("smtp.max_connections", "%d is not between 1 and 100", s.MaxConnections)
	}
	if s.DKIMDomain != "" {
		if strings.ContainsAny(s.DKIMDomain, "/: \t;=") || !strings.Contains(s.DKIMDomain, ".") && s.DKIMDomain != "localhost" {
			return bad("smtp.dkim_domain", "%q is not a domain name", s.DKIMDomain)
		}
		if !dkimSelectorRe.MatchString(s.DKIMSelector) {
			return bad("smtp.dkim_selector", "%q is not a DKIM selector (letters, digits, - and .)", s.DKIMSelector)
		}
	}
	return nil
}

var (
	dkimSelectorRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	headerNameRe   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func (s *SMSConfig) validate() error {
	if s.URL != "" {
		u, err := url.Parse(strings.NewReplacer("{{to}}", "x", "{{text}}", "x").Replace(s.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("sms.url", "is not an absolute http(s) URL")
		}
	}
	if err := checkOneOf("sms.method", s.Method, "GET", "POST", "PUT"); err != nil {
		return err
	}
	for _, h := range s.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || !headerNameRe.MatchString(strings.TrimSpace(name)) || strings.ContainsAny(value, "\r\n") {
			// The value may be a secret: name only the header.
			return bad("sms.headers", "%q is not a \"Name: value\" header", strings.TrimSpace(name))
		}
	}
	if err := checkOneOf("sms.content_type", s.ContentType, "application/x-www-form-urlencoded", "application/json", "text/plain"); err != nil {
		return err
	}
	if s.SuccessStatus != 0 && (s.SuccessStatus < 100 || s.SuccessStatus > 599) {
		return bad("sms.success_status", "%d is not an HTTP status (0 means any 2xx)", s.SuccessStatus)
	}
	return nil
}

func (d *DeliveryConfig) validate() error {
	if d.RetryFor.Duration < time.Minute {
		return bad("delivery.retry_for", "%q must be at least 1m", d.RetryFor.Duration)
	}
	return nil
}

// TURNOnHTTPS is the turn.tls_listen value that puts TURN over TLS on the
// HTTPS listener's own port (server.addr), beside the site, for networks
// that let only 443 out. A word rather than server.addr's address: the
// same address would mean a second listener on a busy port, and the
// shared port is advertised as the site's (server.base_url), which the
// address alone does not say.
const TURNOnHTTPS = "https"

// validateTURN is on Config because tls_listen needs a TLS certificate.
func (c *Config) validateTURN() error {
	t := &c.TURN
	if t.Enabled {
		if err := checkHostPort("turn.listen", t.Listen); err != nil {
			return err
		}
	}
	if t.PublicIP != "" {
		if _, err := netip.ParseAddr(t.PublicIP); err != nil {
			return bad("turn.public_ip", "%q is not an IP address", t.PublicIP)
		}
	}
	switch {
	case t.TLSListen == TURNOnHTTPS:
		if c.TLS.Mode == "off" {
			return bad("turn.tls_listen", "%q shares the HTTPS port (server.addr) and needs tls.mode acme or files", t.TLSListen)
		}
	case t.TLSListen != "":
		if err := checkHostPort("turn.tls_listen", t.TLSListen); err != nil {
			return err
		}
		if c.TLS.Mode == "off" {
			return bad("turn.tls_listen", "needs tls.mode acme or files")
		}
		if samePort(t.TLSListen, c.Server.Addr) {
			return bad("turn.tls_listen", "%q is server.addr's port: write %q to share the HTTPS port with TURN", t.TLSListen, TURNOnHTTPS)
		}
	}
	for _, p := range t.AllowPeers {
		if _, err := netip.ParsePrefix(p); err != nil {
			return bad("turn.allow_peers", "%q is not a CIDR (like \"10.0.0.0/8\")", p)
		}
	}
	if t.RelayMinPort < 1024 || t.RelayMinPort > 65535 {
		return bad("turn.relay_min_port", "%d is not between 1024 and 65535", t.RelayMinPort)
	}
	if t.RelayMaxPort < t.RelayMinPort || t.RelayMaxPort > 65535 {
		return bad("turn.relay_max_port", "%d is not between relay_min_port and 65535", t.RelayMaxPort)
	}
	if t.BandwidthKbps < 0 {
		return bad("turn.bandwidth_kbps", "%d must not be negative", t.BandwidthKbps)
	}
	if t.UserQuota < 0 {
		return bad("turn.user_quota", "%d must not be negative", t.UserQuota)
	}
	return nil
}

func (p *PlanningConfig) validate() error {
	if !rollAtPattern.MatchString(p.RollAt) {
		return bad("planning.roll_at", "%q is not a 24-hour HH:MM time (like \"02:30\")", p.RollAt)
	}
	if p.HistoryDays < 0 || p.HistoryDays > 3650 {
		return bad("planning.history_days", "%d is not between 0 and 3650", p.HistoryDays)
	}
	return nil
}

func (r *RemindersConfig) validate() error {
	for _, d := range r.Before {
		if d.Duration <= 0 {
			return bad("reminders.before", "%q must be longer than 0", d.Duration)
		}
	}
	return nil
}

func (v *VisitConfig) validate() error {
	if v.OpenBefore.Duration < 0 {
		return bad("visit.open_before", "%q must not be negative", v.OpenBefore.Duration)
	}
	if v.CloseAfter.Duration <= 0 {
		return bad("visit.close_after", "%q must be longer than 0", v.CloseAfter.Duration)
	}
	return nil
}

func (b *BackupConfig) validate() error {
	if b.At != "" && !rollAtPattern.MatchString(b.At) {
		return bad("backup.at", "%q is not a 24-hour HH:MM time (like \"03:30\"), or \"\" for no nightly backup", b.At)
	}
	if b.Keep < 1 || b.Keep > 1000 {
		return bad("backup.keep", "%d is not between 1 and 1000", b.Keep)
	}
	return nil
}

func (m *MetricsConfig) validate() error {
	if m.Token != "" && len(m.Token) < 16 {
		return bad("metrics.token", "must be at least 16 characters (openssl rand -hex 16)")
	}
	for _, a := range m.Allow {
		if _, err := netip.ParseAddr(a); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(a); err != nil {
			return bad("metrics.allow", "%q is neither an IP address nor a CIDR", a)
		}
	}
	return nil
}

func (l *LogConfig) validate() error {
	if err := checkOneOf("log.level", l.Level, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	return checkOneOf("log.format", l.Format, "text", "json")
}

func checkOneOf(key, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return bad(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// checkHostPort accepts "host:port" and ":port" with a numeric port
// (0 lets the system choose, which tests use).
func checkHostPort(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return bad(key, "%q is not a host:port address (like \":8080\")", addr)
	}
	return nil
}

// samePort tells whether two listen addresses would collide: the same
// port, and the same host or either on every address.
func samePort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	wild := func(h string) bool { ip := net.ParseIP(h); return h == "" || (ip != nil && ip.IsUnspecified()) }
	return ha == hb || wild(ha) || wild(hb)
}

func checkHTTPURL(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return bad(key, "%q is not an absolute http(s) URL without query (like \"https://rdv.example.org\")", raw)
	}
	return nil
}

// oneLine keeps an error on one line, as start-up errors must be.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}

// FollowAddr points server.base_url at server.addr when base_url is still
// the default and addr is not: `daraport serve --addr :9000` then prints a
// setup link that works, without also asking for --base-url.
func (c *Config) FollowAddr() {
	def := DefaultConfig().Server
	if c.Server.BaseURL != def.BaseURL || c.Server.Addr == def.Addr {
		return
	}
	host, port, err := net.SplitHostPort(c.Server.Addr)
	if err != nil {
		return
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if c.TLS.Mode != "off" {
		scheme = "https"
	}
	c.Server.BaseURL = scheme + "://" + net.JoinHostPort(host, port)
}
