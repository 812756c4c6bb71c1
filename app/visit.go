package app

// visitRoutes are the routes of video visits (issue 7).
func (s *Server) visitRoutes() []route { return nil }
