package app

import "testing"

// settingsMatrix are the route × role rows of this capability.
func settingsMatrix() []matrixRow { return nil }

// settingsFixture adds the objects those rows need to f.ids.
func settingsFixture(t *testing.T, f *matrixFixture) {}
