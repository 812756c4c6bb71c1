-- The practice workspace (issue 5): staff notes on patients, the home
-- visits text planner, general mailings and their opt-outs.

-- Notes the practice's staff keep on a patient, encrypted at rest (the id
-- is the AAD, so a note cannot be moved to another row).
CREATE TABLE staff_notes (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	body        BLOB NOT NULL,
	author_id   TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);
CREATE INDEX staff_notes_patient ON staff_notes(practice_id, patient_id, created_at);

-- Seed 004's home visits planner: one free text per practice, encrypted.
CREATE TABLE home_visits (
	practice_id TEXT PRIMARY KEY REFERENCES practices(id) ON DELETE CASCADE,
	body        BLOB NOT NULL,
	updated_by  TEXT NOT NULL DEFAULT '',
	updated_at  INTEGER NOT NULL
);

-- General mailings to a practice's patients (the rate limit reads them).
CREATE TABLE mailings (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	created_by  TEXT NOT NULL DEFAULT '',
	recipients  INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL
);
CREATE INDEX mailings_practice ON mailings(practice_id, created_at);

-- Opaque unsubscribe tokens (one per practice and address) and the
-- addresses that opted out of a practice's mailings.
CREATE TABLE unsubscribe_tokens (
	token       TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	email       TEXT NOT NULL COLLATE NOCASE,
	created_at  INTEGER NOT NULL,
	UNIQUE (practice_id, email)
);
CREATE TABLE mailing_optouts (
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	email       TEXT NOT NULL COLLATE NOCASE,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (practice_id, email)
) WITHOUT ROWID;

-- The patient card lists a patient's appointments with one practice.
CREATE INDEX appointments_practice_patient ON appointments(practice_id, patient_id, starts_at);

-- The plannings' red rows: unpaid teleconsultations of any age and
-- unexcused absences, found without scanning a practice's whole history.
CREATE INDEX appointments_unpaid ON appointments(practice_id, starts_at) WHERE payment_state = 'unpaid';
CREATE INDEX appointments_no_show ON appointments(practice_id, starts_at) WHERE state = 'no_show';
