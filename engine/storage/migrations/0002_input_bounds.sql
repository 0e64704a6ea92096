-- The database refuses what the API refuses (gateway/fields.py), so no stored value can break
-- a reader: date-times in [2000-01-01, 2101-01-01) UTC (no ±infinity: asyncpg reads it as a
-- naive datetime, and one such row made every event listing answer 500), text without
-- control characters (C0 and C1; PostgreSQL never stores NUL), NFC-normalised and bounded.
--
-- Rows written before these rules are repaired first, so the migration cannot fail on an
-- existing database. The NFC checks need a UTF8 database (what initdb and pgserver create).

CREATE FUNCTION pg_temp.clean(value text, max_length integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(btrim(normalize(
        regexp_replace(value, '[\u0001-\u001f\u007f-\u009f]', ' ', 'g'), NFC)), max_length)
$$;

-- Events. A date outside the window says nothing usable: the event's date is dropped; a sale
-- start before the window means "on sale already" (NULL), after it "not yet" (its last second).
UPDATE events SET starts_at = NULL
 WHERE starts_at < '2000-01-01 00:00:00+00' OR starts_at >= '2101-01-01 00:00:00+00';
UPDATE events SET sale_starts_at = NULL WHERE sale_starts_at < '2000-01-01 00:00:00+00';
UPDATE events SET sale_starts_at = '2100-12-31 23:59:59+00'
 WHERE sale_starts_at >= '2101-01-01 00:00:00+00';
UPDATE events SET name = coalesce(nullif(pg_temp.clean(name, 200), ''), 'untitled')
 WHERE name IS DISTINCT FROM coalesce(nullif(pg_temp.clean(name, 200), ''), 'untitled');
UPDATE events SET venue = pg_temp.clean(venue, 200)
 WHERE venue IS DISTINCT FROM pg_temp.clean(venue, 200);

ALTER TABLE events
    ADD CONSTRAINT starts_at_window CHECK (
        starts_at >= '2000-01-01 00:00:00+00' AND starts_at < '2101-01-01 00:00:00+00'),
    ADD CONSTRAINT sale_starts_at_window CHECK (
        sale_starts_at >= '2000-01-01 00:00:00+00' AND sale_starts_at < '2101-01-01 00:00:00+00'),
    ADD CONSTRAINT name_text CHECK (
        name !~ '[\u0001-\u001f\u007f-\u009f]' AND name IS NFC NORMALIZED),
    ADD CONSTRAINT venue_text CHECK (
        length(venue) <= 200 AND venue !~ '[\u0001-\u001f\u007f-\u009f]'
        AND venue IS NFC NORMALIZED);

-- Users. A name is cleaned like an event's. An email is the login, so it is not rewritten
-- into another address someone could own: one that is merely not NFC is normalised (the API
-- now normalises what is typed at login, so only that spelling can match) unless another
-- account holds the result; any other bad email becomes a placeholder on the reserved
-- .invalid domain that an operator can find and fix (`ticketwar users`).
UPDATE users SET name = nullif(pg_temp.clean(name, 100), '')
 WHERE name IS DISTINCT FROM nullif(pg_temp.clean(name, 100), '');
UPDATE users SET email = 'user-' || id || '@repaired.invalid'
 WHERE email ~ '[\u0001-\u001f\u007f-\u009f]' OR length(email) > 254;
UPDATE users u SET email = normalize(u.email, NFC)
 WHERE u.email IS NOT NFC NORMALIZED
   AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id
                   AND lower(normalize(o.email, NFC)) = lower(normalize(u.email, NFC))
                   AND (o.email IS NFC NORMALIZED OR o.id < u.id));
UPDATE users SET email = 'user-' || id || '@repaired.invalid' WHERE email IS NOT NFC NORMALIZED;

ALTER TABLE users
    ADD CONSTRAINT email_text CHECK (
        length(email) BETWEEN 1 AND 254 AND email !~ '[\u0001-\u001f\u007f-\u009f]'
        AND email IS NFC NORMALIZED),
    ADD CONSTRAINT name_text CHECK (
        length(name) <= 100 AND name !~ '[\u0001-\u001f\u007f-\u009f]'
        AND name IS NFC NORMALIZED);

-- Idempotency keys: checked from now on (NOT VALID) rather than repaired, because an old key
-- is how a pending booking is found (`pending_owner`), and the API refuses a retry with a
-- key holding control characters anyway.
ALTER TABLE idempotency_keys
    ADD CONSTRAINT key_text CHECK (key !~ '[\u0001-\u001f\u007f-\u009f]') NOT VALID;

DROP FUNCTION pg_temp.clean(text, integer);
