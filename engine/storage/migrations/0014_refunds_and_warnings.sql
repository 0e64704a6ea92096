-- Refunds on cancel (issue 13, docs/design.md "Cancellation and refunds"), and the warning
-- and one extension of a hold's deadline (at the end).
--
-- Events gain the instant up to which a buyer may cancel a confirmed paid booking for a full
-- refund (NULL: never; a free event's bookings are cancellable whatever it says), and the
-- instant the organizer cancelled the whole event (NULL: not cancelled; never undone).
ALTER TABLE events
    ADD COLUMN refundable_until timestamptz,
    ADD COLUMN cancelled_at     timestamptz,
    ADD CONSTRAINT refundable_until_window CHECK (
        refundable_until >= '2000-01-01 00:00:00+00'
        AND refundable_until < '2101-01-01 00:00:00+00');

-- A captured payment whose booking was cancelled (by its buyer, or with its event) becomes
-- `refunding` in the shard actor's batch that cancels it: the outbox row that makes "a crash
-- between cancel and refund still refunds" durable. Whoever refunds it (the gateway that
-- took the cancel, or any gateway's recovery) asks the provider with the idempotency key
-- `refund-<attempt>` and only then moves it on to `refunded`, so a crash between repeats an
-- idempotent refund.
--
--   captured (or succeeded, its booking confirmed) -> refunding -> refunded
ALTER TABLE payments
    DROP CONSTRAINT payments_status_check,
    ADD CONSTRAINT payments_status_check CHECK (status IN (
        'charging', 'declined', 'requires_action', 'failed', 'succeeded', 'captured',
        'refunding', 'refunded')),
    DROP CONSTRAINT payments_check,
    ADD CONSTRAINT payments_charge_named CHECK (
        (status IN ('succeeded', 'captured', 'refunding', 'refunded')) = (charge_id IS NOT NULL)),
    -- Why a cancel gave the money back (NULL for the refunds of late payments, whose reason
    -- the checkout counts as it makes them).
    ADD COLUMN refund_reason text CHECK (refund_reason IN ('buyer_cancelled', 'event_cancelled')),
    ADD CONSTRAINT payments_refund_owed_says_why CHECK (
        status <> 'refunding' OR refund_reason IS NOT NULL);

-- What the refunder looks at: refunds owed and not yet made.
CREATE INDEX payments_refunding ON payments (updated_at) WHERE status = 'refunding';

-- Hold deadlines that can be adjusted (WCAG 2.2.1, docs/design.md "Warning and one
-- extension"): the owning actor warns the buyer 60 s before a hold or offer expires and may
-- extend it once. Both are written in the actor's batch; a new owner reloads them with the
-- hold, so a warning is given once per deadline and an extension once per hold.
ALTER TABLE bookings
    ADD COLUMN warned_at   timestamptz,
    ADD COLUMN extended_at timestamptz;

-- The warning's email: one per hold (its id derives from the booking), in the outbox the
-- sender already reads.
ALTER TABLE notifications
    DROP CONSTRAINT notifications_kind_check,
    ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('receipt', 'expiry', 'refund', 'warning'));

CREATE FUNCTION record_hold_warnings(ids uuid[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications (id, kind, booking_id)
    SELECT notification_id('warning', w.id), 'warning', w.id FROM unnest(ids) AS w(id)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('ticketwar_outbox', '');
    END IF;
END $$;
