-- Booking rules and the patient journey: the practice's allowlist of patient
-- e-mails, bans, intake questions and answers, assisted-scheduling requests.

-- Patients a practice in "allowlist" booking mode accepts (seed 004: the
-- e-mail addresses the practitioner registered beforehand).
CREATE TABLE allowlist (
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	email       TEXT NOT NULL COLLATE NOCASE,
	added_by    TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (practice_id, email)
) WITHOUT ROWID;

-- Patients a practice has banned (disruptive behaviour), with the reason.
CREATE TABLE bans (
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	reason      TEXT NOT NULL DEFAULT '',
	banned_by   TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (practice_id, patient_id)
) WITHOUT ROWID;

-- Questions a practitioner attaches to an appointment type.
CREATE TABLE intake_questions (
	id          TEXT PRIMARY KEY,
	type_id     TEXT NOT NULL REFERENCES appointment_types(id) ON DELETE CASCADE,
	label       TEXT NOT NULL,
	kind        TEXT NOT NULL, -- short | long | single | multiple | yesno | date
	options     TEXT NOT NULL DEFAULT '[]', -- JSON array for single/multiple
	required    INTEGER NOT NULL DEFAULT 0,
	position    INTEGER NOT NULL DEFAULT 0,
	archived_at INTEGER,
	created_at  INTEGER NOT NULL
);
CREATE INDEX intake_questions_type ON intake_questions(type_id, position);

-- The patient's answers, encrypted at rest as one JSON document per appointment.
CREATE TABLE intake_answers (
	appointment_id TEXT PRIMARY KEY REFERENCES appointments(id) ON DELETE CASCADE,
	answers        BLOB NOT NULL,
	created_at     INTEGER NOT NULL
);

-- Assisted scheduling: a patient asks for a time; staff propose a slot the
-- patient confirms in one click.
CREATE TABLE booking_requests (
	id              TEXT PRIMARY KEY,
	practice_id     TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	type_id         TEXT NOT NULL DEFAULT '',
	preferences     BLOB NOT NULL,                 -- encrypted free text
	state           TEXT NOT NULL DEFAULT 'open',  -- open | proposed | booked | declined | cancelled
	proposed_slot   TEXT NOT NULL DEFAULT '',
	appointment_id  TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX booking_requests_practice ON booking_requests(practice_id, state, created_at);

-- A booking is found again by its idempotency key: a double-submitted form
-- makes one appointment.
ALTER TABLE appointments ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX appointments_idempotency ON appointments(patient_id, idempotency_key) WHERE idempotency_key <> '';
