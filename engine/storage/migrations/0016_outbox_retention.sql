-- Settled notifications (sent or given up) are kept for a while — the record of what was
-- sent and a way to recognise a resend — and then deleted by the sender
-- (NOTIFICATION_RETENTION_DAYS). Partial: the actor's batches insert unsettled rows, which
-- this index does not hold, so the hot path writes no entry to it; the sender writes one when
-- it settles a row.
CREATE INDEX notifications_settled ON notifications ((coalesce(sent_at, failed_at)))
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;
