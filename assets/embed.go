// Package assets embeds Daraport's static files (CSS, JavaScript, icons),
// served under content-hashed names.
package assets

import "embed"

// FS holds the asset files.
//
//go:embed css js img
var FS embed.FS
