-- A cancelled (later: expired) booking keeps its tickets, marked void, instead of deleting
-- them: a code shown once stays explainable at the door ("void", not "unknown"), and the
-- ledger keeps every ticket ever issued. Only valid tickets (voided_at IS NULL) count for
-- the invariants (I6) and for My Tickets.
ALTER TABLE tickets ADD COLUMN voided_at timestamptz;
CREATE INDEX tickets_valid_event ON tickets (event_id) WHERE voided_at IS NULL;
