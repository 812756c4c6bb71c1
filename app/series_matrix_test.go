package app

import "testing"

// seriesMatrix are the route × role rows of recurring series, waitlist and API tokens (issue 4).
func seriesMatrix() []matrixRow { return nil }

// seriesFixture prepares what the series rows act on.
func seriesFixture(t *testing.T, f *matrixFixture) {}
