package app

import (
	"context"

	"daraport/store"
)

// noticesRoutes are the routes of appointment messages, calendar invites, reminders and webhooks (issues 4 and 6).
func (s *Server) noticesRoutes() []route { return nil }

// noticesOnChange writes, in the change's transaction, what the change
// causes beyond the patient's e-mail: calendar invites, reminders, webhooks.
func (s *Server) noticesOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error { return nil }
