-- A vendor's Idempotency-Key on POST /api/events (docs/api.md): a retry of a create whose
-- answer was lost — `504 outcome_unknown` (the database stopped answering while the create
-- was committing), a dropped connection, a gateway that died — finds the event the first
-- attempt made instead of making a second one. The digest is of the request's fields, so
-- the same key with other fields is refused (`422 idempotency_key_reused`).
ALTER TABLE events
    ADD COLUMN creation_key text,
    ADD COLUMN creation_digest bytea,
    ADD CONSTRAINT creation_key_text CHECK (
        length(creation_key) BETWEEN 1 AND 200
        AND creation_key !~ '[\u0001-\u001f\u007f-\u009f]'),
    ADD CONSTRAINT creation_key_digest CHECK ((creation_key IS NULL) = (creation_digest IS NULL));

-- One key, one event, per vendor; events created without a key are not in it.
CREATE UNIQUE INDEX events_creation_key ON events (vendor_id, creation_key)
    WHERE creation_key IS NOT NULL;
