// Command daraport is the whole Daraport practice platform in one binary.
//
//	daraport                      serve on the defaults (./daraport-data, :8080)
//	daraport serve [--config FILE] [--data DIR] [--addr HOST:PORT]
//	daraport demo [--data DIR] [--addr HOST:PORT] [--lang fr|en|de|es]
//	daraport version
//	daraport user add --email E --name N --role R [--practice P] [--org O] [--data DIR]   (password on stdin)
//	daraport token add --email E [--data DIR]
//	daraport backup [--data DIR] [--with-key] FILE
//	daraport restore [--data DIR] FILE
//	daraport doctor [--config FILE] [--data DIR]
//
// Exit status: 0 success, 1 failure, 2 bad usage; failures print one line.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"daraport/app"
	"daraport/assets"
	"daraport/store"
	"daraport/templates"
)

// Set by -ldflags "-X main.version=… -X main.commit=… -X main.date=…".
var version, commit, date string

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version != "" {
		app.Version, app.Commit, app.Date = version, commit, date
	}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(args, stdout, false)
	case "demo":
		err = cmdServe(args, stdout, true)
	case "version":
		v, c, d := app.BuildInfo()
		fmt.Fprintf(stdout, "daraport %s (commit %s, built %s)\n", v, orNone(c), orNone(d))
	case "user":
		if len(args) == 0 || args[0] != "add" {
			err = usageError{"usage: daraport user add --email E --name N --role R [--practice P] [--data DIR]"}
		} else {
			err = cmdUserAdd(args[1:], stdin, stdout)
		}
	case "token":
		if len(args) == 0 || args[0] != "add" {
			err = usageError{"usage: daraport token add --email E [--data DIR]"}
		} else {
			err = cmdTokenAdd(args[1:], stdout)
		}
	case "backup":
		err = cmdBackup(args, stdout)
	case "restore":
		err = cmdRestore(args, stdout)
	case "doctor":
		err = cmdDoctor(args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: daraport [serve|demo|version|user add|token add|backup|restore|doctor] [flags]; see README.md")
	default:
		err = usageError{fmt.Sprintf("unknown command %q (serve, demo, version, user add, token add, backup, restore, doctor)", cmd)}
	}
	if err == nil {
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintln(stderr, "daraport: "+msg)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{fs.Name() + ": " + err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadConfig reads the file (--config, else DARAPORT_CONFIG), the environment,
// then applies the flags given.
func loadConfig(file, data, addr string) (app.Config, error) {
	if file == "" {
		file = os.Getenv("DARAPORT_CONFIG")
	}
	cfg, err := app.LoadConfig(file, os.Environ())
	if err != nil {
		return cfg, err
	}
	if data != "" {
		cfg.Server.DataDir = data
	}
	if addr != "" {
		cfg.Server.Addr = addr
	}
	cfg.FollowAddr()
	return cfg, cfg.Validate()
}

func openStore(ctx context.Context, cfg app.Config) (*store.DB, error) {
	key, err := store.LoadKey(cfg.Server.DataDir, cfg.Security.Key, true)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Options{Dir: cfg.Server.DataDir, Key: key, Synchronous: cfg.Server.Synchronous})
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServe(args []string, stdout io.Writer, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	file := fs.String("config", "", "configuration file (TOML)")
	data := fs.String("data", "", "data directory")
	addr := fs.String("addr", "", "listen address host:port")
	var lang *string
	if demo {
		lang = fs.String("lang", "", "language of the demo: fr, en, de or es (default: brand.default_language)")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", name, pos[0])}
	}
	if demo && *data == "" {
		if *data, err = os.MkdirTemp("", "daraport-demo-"); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*file, *data, *addr)
	if err != nil {
		return usageError{err.Error()}
	}
	if lang != nil && *lang != "" {
		cfg.Brand.DefaultLanguage = *lang
		if err := cfg.Validate(); err != nil {
			return usageError{"demo: --lang must be fr, en, de or es"}
		}
	}
	log := newLogger(cfg, os.Stderr)
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return err
	}
	release, err := store.LockDir(cfg.Server.DataDir)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Server.DataDir, err)
	}
	defer release()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var accounts []app.DemoAccount
	if demo {
		if accounts, err = app.SeedDemo(ctx, db, cfg); err != nil {
			return err
		}
	}
	srv, err := app.New(cfg, db, templates.FS, assets.FS, app.WithLogger(log))
	if err != nil {
		return err
	}
	if demo {
		visit, err := srv.FillDemo(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, srv.DemoWelcome(accounts, visit))
	}
	return srv.Run(ctx)
}

func cmdUserAdd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	email := fs.String("email", "", "e-mail address")
	name := fs.String("name", "", "full name")
	role := fs.String("role", "", "patient, secretary, practitioner, org_admin, affiliate or admin")
	practice := fs.String("practice", "", "practice id (secretaries; optional for practitioners)")
	org := fs.String("org", "", "organization id (org_admin; a new organization when absent)")
	locale := fs.String("locale", "", "fr, en, de or es")
	data := fs.String("data", "", "data directory")
	file := fs.String("config", "", "configuration file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *email == "" || *name == "" || *role == "" {
		return usageError{"usage: daraport user add --email E --name N --role R [--practice P] [--data DIR] (password on standard input)"}
	}
	cfg, err := loadConfig(*file, *data, "")
	if err != nil {
		return usageError{err.Error()}
	}
	pw, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	pw = strings.TrimRight(pw, "\r\n")
	if pw == "" {
		return usageError{"user add: give the password on standard input"}
	}
	ctx := context.Background()
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	uid, pid, err := app.AddUser(ctx, db, cfg, app.UserSpec{Email: *email, Name: *name, Role: *role, PracticeID: *practice, Password: pw, Locale: *locale, OrganizationID: *org})
	if err != nil {
		return err
	}
	out := map[string]string{"user_id": uid}
	switch *role {
	case "practitioner", "secretary":
		out["practice_id"] = pid
	case "org_admin":
		out["organization_id"] = pid
	}
	return json.NewEncoder(stdout).Encode(out)
}

func cmdTokenAdd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token add", flag.ContinueOnError)
	email := fs.String("email", "", "e-mail address of the account")
	data := fs.String("data", "", "data directory")
	file := fs.String("config", "", "configuration file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *email == "" {
		return usageError{"usage: daraport token add --email E [--data DIR]"}
	}
	cfg, err := loadConfig(*file, *data, "")
	if err != nil {
		return usageError{err.Error()}
	}
	ctx := context.Background()
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := app.AddToken(ctx, db, *email)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func cmdBackup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	data := fs.String("data", "", "data directory")
	withKey := fs.Bool("with-key", false, "put the at-rest encryption key in the backup too")
	file := fs.String("config", "", "configuration file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: daraport backup [--data DIR] [--with-key] FILE"}
	}
	cfg, err := loadConfig(*file, *data, "")
	if err != nil {
		return usageError{err.Error()}
	}
	if _, err := os.Stat(filepath.Join(cfg.Server.DataDir, store.DBFile)); err != nil {
		return fmt.Errorf("no database in %s", cfg.Server.DataDir)
	}
	ctx := context.Background()
	key, err := store.LoadKey(cfg.Server.DataDir, cfg.Security.Key, false)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, store.Options{Dir: cfg.Server.DataDir, Key: key, NoMigrate: true})
	if err != nil {
		return err
	}
	defer db.Close()
	var k []byte
	if *withKey {
		k = key
	}
	start := time.Now()
	if err := db.Backup(ctx, pos[0], k); err != nil {
		return err
	}
	note := "without the encryption key: keep " + filepath.Join(cfg.Server.DataDir, store.KeyFile) + " (fingerprint " + store.KeyFingerprint(key) + ") safe apart"
	if *withKey {
		note = "with the encryption key inside: protect this file"
	}
	fmt.Fprintf(stdout, "backup written to %s in %s, %s\n", pos[0], time.Since(start).Round(time.Millisecond), note)
	return nil
}

func cmdRestore(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	data := fs.String("data", "", "data directory")
	file := fs.String("config", "", "configuration file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: daraport restore [--data DIR] FILE"}
	}
	cfg, err := loadConfig(*file, *data, "")
	if err != nil {
		return usageError{err.Error()}
	}
	if err := store.Restore(context.Background(), cfg.Server.DataDir, pos[0], cfg.Security.Key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", pos[0], cfg.Server.DataDir)
	return nil
}

func cmdDoctor(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	file := fs.String("config", "", "configuration file (TOML)")
	data := fs.String("data", "", "data directory")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"usage: daraport doctor [--config FILE] [--data DIR]"}
	}
	if n := app.Doctor(context.Background(), app.DoctorOptions{ConfigFile: *file, DataDir: *data, Environ: os.Environ()}, stdout); n > 0 {
		return fmt.Errorf("doctor found %d problem(s): see above", n)
	}
	return nil
}
