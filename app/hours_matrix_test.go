package app

import "testing"

// hoursMatrix are the route × role rows of this capability.
func hoursMatrix() []matrixRow { return nil }

// hoursFixture adds the objects those rows need to f.ids.
func hoursFixture(t *testing.T, f *matrixFixture) {}
