-- The provider's extra customer step (3-D Secure) is completed now (docs/design.md, "Holds
-- and payment"): an attempt `requires_action` is open — in flight like `charging`, so the
-- booking takes no second charge while its buyer is at the step, and recovery asks the
-- provider about it as about every other attempt whose end is not known.
--
--   charging -> requires_action -> succeeded (the step done) | declined (failed, abandoned)
--
-- Attempts recorded `requires_action` before this could never be completed (the checkout had
-- no step to offer): they are closed as declined, as the buyer was told then.
UPDATE payments SET status = 'declined', updated_at = now() WHERE status = 'requires_action';

DROP INDEX payments_one_live_per_booking;
CREATE UNIQUE INDEX payments_one_live_per_booking ON payments (booking_id)
    WHERE status IN ('charging', 'requires_action', 'succeeded', 'captured');
DROP INDEX payments_unsettled;
CREATE INDEX payments_unsettled ON payments (updated_at)
    WHERE status IN ('charging', 'requires_action', 'succeeded');
