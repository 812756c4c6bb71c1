package app

import "testing"

// blocksMatrix are the route × role rows of this capability.
func blocksMatrix() []matrixRow { return nil }

// blocksFixture adds the objects those rows need to f.ids.
func blocksFixture(t *testing.T, f *matrixFixture) {}
