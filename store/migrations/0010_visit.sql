-- Video visits (issue 7): what happened in each teleconsultation's room.
-- The patient's secret link is not stored at all: it is an HMAC of the
-- appointment id under a key derived from the at-rest key, which is kept
-- apart from the database, so a stolen database file gives no link.
CREATE TABLE visits (
	appointment_id    TEXT PRIMARY KEY REFERENCES appointments(id) ON DELETE CASCADE,
	admitted_at       INTEGER,   -- when staff let the patient in (unix seconds)
	patient_joined_at INTEGER,   -- first time the patient opened the room
	staff_joined_at   INTEGER,   -- first time staff opened the room
	created_at        INTEGER NOT NULL
);
