package app

// blocksRoutes are the absences, holidays and blocks pages and API.
func (s *Server) blocksRoutes() []route { return nil }
