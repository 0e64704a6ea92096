-- Waiting-list offers are emailed ("an offer ... pushed as a booking stream event and sent
-- as an email"). An offer is a held booking inserted by the actor's batch, then flagged
-- `offer = true` by the same batch's waiting-list write: that UPDATE is where the booking
-- becomes an offer, so the update trigger reports it, in the decision's own transaction.
-- The CHECK lists every kind so far (0014 added the hold warning).
ALTER TABLE notifications
    DROP CONSTRAINT notifications_kind_check,
    ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('receipt', 'expiry', 'refund', 'warning', 'offer'));

CREATE OR REPLACE FUNCTION notify_bookings_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_booking_notices(
        array_agg(n.id),
        array_agg(CASE WHEN n.offer AND NOT o.offer AND n.status = 'held' THEN 'offer'
                       ELSE notification_kind(o.status, n.status) END))
       FROM updated n JOIN previous o ON o.id = n.id;
    RETURN NULL;
END $$;
