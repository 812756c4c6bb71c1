package app

import "testing"

// opsMatrix are the route × role rows of operations: TLS, backups, metrics, system page (issue 8).
func opsMatrix() []matrixRow { return nil }

// opsFixture prepares what the ops rows act on.
func opsFixture(t *testing.T, f *matrixFixture) {}
