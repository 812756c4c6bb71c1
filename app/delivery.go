package app

// deliveryRoutes are the routes of outbox delivery, SMTP, SMS and webhooks transport (issue 6).
func (s *Server) deliveryRoutes() []route { return nil }
