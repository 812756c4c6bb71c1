package app

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"daraport/store"
)

// API tokens from the profile page (issue 4, item 9): create one with a
// name (its secret is shown once, only its hash is stored), list them with
// their last use, revoke one (it stops working at once: the API reads the
// token row on every request).

const (
	tokenNameMax = 60
	tokensMax    = 20 // live tokens per person
)

func (s *Server) tokensRoutes() []route {
	return []route{
		{method: "GET", path: "/account/tokens", perm: PermOwnAccount, h: s.handleTokens},
		{method: "POST", path: "/account/tokens", perm: PermOwnAccount, h: s.handleTokenCreate},
		{method: "POST", path: "/account/tokens/{id}/revoke", perm: PermOwnAccount, h: s.handleTokenRevoke},
	}
}

type tokensPage struct {
	*Page
	Tokens []tokenView
	Secret string // the token just created, shown once
	Name   string
}

type tokenView struct {
	ID, Name, Created, LastUsed string
}

func (s *Server) tokensPageData(w http.ResponseWriter, r *http.Request) (*tokensPage, error) {
	pg := &tokensPage{Page: s.newPage(w, r, "tokens.title")}
	list, err := s.db.ListAPITokens(r.Context(), actorFrom(r).User.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range list {
		v := tokenView{ID: t.ID, Name: t.Name, Created: pg.DateTime(t.CreatedAt), LastUsed: pg.T("tokens.never")}
		if !t.LastUsedAt.IsZero() {
			v.LastUsed = pg.DateTime(t.LastUsedAt)
		}
		pg.Tokens = append(pg.Tokens, v)
	}
	return pg, nil
}

func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) {
	pg, err := s.tokensPageData(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tokens", pg)
}

// cleanTokenName trims a token name and returns the message id of what is
// wrong with it, if anything.
func cleanTokenName(v string) (string, string) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return v, "error.token_name_required"
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return v, "error.token_name_invalid"
	case utf8.RuneCountInString(v) > tokenNameMax:
		return v, "error.token_name_long"
	}
	return v, ""
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) {
	pg, err := s.tokensPageData(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	name, msg := cleanTokenName(r.PostFormValue("name"))
	pg.Name = name
	if msg != "" {
		pg.fail("name", msg, "Max", tokenNameMax)
		s.render(w, r, http.StatusUnprocessableEntity, "tokens", pg)
		return
	}
	if len(pg.Tokens) >= tokensMax {
		pg.fail("name", "error.tokens_full", "Count", tokensMax)
		s.render(w, r, http.StatusConflict, "tokens", pg)
		return
	}
	a := actorFrom(r)
	var secret string
	err = s.db.Update(r.Context(), func(tx *store.Tx) error {
		var t *store.APIToken
		var err error
		if secret, t, err = tx.CreateAPIToken(r.Context(), a.User.ID, name); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, r, a.User.ID, "token.created", "api_token", t.ID, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	// Rendered, not redirected: the secret exists only in this answer.
	if pg, err = s.tokensPageData(w, r); err != nil {
		s.error(w, r, err)
		return
	}
	pg.Secret, pg.Name = secret, name
	s.render(w, r, http.StatusOK, "tokens", pg)
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	a := actorFrom(r)
	id := r.PathValue("id")
	err := s.db.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.RevokeAPIToken(r.Context(), a.User.ID, id); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, r, a.User.ID, "token.revoked", "api_token", id, "")
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	setFlash(w, "flash.token_revoked")
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
}
