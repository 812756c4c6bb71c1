package app

// workspaceRoutes are the routes of the practice workspace (issue 5).
func (s *Server) workspaceRoutes() []route { return nil }

// workspaceCommitted pushes a committed change to the open planning views.
func (s *Server) workspaceCommitted(ev apptEvent) {}
