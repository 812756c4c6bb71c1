package app

import "testing"

// typesMatrix are the route × role rows of this capability.
func typesMatrix() []matrixRow { return nil }

// typesFixture adds the objects those rows need to f.ids.
func typesFixture(t *testing.T, f *matrixFixture) {}
