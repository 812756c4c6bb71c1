package app

// noticesRoutes are the routes of appointment messages, calendar invites, reminders and webhooks (issues 4 and 6).
func (s *Server) noticesRoutes() []route { return nil }
