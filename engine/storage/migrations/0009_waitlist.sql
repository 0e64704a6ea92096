-- The waiting list of sold-out events (issue 13, docs/design.md "Waiting list"). Entries are
-- decided and written by the event's owning actor in its group commit, like bookings. When
-- seats return, the actor offers them to the first entry whose quantity fits: the offer is a
-- `held` booking whose id is the entry's id (`bookings.offer`), with its own deadline.
ALTER TABLE events ADD COLUMN waitlist boolean NOT NULL DEFAULT true;

ALTER TABLE bookings ADD COLUMN offer boolean NOT NULL DEFAULT false;

CREATE TABLE waitlist_entries (
    id         uuid PRIMARY KEY,  -- and the id of its offer's booking, once offered
    event_id   bigint NOT NULL REFERENCES events (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    quantity   integer NOT NULL CHECK (quantity >= 1),
    -- Join order within the event, given by the actor (the next after the largest loaded).
    seq        bigint NOT NULL,
    status     text NOT NULL CHECK (status IN ('waiting', 'offered', 'left')),
    joined_at  timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, seq)
);

-- One entry per buyer per event: at most one waiting at a time (an open offer is checked
-- with it by the invariants).
CREATE UNIQUE INDEX waitlist_one_per_buyer ON waitlist_entries (event_id, user_id)
    WHERE status = 'waiting';
-- A claim loads the waiting entries in order; a position counts those ahead.
CREATE INDEX waitlist_waiting ON waitlist_entries (event_id, seq) WHERE status = 'waiting';
CREATE INDEX waitlist_by_user ON waitlist_entries (user_id, event_id);
