//go:build !unix

package app

import "io/fs"

// ownerProblem: ownership is not checked here; the write attempt decides.
func ownerProblem(fi fs.FileInfo) string { return "" }
