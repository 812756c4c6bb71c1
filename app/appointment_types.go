package app

// typesRoutes are the appointment types ("motifs") pages and API.
func (s *Server) typesRoutes() []route { return nil }
