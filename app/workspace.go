package app

// workspaceRoutes are the routes of the practice workspace (issue 5).
func (s *Server) workspaceRoutes() []route { return nil }
