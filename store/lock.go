package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LockFile is the name of the lock file inside the data directory. The file
// itself is never removed: removing it would let two processes lock two
// different files of the same name.
const LockFile = "daraport.lock"

// ErrLocked means another process (or another LockDir call in this process)
// holds the data directory: a server is running on it.
var ErrLocked = errors.New("store: data directory in use by a running server")

// LockDir takes an exclusive, non-blocking lock on dir/daraport.lock,
// creating the file (0600) if needed. The server holds it while it runs;
// Restore takes it so that it never replaces a database under a live server.
// The operating system drops the lock when the process exits, so a crash
// leaves no stale lock behind.
//
// It returns ErrLocked if the lock is already held, by this process or
// another. release unlocks and closes the file; call it once.
func LockDir(dir string) (release func() error, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	return func() error {
		return errors.Join(unlockFile(f), f.Close())
	}, nil
}
