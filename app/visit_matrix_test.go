package app

import "testing"

// visitMatrix are the route × role rows of video visits (issue 7).
func visitMatrix() []matrixRow { return nil }

// visitFixture prepares what the visit rows act on.
func visitFixture(t *testing.T, f *matrixFixture) {}
