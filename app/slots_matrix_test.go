package app

import "testing"

// slotsMatrix are the route × role rows of this capability.
func slotsMatrix() []matrixRow { return nil }

// slotsFixture adds the objects those rows need to f.ids.
func slotsFixture(t *testing.T, f *matrixFixture) {}
