package app

// deliveryRoutes are the routes of outbox delivery, SMTP, SMS and webhooks
// transport (issue 6): the admin's test e-mail and "retry now" buttons of
// the outbox viewer (admin.go shows the list; delivery_admin.go acts).
func (s *Server) deliveryRoutes() []route {
	return []route{
		{method: "POST", path: "/admin/outbox/test", perm: PermAdmin, h: s.handleDeliveryTest},
		{method: "POST", path: "/admin/outbox/retry-failed", perm: PermAdmin, h: s.handleDeliveryRetryFailed},
		{method: "POST", path: "/admin/outbox/{id}/retry", perm: PermAdmin, h: s.handleDeliveryRetry},
	}
}
