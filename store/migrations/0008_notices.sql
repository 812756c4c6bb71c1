-- Appointment notices (issue 6) and webhooks (issue 4 item 10).

-- Per-practice notice settings. reminders is a comma-separated list of Go
-- durations ("48h,2h"); '' means the installation's [reminders] before.
CREATE TABLE practice_notices (
	practice_id  TEXT PRIMARY KEY REFERENCES practices(id) ON DELETE CASCADE,
	reminders    TEXT NOT NULL DEFAULT '',
	sms_enabled  INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL
);

-- One reminder to send before an appointment. target_start is the start the
-- reminder was scheduled for: the job sends it only if the appointment still
-- starts then (a move re-schedules, and a stale row can never fire).
-- state: pending | sent | skipped. A row leaves pending in the same
-- transaction that writes its outbox message, so it is never sent twice.
CREATE TABLE reminders (
	id              TEXT PRIMARY KEY,
	appointment_id  TEXT NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
	offset_seconds  INTEGER NOT NULL,
	target_start    INTEGER NOT NULL,
	send_at         INTEGER NOT NULL,
	state           TEXT NOT NULL DEFAULT 'pending',
	done_at         INTEGER,
	UNIQUE (appointment_id, target_start, offset_seconds)
);
-- (The UNIQUE index, led by appointment_id, serves the per-appointment lookups.)
CREATE INDEX reminders_due ON reminders (send_at) WHERE state = 'pending';

-- A practice's webhook endpoint. The secret signs every delivery; it is
-- sealed (AES-GCM, the row id as AAD) because it must be recovered to sign.
-- events is a comma-separated list of appointment.* kinds.
CREATE TABLE webhook_endpoints (
	id          TEXT PRIMARY KEY,
	practice_id TEXT NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
	url         TEXT NOT NULL,
	secret      BLOB NOT NULL,
	events      TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_practice ON webhook_endpoints (practice_id);

-- The delivery log of an endpoint reads its outbox rows (template =
-- 'webhook:<endpoint id>').
CREATE INDEX outbox_webhook ON outbox (template, created_at) WHERE kind = 'webhook';
