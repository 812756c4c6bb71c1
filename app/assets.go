package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// assetSet serves the embedded assets/ folder under content-hashed names
// (/assets/app.3f2a9c1b.css) with immutable caching: a new build changes the
// name, so browsers never keep a stale file.
type assetSet struct {
	byName   map[string]string // "css/app.css" → "/assets/css/app.3f2a9c1b.css"
	byHashed map[string]asset  // "css/app.3f2a9c1b.css" → content
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

func newAssetSet(fsys fs.FS) (*assetSet, error) {
	a := &assetSet{byName: map[string]string{}, byHashed: map[string]asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])[:12]
		ext := path.Ext(p)
		hashed := strings.TrimSuffix(p, ext) + "." + h + ext
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.byName[p] = "/assets/" + hashed
		a.byHashed[hashed] = asset{body: b, ctype: ctype, etag: `"` + h + `"`}
		return nil
	})
	return a, err
}

// url returns the hashed URL of an asset; an unknown name is a template bug
// that parse-time checks in tests catch.
func (a *assetSet) url(name string) (string, error) {
	u, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("unknown asset %q", name)
	}
	return u, nil
}

func (a *assetSet) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	f, ok := a.byHashed[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", f.etag)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}
