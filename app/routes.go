package app

// routeTable lists every route with the permission the policy checks first.
// The route × role test walks this table and fails on any route it does not
// cover.
func (s *Server) routeTable() []route {
	return []route{
		// Public pages.
		{"GET", "/{$}", PermPublic, s.handleHome},
		{"GET", "/healthz", PermPublic, s.handleHealth},
		{"POST", "/lang", PermPublic, s.handleLanguage},
		{"GET", "/setup", PermPublic, s.handleSetup},
		{"POST", "/setup", PermPublic, s.handleSetupSubmit},
		{"GET", "/register", PermPublic, s.handleRegister},
		{"POST", "/register", PermPublic, s.handleRegisterSubmit},
		{"GET", "/verify", PermPublic, s.handleVerify},
		{"POST", "/verify", PermPublic, s.handleVerifySubmit},
		{"GET", "/login", PermPublic, s.handleLogin},
		{"POST", "/login", PermPublic, s.handleLoginSubmit},
		{"GET", "/login/2fa", PermPublic, s.handleLogin2FA},
		{"POST", "/login/2fa", PermPublic, s.handleLogin2FASubmit},
		{"POST", "/logout", PermPublic, s.handleLogout},
		{"GET", "/reset", PermPublic, s.handleReset},
		{"POST", "/reset", PermPublic, s.handleResetSubmit},
		{"GET", "/reset/confirm", PermPublic, s.handleResetConfirm},
		{"POST", "/reset/confirm", PermPublic, s.handleResetConfirmSubmit},
		{"GET", "/contact", PermPublic, s.handleContact},
		{"POST", "/contact", PermPublic, s.handleContactSubmit},

		// Consent and the person's own account.
		{"GET", "/consent", PermSignedIn, s.handleConsent},
		{"POST", "/consent", PermSignedIn, s.handleConsentSubmit},
		{"GET", "/account", PermOwnAccount, s.handleAccount},
		{"POST", "/account", PermOwnAccount, s.handleAccountSubmit},
		{"POST", "/account/password", PermOwnAccount, s.handlePasswordChange},
		{"GET", "/account/sessions", PermOwnAccount, s.handleSessions},
		{"POST", "/account/sessions/{id}/revoke", PermOwnAccount, s.handleSessionRevoke},
		{"POST", "/account/sessions/revoke-others", PermOwnAccount, s.handleSessionRevokeOthers},
		{"GET", "/account/2fa", PermOwnAccount, s.handleTOTP},
		{"POST", "/account/2fa/enable", PermOwnAccount, s.handleTOTPEnable},
		{"POST", "/account/2fa/disable", PermOwnAccount, s.handleTOTPDisable},
		{"GET", "/account/privacy", PermOwnAccount, s.handlePrivacy},
		{"POST", "/account/privacy", PermOwnAccount, s.handlePrivacySubmit},
		{"GET", "/documents/{id}", PermSignedIn, s.handleDocument},

		// Portals.
		{"GET", "/pro/apply", PermPublic, s.handleProApply},
		{"POST", "/pro/apply", PermSignedIn, s.handleProApplySubmit},
		{"GET", "/pro", PermPractitioner, s.handleProHome},
		{"GET", "/secretary", PermPracticeStaff, s.handleSecretaryHome},
		{"GET", "/org", PermOrgAdmin, s.handleOrgHome},
		{"GET", "/affiliate", PermAffiliate, s.handleAffiliateHome},

		// Administration.
		{"GET", "/admin", PermAdmin, s.handleAdminHome},
		{"GET", "/admin/users", PermAdmin, s.handleAdminUsers},
		{"GET", "/admin/users/{id}", PermAdmin, s.handleAdminUser},
		{"POST", "/admin/users/{id}/disable", PermAdmin, s.handleAdminUserDisable},
		{"POST", "/admin/users/{id}/enable", PermAdmin, s.handleAdminUserEnable},
		{"POST", "/admin/users/{id}/roles", PermAdmin, s.handleAdminUserRoles},
		{"GET", "/admin/verifications", PermAdmin, s.handleAdminVerifications},
		{"GET", "/admin/verifications/{id}", PermAdmin, s.handleAdminVerification},
		{"POST", "/admin/verifications/{id}/approve", PermAdmin, s.handleAdminVerificationApprove},
		{"POST", "/admin/verifications/{id}/reject", PermAdmin, s.handleAdminVerificationReject},
		{"GET", "/admin/organizations", PermAdmin, s.handleAdminOrganizations},
		{"POST", "/admin/organizations", PermAdmin, s.handleAdminOrganizationCreate},
		{"GET", "/admin/organizations/{id}", PermAdmin, s.handleAdminOrganization},
		{"POST", "/admin/organizations/{id}/practices", PermAdmin, s.handleAdminOrganizationPractices},
		{"POST", "/admin/organizations/{id}/admins", PermAdmin, s.handleAdminOrganizationAdmins},
		{"GET", "/admin/audit", PermAdmin, s.handleAdminAudit},
		{"GET", "/admin/outbox", PermAdmin, s.handleAdminOutbox},
		{"GET", "/admin/outbox/{id}", PermAdmin, s.handleAdminOutboxMessage},
		{"GET", "/admin/messages", PermAdmin, s.handleAdminMessages},
		{"POST", "/admin/messages/{id}/handled", PermAdmin, s.handleAdminMessageHandled},

		// JSON API.
		{"GET", "/api/v1/openapi.json", PermPublic, s.handleOpenAPI},
		{"GET", "/api/v1/me", PermSignedIn, s.handleAPIMe},
		{"GET", "/api/v1/practitioners", PermPublic, s.handleAPIPractitioners},
	}
}
