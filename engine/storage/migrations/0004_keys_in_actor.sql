-- Idempotency keys are recorded by the shard actor, in the batch that decides their booking
-- (docs/design.md, Idempotency). The actor that claims an event loads its keys into memory,
-- so a replay is answered without a read: this index makes that load one range scan.
CREATE INDEX idempotency_keys_event ON idempotency_keys (event_id);
