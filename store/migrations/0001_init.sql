-- Foundation: installation metadata, accounts, memberships, practices,
-- sessions, tokens, consent, documents, verification, outbox, audit, contact.
-- Times are unix seconds (UTC). IDs are opaque random strings.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE users (
	id                TEXT PRIMARY KEY,
	email             TEXT NOT NULL UNIQUE COLLATE NOCASE,
	name              TEXT NOT NULL,
	password_hash     TEXT NOT NULL DEFAULT '',
	locale            TEXT NOT NULL DEFAULT '',
	time_zone         TEXT NOT NULL DEFAULT '',
	email_verified_at INTEGER,
	disabled_at       INTEGER,
	totp_secret       BLOB,            -- encrypted at rest
	totp_enabled_at   INTEGER,
	consent_version   TEXT NOT NULL DEFAULT '',
	consent_at        INTEGER,
	birth_date        TEXT NOT NULL DEFAULT '',   -- YYYY-MM-DD
	postal_code       TEXT NOT NULL DEFAULT '',
	city              TEXT NOT NULL DEFAULT '',
	api_vouched       INTEGER NOT NULL DEFAULT 0, -- created by the operator (CLI)
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL
);

CREATE TABLE organizations (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL DEFAULT 'clinic', -- clinic | network | employer | hybrid
	created_at INTEGER NOT NULL
);

CREATE TABLE practices (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL,
	organization_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,
	time_zone       TEXT NOT NULL,
	status          TEXT NOT NULL DEFAULT 'pending', -- pending | verified | rejected
	verified_at     INTEGER,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);

CREATE TABLE memberships (
	id              TEXT PRIMARY KEY,
	user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role            TEXT NOT NULL, -- patient | secretary | practitioner | org_admin | affiliate | admin
	practice_id     TEXT NOT NULL DEFAULT '' ,
	organization_id TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	UNIQUE (user_id, role, practice_id, organization_id)
);
CREATE INDEX memberships_practice ON memberships(practice_id) WHERE practice_id <> '';

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,  -- SHA-256 of the cookie token, hex
	user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	remember     INTEGER NOT NULL DEFAULT 0,
	mfa_pending  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	ip           TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	token_hash   TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
);

-- One-time e-mail tokens: address verification and password reset.
CREATE TABLE email_tokens (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	purpose    TEXT NOT NULL, -- verify | reset
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX email_tokens_user ON email_tokens(user_id, purpose);

CREATE TABLE consents (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	item       TEXT NOT NULL,  -- privacy | reminders | directory_links | ...
	version    TEXT NOT NULL,
	granted    INTEGER NOT NULL, -- 1 accepted, 0 withdrawn
	at         INTEGER NOT NULL,
	ip         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consents_user ON consents(user_id, item, at);

-- Files are stored encrypted (AES-256-GCM) inside the database so that one
-- consistent copy of the database is a complete backup.
CREATE TABLE documents (
	id           TEXT PRIMARY KEY,
	owner_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	purpose      TEXT NOT NULL, -- proof | photo | message | ...
	filename     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	data         BLOB NOT NULL,
	created_at   INTEGER NOT NULL
);

-- A practitioner's request to be verified, with their proof of profession.
CREATE TABLE verifications (
	id          TEXT PRIMARY KEY,
	user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	document_id TEXT REFERENCES documents(id) ON DELETE SET NULL,
	profession  TEXT NOT NULL DEFAULT '',
	rpps        TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL DEFAULT 'pending', -- pending | approved | rejected
	note        TEXT NOT NULL DEFAULT '',
	decided_by  TEXT NOT NULL DEFAULT '',
	decided_at  INTEGER,
	created_at  INTEGER NOT NULL
);
CREATE INDEX verifications_state ON verifications(state, created_at);

CREATE TABLE outbox (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL DEFAULT 'email', -- email | sms
	to_addr         TEXT NOT NULL,
	locale          TEXT NOT NULL DEFAULT '',
	template        TEXT NOT NULL DEFAULT '',
	subject         TEXT NOT NULL,
	text_body       TEXT NOT NULL,
	html_body       TEXT NOT NULL DEFAULT '',
	ics             TEXT NOT NULL DEFAULT '',
	message_id      TEXT NOT NULL,
	state           TEXT NOT NULL DEFAULT 'queued', -- queued | sending | sent | failed | held
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

-- Append-only, hash-chained: hash = SHA-256(prev_hash | fields).
CREATE TABLE audit (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	at          INTEGER NOT NULL,
	actor_id    TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL,
	object_type TEXT NOT NULL DEFAULT '',
	object_id   TEXT NOT NULL DEFAULT '',
	ip          TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
CREATE INDEX audit_actor ON audit(actor_id, seq);
CREATE INDEX audit_action ON audit(action, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- "Contact the administration" messages (body encrypted at rest).
CREATE TABLE contact_messages (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL DEFAULT '',
	name       TEXT NOT NULL,
	email      TEXT NOT NULL,
	subject    TEXT NOT NULL,
	body       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	handled_at INTEGER
);
