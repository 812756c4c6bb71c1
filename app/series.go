package app

import (
	"context"

	"daraport/store"
)

// seriesRoutes are the routes of recurring series, waitlist and API tokens (issue 4).
func (s *Server) seriesRoutes() []route { return nil }

// seriesOnChange offers time freed by a cancellation or a move to the
// waitlist, in the change's transaction.
func (s *Server) seriesOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error { return nil }
