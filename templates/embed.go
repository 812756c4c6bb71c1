// Package templates embeds Daraport's html/template files: base.html (the
// layout), partials.html (shared blocks), pages/*.html (one per page) and
// email.html (the e-mail layout).
package templates

import "embed"

// FS holds the template files.
//
//go:embed *.html pages/*.html
var FS embed.FS
