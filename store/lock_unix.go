//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes a flock(2) lock. flock locks belong to the open file
// description, so a second open of the same file conflicts even inside one
// process, unlike fcntl(2) record locks (which SQLite itself uses).
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EAGAIN):
			return ErrLocked
		default:
			return err
		}
	}
}

func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
