-- Delivery of the outbox. A worker claims a due row by setting state
-- 'sending' and a lease; a crashed or stopped worker's rows go back to
-- 'queued' when their lease runs out (or at the next start), so nothing is
-- lost. retry_from starts the window in which temporary failures are
-- retried (NULL: created_at); "retry now" on the admin page restarts it.
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE outbox ADD COLUMN retry_from INTEGER;
