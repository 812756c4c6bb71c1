package app

// opsRoutes are the routes of operations: TLS, backups, metrics, system page (issue 8).
func (s *Server) opsRoutes() []route { return nil }
