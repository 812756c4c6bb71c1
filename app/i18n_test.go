package app

import (
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestCatalogueComplete fails when a language lacks a message another one
// has, or when a translation drops or invents a placeholder.
func TestCatalogueComplete(t *testing.T) {
	locales, _ := fs.Sub(localesFS, "locales")
	c, err := newCatalog(locales)
	if err != nil {
		t.Fatal(err)
	}
	for lang, ids := range c.missing() {
		if len(ids) > 0 {
			t.Errorf("%s lacks %d messages: %s", lang, len(ids), strings.Join(ids[:min(len(ids), 15)], ", "))
		}
	}
	ph := regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)
	files, _ := fs.Glob(locales, "*.toml")
	texts := map[string]map[string]string{} // id → lang → text
	for _, f := range files {
		parts := strings.Split(f, ".")
		lang := parts[len(parts)-2]
		var m map[string]string
		if _, err := toml.DecodeFS(locales, f, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for id, v := range m {
			if texts[id] == nil {
				texts[id] = map[string]string{}
			}
			texts[id][lang] = v
		}
	}
	names := func(s string) string {
		var out []string
		for _, m := range ph.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	for id, byLang := range texts {
		want := names(byLang["en"])
		for lang, v := range byLang {
			if got := names(v); got != want {
				t.Errorf("%s [%s]: placeholders %q, English has %q", id, lang, got, want)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s [%s] is empty", id, lang)
			}
		}
	}
}

// TestCatalogueCoversCode fails when a page or the Go code asks for a
// message id the English catalogue does not define.
func TestCatalogueCoversCode(t *testing.T) {
	locales, _ := fs.Sub(localesFS, "locales")
	c, err := newCatalog(locales)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{}
	tmplRe := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	goRe := regexp.MustCompile(`"((?:error|flash|nav|menu|form|captcha)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)"`)
	pageRe := regexp.MustCompile(`new(?:Auth)?Page\([^,]+, [^,]+, "([a-z0-9_.]+)"\)`)
	walk := func(root string, re ...*regexp.Regexp) {
		err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			if !strings.HasSuffix(p, ".html") && !strings.HasSuffix(p, ".go") {
				return nil
			}
			b, err := os.ReadFile(root + "/" + p)
			if err != nil {
				return err
			}
			for _, r := range re {
				for _, m := range r.FindAllStringSubmatch(string(b), -1) {
					used[m[1]] = root + "/" + p
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk("../templates", tmplRe)
	walk(".", goRe, pageRe)
	if len(used) < 50 {
		t.Fatalf("found only %d message ids: the scan is broken", len(used))
	}
	for id, where := range used {
		if !c.ids["en"][id] {
			t.Errorf("%s uses %q, which the catalogue lacks", where, id)
		}
	}
}

func TestRequestLanguage(t *testing.T) {
	t.Parallel()
	locales, _ := fs.Sub(localesFS, "locales")
	c, err := newCatalog(locales)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ accept, want string }{
		{"de-DE,de;q=0.9,en;q=0.5", "de"},
		{"es-MX", "es"},
		{"fr-CA,en;q=0.3", "fr"},
		{"en-GB", "en"},
		{"it-IT", ""},
		{"", ""},
		{"garbage;;q=", ""},
	} {
		if got := c.match(tc.accept); got != tc.want {
			t.Errorf("match(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
}
