-- Practice settings, locations, hours versions, appointment types, the
-- rolling slot planning, blocks (absences, holidays), appointments, planning
-- runs, calendar feeds.

-- The 17 settings of seed 004, structured. Lists are JSON arrays of strings.
ALTER TABLE practices ADD COLUMN specialties TEXT NOT NULL DEFAULT '[]';     -- main function first
ALTER TABLE practices ADD COLUMN diplomas TEXT NOT NULL DEFAULT '[]';
ALTER TABLE practices ADD COLUMN payment_means TEXT NOT NULL DEFAULT '[]';
ALTER TABLE practices ADD COLUMN transport TEXT NOT NULL DEFAULT '[]';
ALTER TABLE practices ADD COLUMN access TEXT NOT NULL DEFAULT '[]';          -- ground_floor, lift, wheelchair, parking, ...
ALTER TABLE practices ADD COLUMN languages TEXT NOT NULL DEFAULT '[]';       -- spoken, ISO 639-1
ALTER TABLE practices ADD COLUMN visit_types TEXT NOT NULL DEFAULT '';       -- free description
ALTER TABLE practices ADD COLUMN photo_document_id TEXT NOT NULL DEFAULT '';
ALTER TABLE practices ADD COLUMN convention_sector TEXT NOT NULL DEFAULT ''; -- "", 1, 2, 3 (France), or free text elsewhere
ALTER TABLE practices ADD COLUMN vitale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE practices ADD COLUMN patient_can_cancel INTEGER NOT NULL DEFAULT 1;
ALTER TABLE practices ADD COLUMN cancel_cutoff_hours INTEGER NOT NULL DEFAULT 24;
ALTER TABLE practices ADD COLUMN slot_minutes INTEGER NOT NULL DEFAULT 15;
ALTER TABLE practices ADD COLUMN horizon_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE practices ADD COLUMN min_notice_minutes INTEGER NOT NULL DEFAULT 60;
ALTER TABLE practices ADD COLUMN max_future_per_patient INTEGER NOT NULL DEFAULT 3;
ALTER TABLE practices ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE practices ADD COLUMN postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE practices ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE practices ADD COLUMN country TEXT NOT NULL DEFAULT 'FR';         -- ISO 3166-1 alpha-2, for holidays
ALTER TABLE practices ADD COLUMN secretary_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE practices ADD COLUMN booking_mode TEXT NOT NULL DEFAULT 'free';  -- free | allowlist
ALTER TABLE practices ADD COLUMN reason_mode TEXT NOT NULL DEFAULT 'free';   -- free | table
ALTER TABLE practices ADD COLUMN generated_at INTEGER;                       -- initial generation done
ALTER TABLE practices ADD COLUMN planned_until TEXT NOT NULL DEFAULT '';     -- last local date with slots (YYYY-MM-DD)
ALTER TABLE practices ADD COLUMN feed_token_hash TEXT NOT NULL DEFAULT '';   -- private calendar feed

CREATE INDEX practices_city ON practices(postal_code, city);

-- Places other than the main office where the practitioner receives
-- (hospital, clinic), with their own hours. The main office is location ''.
CREATE TABLE practice_locations (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL DEFAULT 'clinic', -- hospital | clinic | office | home
	address     TEXT NOT NULL DEFAULT '',
	postal_code TEXT NOT NULL DEFAULT '',
	city        TEXT NOT NULL DEFAULT '',
	position    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL
);
CREATE INDEX practice_locations_practice ON practice_locations(practice_id, position);

-- Versions of the weekly hours: the version with the latest valid_from on
-- or before a day applies to it. spec is JSON:
-- {"":{"mon":[["09:00","12:00"],["14:00","18:00"]],...},"<location id>":{...}}
CREATE TABLE practice_hours (
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	valid_from  TEXT NOT NULL, -- YYYY-MM-DD, practice local date
	spec        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (practice_id, valid_from)
) WITHOUT ROWID;

-- The seed's "motifs": what can be booked, for how long, at what price.
CREATE TABLE appointment_types (
	id                   TEXT PRIMARY KEY,
	practice_id          TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	name                 TEXT NOT NULL,
	minutes              INTEGER NOT NULL,
	price_amount         INTEGER NOT NULL DEFAULT 0, -- minor units
	first_price_amount   INTEGER,                    -- optional first-visit price
	currency             TEXT NOT NULL DEFAULT 'EUR',
	teleconsultation     INTEGER NOT NULL DEFAULT 0,
	buffer_after_minutes INTEGER NOT NULL DEFAULT 0,
	new_patients         INTEGER NOT NULL DEFAULT 1, -- bookable by new patients (0: existing only)
	position             INTEGER NOT NULL DEFAULT 0,
	archived_at          INTEGER,                    -- removed types stay for past appointments
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
);
CREATE INDEX appointment_types_practice ON appointment_types(practice_id, position);

-- Absences, holidays and other blocked ranges.
CREATE TABLE blocks (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	starts_at   INTEGER NOT NULL,
	ends_at     INTEGER NOT NULL,
	kind        TEXT NOT NULL DEFAULT 'absence', -- absence | holiday | other
	reason      TEXT NOT NULL DEFAULT '',
	created_by  TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);
CREATE INDEX blocks_practice ON blocks(practice_id, starts_at);

-- Appointments (the booking issue fills them; the planning keeps them).
CREATE TABLE appointments (
	id             TEXT PRIMARY KEY,
	practice_id    TEXT NOT NULL REFERENCES practices(id),
	patient_id     TEXT NOT NULL REFERENCES users(id),
	type_id        TEXT NOT NULL REFERENCES appointment_types(id),
	location_id    TEXT NOT NULL DEFAULT '',
	starts_at      INTEGER NOT NULL,
	ends_at        INTEGER NOT NULL,
	reason         BLOB,                                -- encrypted at rest
	phone          TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL DEFAULT 'booked',      -- booked | cancelled | attended | no_show
	payment_state  TEXT NOT NULL DEFAULT 'none',        -- none | unpaid | paid | refunded
	source         TEXT NOT NULL DEFAULT 'online',      -- online | staff
	sequence       INTEGER NOT NULL DEFAULT 0,          -- iCalendar SEQUENCE
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX appointments_practice ON appointments(practice_id, starts_at);
CREATE INDEX appointments_patient ON appointments(patient_id, starts_at);

-- The rolling planning: one row per slot, clustered by practice and time so
-- a week's query reads one contiguous range. id is the opaque id the API
-- shows; appointment_id/block_id say what holds a slot that is not free.
CREATE TABLE slots (
	practice_id    TEXT NOT NULL,
	starts_at      INTEGER NOT NULL,
	location_id    TEXT NOT NULL DEFAULT '',
	ends_at        INTEGER NOT NULL,
	day            TEXT NOT NULL,                  -- practice local date
	state          TEXT NOT NULL DEFAULT 'free',   -- free | booked | blocked
	id             TEXT NOT NULL,
	appointment_id TEXT,
	block_id       TEXT,
	PRIMARY KEY (practice_id, starts_at, location_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX slots_id ON slots(id);
CREATE INDEX slots_appointment ON slots(appointment_id) WHERE appointment_id IS NOT NULL;

-- What each generation and nightly roll did, for the admin page.
CREATE TABLE planning_runs (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,              -- initial | roll | hours
	practice_id TEXT NOT NULL DEFAULT '',   -- '' for an installation-wide roll
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,
	state       TEXT NOT NULL DEFAULT 'running', -- running | done | failed
	practices   INTEGER NOT NULL DEFAULT 0,
	days        INTEGER NOT NULL DEFAULT 0,
	added       INTEGER NOT NULL DEFAULT 0,
	removed     INTEGER NOT NULL DEFAULT 0,
	progress    INTEGER NOT NULL DEFAULT 0,     -- 0-100
	detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX planning_runs_started ON planning_runs(started_at);
