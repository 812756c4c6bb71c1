package app

import "testing"

// noticesMatrix are the route × role rows of appointment messages, calendar invites, reminders and webhooks (issues 4 and 6).
func noticesMatrix() []matrixRow { return nil }

// noticesFixture prepares what the notices rows act on.
func noticesFixture(t *testing.T, f *matrixFixture) {}
