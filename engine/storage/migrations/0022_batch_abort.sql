-- A shard actor writes a plain booking batch (counters, key pins, bookings, tickets) as ONE
-- autocommitted statement (engine/storage/shard_store.py). When that statement finds the
-- batch cannot land as decided — an event no longer fenced by the actor's epoch, or a key
-- pin that collided — it calls this to abort itself, which rolls back all it did; the
-- actor then writes the batch the careful way, which says what was wrong.
CREATE FUNCTION shard_batch_abort(why text) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shard batch not written: %', why USING ERRCODE = 'TW001';
END $$;
