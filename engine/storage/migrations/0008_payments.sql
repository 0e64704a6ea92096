-- Payments of held bookings (docs/design.md, "Holds and payment"): the outbox that makes "no
-- charge without a ticket or a refund" survive a crash. A row is written `charging` BEFORE
-- the provider is asked (its id is the provider's idempotency key), so a process that dies
-- mid-charge leaves a row that recovery resolves by asking the provider what became of it.
--
--   charging -> declined | requires_action | failed (no money moved)
--   charging -> succeeded (money taken) -> captured (the actor confirmed the booking with it)
--                                       -> refunded (the hold was over: money given back)
CREATE TABLE payments (
    id           uuid PRIMARY KEY,
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    event_id     bigint NOT NULL REFERENCES events (id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    currency     text NOT NULL,
    provider     text NOT NULL,
    -- The pay request's Idempotency-Key: a retry with it answers this attempt's result.
    client_key   text CHECK (length(client_key) BETWEEN 1 AND 200),
    status       text NOT NULL CHECK (status IN ('charging', 'declined', 'requires_action',
                                                 'failed', 'succeeded', 'captured',
                                                 'refunded')),
    charge_id    text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('succeeded', 'captured', 'refunded')) = (charge_id IS NOT NULL))
);
-- At most one successful charge per booking, whatever keys are sent: only one attempt may be
-- in flight or have taken money that is not given back.
CREATE UNIQUE INDEX payments_one_live_per_booking ON payments (booking_id)
    WHERE status IN ('charging', 'succeeded', 'captured');
CREATE UNIQUE INDEX payments_client_key ON payments (booking_id, client_key);
-- What recovery looks at: attempts whose end is not known yet.
CREATE INDEX payments_unsettled ON payments (updated_at) WHERE status IN ('charging', 'succeeded');
