package app

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"daraport/store"
)

// templates holds every page parsed with the base layout and the partials,
// and the e-mail templates. Parsing happens once, at start.
type templates struct {
	pages map[string]*template.Template
	mail  *template.Template
}

func parseTemplates(fsys fs.FS, funcs template.FuncMap) (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}}
	pages, err := fs.Glob(fsys, "pages/*.html")
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("templates: no pages found")
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		tp, err := template.New("base.html").Funcs(funcs).ParseFS(fsys, "base.html", "partials.html", p)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
		t.pages[name] = tp
	}
	if t.mail, err = template.New("email.html").Funcs(funcs).ParseFS(fsys, "email.html"); err != nil {
		return nil, fmt.Errorf("templates: email.html: %w", err)
	}
	return t, nil
}

func (s *Server) templateFuncs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) (string, error) { return s.assets.url(name) },
		"join":  strings.Join,
		"eq2":   func(a, b string) bool { return a == b },
		"split": func(s string) []string { return strings.Split(s, "\n\n") },
	}
}

// Page is what every page template gets: the language, the signed-in person,
// the menu and the messages. Page-specific data embeds it.
type Page struct {
	Lang      string
	Title     string
	Brand     string
	Path      string
	User      *store.User
	Actor     *Actor
	Menu      []MenuSection
	Flash     string
	Error     string
	Errors    map[string]string // field → message
	Languages []LangChoice
	Loc       *time.Location
	Journeys  map[string]bool // the patient journeys the installation offers

	cat *catalog
}

// LangChoice is one entry of the language menu.
type LangChoice struct {
	Code, Name string
	Current    bool
}

// T translates a catalogue id in the page's language; args are name/value pairs.
func (p *Page) T(id string, args ...any) string { return p.cat.T(p.Lang, id, args...) }

// Date formats a date for the page's language, in the viewer's zone.
func (p *Page) Date(t time.Time) string { return formatDate(p.Lang, t, p.Loc) }

// DateTime formats a date and time for the page's language, in the viewer's zone.
func (p *Page) DateTime(t time.Time) string { return formatDateTime(p.Lang, t, p.Loc) }

// FieldError returns the message for a form field, if any.
func (p *Page) FieldError(field string) string { return p.Errors[field] }

// Has tells whether the signed-in person holds a role (any scope).
func (p *Page) Has(role string) bool { return p.Actor != nil && p.Actor.Has(role) }

// fail records a field error (a catalogue id) on the page.
func (p *Page) fail(field, id string, args ...any) {
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	if _, ok := p.Errors[field]; !ok {
		p.Errors[field] = p.T(id, args...)
	}
}

// failed tells whether any field error was recorded.
func (p *Page) failed() bool { return len(p.Errors) > 0 || p.Error != "" }

type pageData interface{ page() *Page }

func (p *Page) page() *Page { return p }

// newPage prepares the common part of a page.
func (s *Server) newPage(w http.ResponseWriter, r *http.Request, titleID string) *Page {
	a := actorFrom(r)
	var u *store.User
	var locale string
	if a != nil {
		u = a.User
		locale = u.Locale
	}
	lang := s.requestLanguage(r, locale)
	p := &Page{Lang: lang, Brand: s.cfg.Brand.Name, Path: r.URL.Path, User: u, Actor: a, cat: s.i18n, Loc: s.viewerLocation(u)}
	p.Title = p.T(titleID)
	p.Journeys = s.journeys()
	for _, l := range Languages {
		p.Languages = append(p.Languages, LangChoice{Code: l, Name: languageNames[l], Current: l == lang})
	}
	p.Menu = s.menu(p)
	if f := takeFlash(w, r); f != "" {
		p.Flash = p.T(f)
	}
	return p
}

func (s *Server) viewerLocation(u *store.User) *time.Location {
	name := s.cfg.Server.TimeZone
	if u != nil && u.TimeZone != "" {
		name = u.TimeZone
	}
	return s.location(name)
}

// location returns the named zone, loaded once (time.LoadLocation reads and
// parses the zone data on every call); UTC for an unknown name.
func (s *Server) location(name string) *time.Location {
	if v, ok := s.zones.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = time.UTC
	}
	s.zones.Store(name, loc)
	return loc
}

// render executes a page into a buffer, then writes it with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) {
	t, ok := s.tmpl.pages[name]
	if !ok {
		s.log.Error("unknown page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer func() {
		if buf.Cap() <= 256<<10 { // keep ordinary pages' buffers, drop huge ones
			s.bufs.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, "base.html", data); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// MenuSection is one portal of the menu ("Espace Patients", …).
type MenuSection struct {
	Title string
	Items []MenuItem
}

// MenuItem is one link of the menu.
type MenuItem struct {
	Label, Href string
	Current     bool
}

// menu builds the portal menus the signed-in person's roles allow (seed 004:
// Espace Patients, Espace Professionnels, Espace Secrétaires, Communiquer,
// plus Organization, Affiliate and Admin).
func (s *Server) menu(p *Page) []MenuSection {
	item := func(id, href string) MenuItem {
		return MenuItem{Label: p.T(id), Href: href, Current: p.Path == href}
	}
	var out []MenuSection
	patients := MenuSection{Title: p.T("menu.patients"), Items: []MenuItem{item("menu.find", "/")}}
	a := p.Actor
	if a == nil {
		out = append(out, patients, MenuSection{Title: p.T("menu.pros"), Items: []MenuItem{item("menu.pro_join", "/pro/apply")}},
			MenuSection{Title: p.T("menu.communicate"), Items: []MenuItem{item("menu.contact", "/contact")}})
		return out
	}
	patients.Items = append(patients.Items, item("menu.my_appointments", "/appointments"))
	if p.Journeys["assisted"] {
		patients.Items = append(patients.Items, item("request.mine_title", "/requests"))
	}
	patients.Items = append(patients.Items, item("menu.account", "/account"))
	out = append(out, patients)
	pros := MenuSection{Title: p.T("menu.pros")}
	if a.Has(store.RolePractitioner) {
		// Seed 004: the planning is always the practitioner's first entry.
		if ids := a.Practices(store.RolePractitioner); len(ids) > 0 {
			pros.Items = append(pros.Items, item("menu.ws_visits", "/pro/p/"+ids[0]+"/visits"))
		}
		pros.Items = append(pros.Items, item("menu.pro_home", "/pro"))
		// A practitioner nearly always has one practice: link straight to
		// its pages (others are reached from /pro).
		if ids := a.Practices(store.RolePractitioner); len(ids) > 0 {
			base := "/pro/p/" + ids[0]
			pros.Items = append(pros.Items, item("menu.pro_settings", base+"/settings"), item("menu.pro_hours", base+"/hours"),
				item("menu.pro_planning", base+"/planning"),
				item("menu.pro_types", base+"/types"), item("menu.pro_absences", base+"/absences"), item("menu.pro_feed", base+"/feed"),
				item("menu.pro_notices", base+"/notices"))
		}
	} else {
		pros.Items = append(pros.Items, item("menu.pro_join", "/pro/apply"))
	}
	out = append(out, pros)
	if a.Has(store.RoleSecretary) || a.Has(store.RolePractitioner) {
		desk := MenuSection{Title: p.T("menu.secretaries"), Items: []MenuItem{item("menu.ws_desk", "/desk"), item("menu.secretary_home", "/secretary")}}
		ids := append(a.Practices(store.RolePractitioner), a.Practices(store.RoleSecretary)...)
		if len(ids) > 0 && p.Journeys["assisted"] {
			desk.Items = append(desk.Items, item("request.staff_title", "/pro/p/"+ids[0]+"/requests"))
		}
		if len(ids) > 0 {
			desk.Items = append(desk.Items, item("menu.series", seriesHref(ids[0], ""))) // series.go
		}
		if sec := a.Practices(store.RoleSecretary); len(sec) > 0 && !a.Has(store.RolePractitioner) {
			desk.Items = append(desk.Items, item("menu.pro_absences", "/pro/p/"+sec[0]+"/absences"), item("menu.pro_notices", "/pro/p/"+sec[0]+"/notices"))
		}
		out = append(out, desk)
	}
	if a.Has(store.RoleOrgAdmin) {
		out = append(out, MenuSection{Title: p.T("menu.organization"), Items: []MenuItem{item("menu.org_home", "/org")}})
	}
	if a.Has(store.RoleAffiliate) {
		out = append(out, MenuSection{Title: p.T("menu.affiliate"), Items: []MenuItem{item("menu.affiliate_home", "/affiliate")}})
	}
	out = append(out, MenuSection{Title: p.T("menu.communicate"), Items: []MenuItem{item("menu.contact", "/contact")}})
	if a.Has(store.RoleAdmin) {
		out = append(out, MenuSection{Title: p.T("menu.admin"), Items: []MenuItem{
			item("menu.admin_home", "/admin"), item("menu.admin_users", "/admin/users"),
			item("menu.admin_verifications", "/admin/verifications"), item("menu.admin_orgs", "/admin/organizations"),
			item("menu.admin_planning", "/admin/planning"), item("menu.admin_audit", "/admin/audit"),
			item("menu.admin_outbox", "/admin/outbox"), item("menu.admin_messages", "/admin/messages"),
			item("menu.admin_system", "/admin/system"),
		}})
	}
	return out
}

// setFlash leaves a one-time message (a catalogue id) for the next page.
func setFlash(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: "flash", Value: id, Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie("flash")
	if err != nil || c.Value == "" {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: "flash", Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if !strings.HasPrefix(c.Value, "flash.") {
		return ""
	}
	return c.Value
}
