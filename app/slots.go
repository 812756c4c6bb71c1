package app

// slotsRoutes are the free-slot query and the private calendar feed.
func (s *Server) slotsRoutes() []route { return nil }
