-- Notifications (docs/design.md, "Notifications"): an outbox of emails to send, written by
-- triggers in the SAME transaction as the decision each one reports, so the shard actor's
-- group commit carries them with no code of its own, and a decision that rolls back leaves
-- no email behind. The sender (engine/notify/sender.py) sends each row at least once and
-- marks it sent; its id is the email's Message-ID, so the only duplicate possible (a crash
-- between sending and marking) is recognisable as one.
--
--   kind     what it reports                       written when
--   receipt  a booking confirmed, its ticket codes a booking inserted confirmed (free
--                                                  events, every strategy) or a hold paid
--   expiry   a hold not paid in time               a held booking becomes expired
--   refund   money given back                      a payment becomes refunded
--
-- The id is derived from what the row reports (notification_id: md5 of kind and subject, as
-- a uuid), so one decision is one row. A booking enters `confirmed` or `expired` once (the
-- actor moves a hold only WHERE status = 'held'; the bookings' primary key), so the booking
-- triggers insert plainly: ON CONFLICT's speculative insertion cost 40% more per row, on
-- every batch. The refund trigger, off the hot path, keeps ON CONFLICT DO NOTHING.
--
-- Adding a kind (the waiting list's offers): allow it in the CHECK below, add its branch
-- to notification_kind() (or a trigger of its own for a new table), and its template to
-- engine/notify/templates.py. Nothing in the sender changes.
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('receipt', 'expiry', 'refund')),
    -- No foreign keys: rows are written from rows of the same statement, which are never
    -- deleted; a key would add a check per row to every batch the actor commits.
    booking_id  uuid NOT NULL,
    payment_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- When the next attempt may be made: now, or after a transient failure's backoff.
    due_at      timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    sent_at     timestamptz,
    failed_at   timestamptz,
    -- The last failure's reason (the SMTP reply), kept when a later attempt succeeds.
    error       text,
    CHECK (sent_at IS NULL OR failed_at IS NULL),
    CHECK ((kind = 'refund') = (payment_id IS NOT NULL))
);
-- What the sender claims: rows neither sent nor failed, by due time.
CREATE INDEX notifications_due ON notifications (due_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
-- No index on booking_id: nothing in the engine looks rows up by booking, and each index
-- is one more write per row in every batch that confirms bookings.

-- A notification's id, from what it reports: the same decision reported twice is one row.
CREATE FUNCTION notification_id(kind text, subject uuid) RETURNS uuid
    LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || ':' || subject::text)::uuid $$;

-- The kind of notification a booking's change of status reports, if any (old_status is
-- NULL for a booking inserted). One place for the rule, used by both triggers below.
CREATE FUNCTION notification_kind(old_status text, new_status text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN new_status = 'confirmed' AND old_status IS DISTINCT FROM 'confirmed'
            THEN 'receipt'
        WHEN new_status = 'expired' AND old_status = 'held' THEN 'expiry'
    END
$$;

-- Records the notices of some bookings (kind NULL: nothing to tell) and announces them:
-- one pg_notify per statement, which PostgreSQL delivers at commit (and never for a batch
-- rolled back).
CREATE FUNCTION record_booking_notices(ids uuid[], kinds text[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications (id, kind, booking_id)
    SELECT notification_id(c.kind, c.id), c.kind, c.id
      FROM unnest(ids, kinds) AS c(id, kind)
     WHERE c.kind IS NOT NULL;
    IF FOUND THEN
        PERFORM pg_notify('ticketwar_outbox', '');
    END IF;
END $$;

-- Statement-level triggers with transition tables: one INSERT ... SELECT per statement of
-- the actor's batch, however many bookings it writes (a row trigger would run once per
-- booking).
CREATE FUNCTION notify_bookings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_booking_notices(array_agg(n.id), array_agg(notification_kind(NULL, n.status)))
       FROM inserted n;
    RETURN NULL;
END $$;
CREATE TRIGGER bookings_notify_inserted AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION notify_bookings_inserted();

CREATE FUNCTION notify_bookings_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_booking_notices(array_agg(n.id),
                                   array_agg(notification_kind(o.status, n.status)))
       FROM updated n JOIN previous o ON o.id = n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER bookings_notify_updated AFTER UPDATE ON bookings
    REFERENCING OLD TABLE AS previous NEW TABLE AS updated
    FOR EACH STATEMENT EXECUTE FUNCTION notify_bookings_updated();

-- Refunds are recorded one payment at a time, off the hot path: a row trigger.
CREATE FUNCTION notify_payment_refunded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications (id, kind, booking_id, payment_id)
    VALUES (notification_id('refund', NEW.id), 'refund', NEW.booking_id, NEW.id)
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('ticketwar_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER payments_notify_refunded AFTER UPDATE OF status ON payments
    FOR EACH ROW WHEN (NEW.status = 'refunded' AND OLD.status <> 'refunded')
    EXECUTE FUNCTION notify_payment_refunded();
