-- Recurring series booked by the staff, the waitlist for earlier times and
-- the offers made to it.

-- A series: the same type every interval_weeks weeks, count times, booked
-- for one patient by the practice's staff. Its appointments carry its id.
CREATE TABLE series (
	id             TEXT PRIMARY KEY,
	practice_id    TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id     TEXT NOT NULL REFERENCES users(id),
	type_id        TEXT NOT NULL REFERENCES appointment_types(id),
	first_start    INTEGER NOT NULL,
	interval_weeks INTEGER NOT NULL,
	count          INTEGER NOT NULL,
	created_by     TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL
);
CREATE INDEX series_practice ON series(practice_id, created_at);

ALTER TABLE appointments ADD COLUMN series_id TEXT NOT NULL DEFAULT '';
CREATE INDEX appointments_series ON appointments(series_id) WHERE series_id <> '';

-- Patients waiting for an earlier time of a type (one entry per patient
-- and type), first come, first served.
CREATE TABLE waitlist (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	type_id     TEXT NOT NULL REFERENCES appointment_types(id) ON DELETE CASCADE,
	before_at   INTEGER NOT NULL DEFAULT 0, -- only times starting before this instant (0: any)
	created_at  INTEGER NOT NULL,               -- unix microseconds: the order of arrival
	UNIQUE (patient_id, type_id)
);
CREATE INDEX waitlist_practice ON waitlist(practice_id, created_at);

-- Freed time offered to one waiting patient: its slots are in state 'held'
-- (not free, so booking skips them without looking here) until the patient
-- accepts, declines, or the hold expires; then the next waiting patient
-- gets it, and when nobody is left the slots are free again. chain_id is
-- the first offer of the freed time: nobody is offered the same time twice.
CREATE TABLE waitlist_offers (
	id             TEXT PRIMARY KEY,
	chain_id       TEXT NOT NULL,
	entry_id       TEXT NOT NULL,
	practice_id    TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	patient_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	type_id        TEXT NOT NULL,
	location_id    TEXT NOT NULL DEFAULT '',
	slot_ids       TEXT NOT NULL,               -- JSON array of the held slots, in order
	starts_at      INTEGER NOT NULL,
	ends_at        INTEGER NOT NULL,            -- end of the appointment (buffer not included)
	state          TEXT NOT NULL DEFAULT 'offered', -- offered | accepted | declined | expired | withdrawn
	expires_at     INTEGER NOT NULL,
	appointment_id TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);
CREATE INDEX waitlist_offers_live ON waitlist_offers(state, expires_at);
CREATE INDEX waitlist_offers_chain ON waitlist_offers(chain_id);
CREATE INDEX waitlist_offers_patient ON waitlist_offers(patient_id, created_at);
