-- Check-in at the door (docs/design.md, "Check-in"). A ticket is checked in once: the shard
-- actor owning its event decides it, in order with the event's cancels, and writes it in its
-- batch. `checkin_id` names the command that did it, so a redelivery of that very command
-- is answered "checked in" again, not "already checked in".
ALTER TABLE tickets
    ADD COLUMN checked_in_at timestamptz,
    ADD COLUMN checkin_id    uuid,
    ADD COLUMN checked_in_by bigint REFERENCES users (id),
    -- The last line of defence under the actor: a void ticket is never checked in, and a
    -- checked-in ticket's booking cannot be cancelled (its tickets voided).
    ADD CONSTRAINT checked_in_not_void CHECK (checked_in_at IS NULL OR voided_at IS NULL),
    ADD CONSTRAINT checked_in_recorded
        CHECK ((checked_in_at IS NULL) = (checkin_id IS NULL)
               AND (checked_in_at IS NULL) = (checked_in_by IS NULL));
-- The organizer's count of tickets checked in, read without scanning the event's tickets.
CREATE INDEX tickets_checked_in ON tickets (event_id) WHERE checked_in_at IS NOT NULL;

-- Door staff: accounts its vendor (or an admin) let check tickets in for one event. The
-- account's role does not change; the right is this row, read by the gateway per check-in.
CREATE TABLE event_staff (
    event_id   bigint NOT NULL REFERENCES events (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    granted_by bigint NOT NULL REFERENCES users (id),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
