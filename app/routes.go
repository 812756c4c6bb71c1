package app

// routeTable lists every route with the permission the policy checks first.
// The route × role test walks this table and fails on any route it does not
// cover.
func (s *Server) routeTable() []route {
	rs := []route{
		// Public pages.
		{method: "GET", path: "/{$}", perm: PermPublic, h: s.handleHome},
		{method: "GET", path: "/healthz", perm: PermPublic, h: s.handleHealth},
		{method: "POST", path: "/lang", perm: PermPublic, h: s.handleLanguage},
		{method: "GET", path: "/setup", perm: PermPublic, h: s.handleSetup},
		{method: "POST", path: "/setup", perm: PermPublic, h: s.handleSetupSubmit},
		{method: "GET", path: "/register", perm: PermPublic, h: s.handleRegister},
		{method: "POST", path: "/register", perm: PermPublic, h: s.handleRegisterSubmit},
		{method: "GET", path: "/verify", perm: PermPublic, h: s.handleVerify},
		{method: "POST", path: "/verify", perm: PermPublic, h: s.handleVerifySubmit},
		{method: "GET", path: "/login", perm: PermPublic, h: s.handleLogin},
		{method: "POST", path: "/login", perm: PermPublic, h: s.handleLoginSubmit},
		{method: "GET", path: "/login/2fa", perm: PermPublic, h: s.handleLogin2FA},
		{method: "POST", path: "/login/2fa", perm: PermPublic, h: s.handleLogin2FASubmit},
		{method: "POST", path: "/logout", perm: PermPublic, h: s.handleLogout},
		{method: "GET", path: "/reset", perm: PermPublic, h: s.handleReset},
		{method: "POST", path: "/reset", perm: PermPublic, h: s.handleResetSubmit},
		{method: "GET", path: "/reset/confirm", perm: PermPublic, h: s.handleResetConfirm},
		{method: "POST", path: "/reset/confirm", perm: PermPublic, h: s.handleResetConfirmSubmit},
		{method: "GET", path: "/contact", perm: PermPublic, h: s.handleContact},
		{method: "POST", path: "/contact", perm: PermPublic, h: s.handleContactSubmit},

		// Consent and the person's own account.
		{method: "GET", path: "/consent", perm: PermSignedIn, h: s.handleConsent},
		{method: "POST", path: "/consent", perm: PermSignedIn, h: s.handleConsentSubmit},
		{method: "GET", path: "/account", perm: PermOwnAccount, h: s.handleAccount},
		{method: "POST", path: "/account", perm: PermOwnAccount, h: s.handleAccountSubmit},
		{method: "POST", path: "/account/password", perm: PermOwnAccount, h: s.handlePasswordChange},
		{method: "GET", path: "/account/sessions", perm: PermOwnAccount, h: s.handleSessions},
		{method: "POST", path: "/account/sessions/{id}/revoke", perm: PermOwnAccount, h: s.handleSessionRevoke},
		{method: "POST", path: "/account/sessions/revoke-others", perm: PermOwnAccount, h: s.handleSessionRevokeOthers},
		{method: "GET", path: "/account/2fa", perm: PermOwnAccount, h: s.handleTOTP},
		{method: "POST", path: "/account/2fa/enable", perm: PermOwnAccount, h: s.handleTOTPEnable},
		{method: "POST", path: "/account/2fa/disable", perm: PermOwnAccount, h: s.handleTOTPDisable},
		{method: "GET", path: "/account/privacy", perm: PermOwnAccount, h: s.handlePrivacy},
		{method: "POST", path: "/account/privacy", perm: PermOwnAccount, h: s.handlePrivacySubmit},
		{method: "GET", path: "/documents/{id}", perm: PermSignedIn, h: s.handleDocument},

		// Portals.
		{method: "GET", path: "/pro/apply", perm: PermPublic, h: s.handleProApply},
		{method: "POST", path: "/pro/apply", perm: PermSignedIn, h: s.handleProApplySubmit},
		{method: "GET", path: "/pro", perm: PermPractitioner, h: s.handleProHome},
		{method: "GET", path: "/secretary", perm: PermPracticeStaff, h: s.handleSecretaryHome},
		{method: "GET", path: "/org", perm: PermOrgAdmin, h: s.handleOrgHome},
		{method: "GET", path: "/affiliate", perm: PermAffiliate, h: s.handleAffiliateHome},

		// Administration.
		{method: "GET", path: "/admin", perm: PermAdmin, h: s.handleAdminHome},
		{method: "GET", path: "/admin/users", perm: PermAdmin, h: s.handleAdminUsers},
		{method: "GET", path: "/admin/users/{id}", perm: PermAdmin, h: s.handleAdminUser},
		{method: "POST", path: "/admin/users/{id}/disable", perm: PermAdmin, h: s.handleAdminUserDisable},
		{method: "POST", path: "/admin/users/{id}/enable", perm: PermAdmin, h: s.handleAdminUserEnable},
		{method: "POST", path: "/admin/users/{id}/roles", perm: PermAdmin, h: s.handleAdminUserRoles},
		{method: "GET", path: "/admin/verifications", perm: PermAdmin, h: s.handleAdminVerifications},
		{method: "GET", path: "/admin/verifications/{id}", perm: PermAdmin, h: s.handleAdminVerification},
		{method: "POST", path: "/admin/verifications/{id}/approve", perm: PermAdmin, h: s.handleAdminVerificationApprove},
		{method: "POST", path: "/admin/verifications/{id}/reject", perm: PermAdmin, h: s.handleAdminVerificationReject},
		{method: "GET", path: "/admin/organizations", perm: PermAdmin, h: s.handleAdminOrganizations},
		{method: "POST", path: "/admin/organizations", perm: PermAdmin, h: s.handleAdminOrganizationCreate},
		{method: "GET", path: "/admin/organizations/{id}", perm: PermAdmin, h: s.handleAdminOrganization},
		{method: "POST", path: "/admin/organizations/{id}/practices", perm: PermAdmin, h: s.handleAdminOrganizationPractices},
		{method: "POST", path: "/admin/organizations/{id}/admins", perm: PermAdmin, h: s.handleAdminOrganizationAdmins},
		{method: "GET", path: "/admin/audit", perm: PermAdmin, h: s.handleAdminAudit},
		{method: "GET", path: "/admin/outbox", perm: PermAdmin, h: s.handleAdminOutbox},
		{method: "GET", path: "/admin/outbox/{id}", perm: PermAdmin, h: s.handleAdminOutboxMessage},
		{method: "GET", path: "/admin/messages", perm: PermAdmin, h: s.handleAdminMessages},
		{method: "POST", path: "/admin/messages/{id}/handled", perm: PermAdmin, h: s.handleAdminMessageHandled},

		// JSON API.
		{method: "GET", path: "/api/v1/openapi.json", perm: PermPublic, h: s.handleOpenAPI},
		{method: "GET", path: "/api/v1/me", perm: PermSignedIn, h: s.handleAPIMe},
		{method: "GET", path: "/api/v1/practitioners", perm: PermPublic, h: s.handleAPIPractitioners},
	}
	// Each capability keeps its routes beside its handlers.
	for _, more := range [][]route{
		s.settingsRoutes(),     // practice_settings.go
		s.hoursRoutes(),        // practice_hours.go
		s.typesRoutes(),        // appointment_types.go
		s.blocksRoutes(),       // blocks.go
		s.slotsRoutes(),        // slots.go
		s.appointmentsRoutes(), // appointments.go
		s.directoryRoutes(),    // directory.go
		s.intakeRoutes(), s.journeysRoutes(),
		s.bookPagesRoutes(), s.myAppointmentsRoutes(),
		s.seriesRoutes(),    // series.go
		s.deliveryRoutes(),  // delivery.go
		s.noticesRoutes(),   // notices.go
		s.visitRoutes(),     // visit.go
		s.opsRoutes(),       // ops.go
		s.workspaceRoutes(), // workspace.go
	} {
		rs = append(rs, more...)
	}
	return rs
}
