//go:build unix

package app

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ownerProblem says why the owner of fi is not the user running Daraport,
// or "". Root writes anywhere, so only the mode bits matter then.
func ownerProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if euid := os.Geteuid(); euid != 0 && int(st.Uid) != euid && fi.Mode().Perm()&0o002 == 0 {
		return fmt.Sprintf("it belongs to uid %d, not to the user running Daraport (uid %d)", st.Uid, euid)
	}
	return ""
}
