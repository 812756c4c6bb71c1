-- Extra headers per outbox message, as a JSON object: List-Unsubscribe for
-- mailings, the signature of a webhook. The kind now also names webhooks.
ALTER TABLE outbox ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
