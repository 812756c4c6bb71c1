package app

// seriesRoutes are the routes of recurring series, waitlist and API tokens (issue 4).
func (s *Server) seriesRoutes() []route { return nil }
