package app

// hoursRoutes are the hours and planning generation pages and API.
func (s *Server) hoursRoutes() []route { return nil }
