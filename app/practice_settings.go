package app

// settingsRoutes are the practice settings pages and API (helper-owned file).
func (s *Server) settingsRoutes() []route { return nil }
