package app

import "testing"

// workspaceMatrix are the route × role rows of the practice workspace (issue 5).
func workspaceMatrix() []matrixRow { return nil }

// workspaceFixture prepares what the workspace rows act on.
func workspaceFixture(t *testing.T, f *matrixFixture) {}
