-- Seat holds (issue 13, docs/design.md "Holds and payment"). A booking of a paid event is
-- `held` until paid (`confirmed`) or past `expires_at` (`expired`); its seats count in the
-- event's `held` counter, written by the owning actor in the same batch as the booking.
ALTER TABLE events
    ADD COLUMN held integer NOT NULL DEFAULT 0,
    -- I1 with holds: sold and held seats together never exceed capacity, at every commit.
    ADD CONSTRAINT no_oversell_with_holds CHECK (held >= 0 AND sold + held <= capacity);

ALTER TABLE bookings
    DROP CONSTRAINT bookings_status_check,
    ADD CONSTRAINT bookings_status_check CHECK (
        status IN ('confirmed', 'rejected', 'cancelled', 'held', 'expired')),
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN amount_cents bigint CHECK (amount_cents >= 0),
    ADD COLUMN currency     text,
    ADD CONSTRAINT held_has_deadline CHECK (status <> 'held' OR expires_at IS NOT NULL),
    ADD CONSTRAINT priced_in_a_currency CHECK ((amount_cents IS NULL) = (currency IS NULL));

-- A new owner loads the open holds of the events it claims (and their deadlines).
CREATE INDEX bookings_open_holds ON bookings (event_id) WHERE status = 'held';
-- The per-user limit counts held seats too: the claim sums both.
DROP INDEX bookings_event_user;
CREATE INDEX bookings_event_user ON bookings (event_id, user_id)
    WHERE status IN ('confirmed', 'held');
