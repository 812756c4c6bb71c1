package app

import (
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Languages are the languages Daraport speaks, in the order shown to people.
var Languages = []string{"fr", "en", "de", "es"}

// languageNames are shown in the language menu, each in its own language.
var languageNames = map[string]string{"fr": "Français", "en": "English", "de": "Deutsch", "es": "Español"}

// catalog holds the message catalogues (app/locales/*.<lang>.toml) and
// answers lookups. Messages without arguments are cached per language, since
// a page asks for dozens of them.
type catalog struct {
	bundle     *i18n.Bundle
	matcher    language.Matcher
	localizers map[string]*i18n.Localizer
	cache      sync.Map // lang + "\x00" + id → string
	ids        map[string]map[string]bool
}

func newCatalog(fsys fs.FS) (*catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("i18n: no catalogue files")
	}
	c := &catalog{bundle: b, localizers: map[string]*i18n.Localizer{}, ids: map[string]map[string]bool{}}
	for _, f := range files {
		mf, err := b.LoadMessageFileFS(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", f, err)
		}
		lang := mf.Tag.String()
		if c.ids[lang] == nil {
			c.ids[lang] = map[string]bool{}
		}
		for _, m := range mf.Messages {
			if c.ids[lang][m.ID] {
				return nil, fmt.Errorf("i18n: %s: message %q defined twice", f, m.ID)
			}
			c.ids[lang][m.ID] = true
		}
	}
	tags := make([]language.Tag, len(Languages))
	for i, l := range Languages {
		tags[i] = language.MustParse(l)
		c.localizers[l] = i18n.NewLocalizer(b, l)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// missing reports, per language, the message ids another language has and it lacks.
func (c *catalog) missing() map[string][]string {
	all := map[string]bool{}
	for _, ids := range c.ids {
		for id := range ids {
			all[id] = true
		}
	}
	out := map[string][]string{}
	for _, l := range Languages {
		for id := range all {
			if !c.ids[l][id] {
				out[l] = append(out[l], id)
			}
		}
		sort.Strings(out[l])
	}
	return out
}

// supported returns lang if Daraport speaks it, else "".
func supported(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	for _, l := range Languages {
		if l == lang {
			return l
		}
	}
	return ""
}

// match picks a language from an Accept-Language header, or "".
func (c *catalog) match(accept string) string {
	if accept == "" {
		return ""
	}
	prefs, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(prefs) == 0 {
		return ""
	}
	_, idx, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return ""
	}
	return Languages[idx]
}

// T returns the message id in lang, formatted with args given as name/value
// pairs ("Name", "Ana"). A "Count" argument selects the plural form. A
// missing message returns the id itself, which tests catch.
func (c *catalog) T(lang, id string, args ...any) string {
	if len(args) == 0 {
		key := lang + "\x00" + id
		if v, ok := c.cache.Load(key); ok {
			return v.(string)
		}
		s := c.localize(lang, id, nil, nil)
		c.cache.Store(key, s)
		return s
	}
	data := map[string]any{}
	var count any
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		data[k] = args[i+1]
		if k == "Count" {
			count = args[i+1]
		}
	}
	return c.localize(lang, id, data, count)
}

func (c *catalog) localize(lang, id string, data map[string]any, count any) string {
	l := c.localizers[lang]
	if l == nil {
		l = c.localizers["en"]
	}
	// go-i18n reports an error but still returns the text when a language
	// lacks a plural form; only an empty answer means the id is unknown.
	s, _ := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if s == "" {
		return id
	}
	return s
}

// dateLayouts are the numeric date and time layouts per language.
var dateLayouts = map[string][2]string{
	"fr": {"02/01/2006", "15:04"},
	"en": {"2 Jan 2006", "15:04"},
	"de": {"02.01.2006", "15:04"},
	"es": {"02/01/2006", "15:04"},
}

// formatDate formats t's calendar date for lang, in loc.
func formatDate(lang string, t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	l, ok := dateLayouts[lang]
	if !ok {
		l = dateLayouts["en"]
	}
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format(l[0])
}

// formatDateTime formats date and time for lang, in loc.
func formatDateTime(lang string, t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	l, ok := dateLayouts[lang]
	if !ok {
		l = dateLayouts["en"]
	}
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format(l[0] + " " + l[1])
}

// requestLanguage decides the language of a response: the signed-in user's
// choice, else the lang cookie, else Accept-Language, else the brand default.
func (s *Server) requestLanguage(r *http.Request, userLocale string) string {
	if l := supported(userLocale); l != "" {
		return l
	}
	if c, err := r.Cookie("lang"); err == nil {
		if l := supported(c.Value); l != "" {
			return l
		}
	}
	if l := s.i18n.match(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	return s.defaultLanguage()
}
