package app

import "testing"

// deliveryMatrix are the route × role rows of outbox delivery, SMTP, SMS and webhooks transport (issue 6).
func deliveryMatrix() []matrixRow { return nil }

// deliveryFixture prepares what the delivery rows act on.
func deliveryFixture(t *testing.T, f *matrixFixture) {}
