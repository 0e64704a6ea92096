-- The fair waiting room in front of a hot sale (issue 14, docs/design.md "Waiting room").
-- The room is state of its event in the owning shard actor; these rows are what its group
-- commit writes, so a restart or a change of owner loses no place in line, and what
-- `ticketwar queue audit` checks: the seed that shuffled the pre-queue and the order of
-- every admission.

-- The organizer's settings (`waitingRoom` in the API); off by default.
ALTER TABLE events
    ADD COLUMN waiting_room boolean NOT NULL DEFAULT false,
    ADD COLUMN admit_per_minute integer
        CONSTRAINT admit_per_minute_range CHECK (admit_per_minute BETWEEN 1 AND 1000000),
    ADD COLUMN queue_opens_at timestamptz
        CONSTRAINT queue_opens_at_window CHECK (
            queue_opens_at >= '2000-01-01 00:00:00+00'
            AND queue_opens_at < '2101-01-01 00:00:00+00'),
    ADD COLUMN admission_seconds integer NOT NULL DEFAULT 300
        CONSTRAINT admission_seconds_range CHECK (admission_seconds BETWEEN 30 AND 3600);

-- One row per event whose room has had anyone in it.
CREATE TABLE queue_rooms (
    event_id   bigint PRIMARY KEY REFERENCES events (id),
    -- Ranks the pre-queue at the opening: SHA-256(seed || queue id), ascending.
    seed       bytea NOT NULL CHECK (length(seed) = 16),
    opened_at  timestamptz,
    closed_at  timestamptz,
    -- Bumped by every batch that changed the room; its broadcasts carry it, so a gateway
    -- that loaded the room knows which broadcasts it has already seen.
    version    bigint NOT NULL,
    -- The seq of the next entry to admit: a position is seq - head + 1.
    head       bigint NOT NULL,
    -- Admissions per second an estimated wait uses, as of the last change.
    rate       double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queue_entries (
    id         uuid PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    -- Join order within the event, and whether the join came before the opening.
    join_no    bigint NOT NULL,
    prequeued  boolean NOT NULL,
    -- Place in the line from the opening on; the order of its admission, once admitted.
    seq        bigint,
    admit_no   bigint,
    status     text NOT NULL
        CHECK (status IN ('prequeue', 'waiting', 'admitted', 'used', 'expired', 'closed')),
    joined_at  timestamptz NOT NULL,
    admission_expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, join_no),
    UNIQUE (event_id, seq),
    UNIQUE (event_id, admit_no),
    -- In the line from the opening on (a pre-queued entry closed before it has no place).
    CHECK (status <> 'prequeue' OR seq IS NULL),
    CHECK (status NOT IN ('waiting', 'admitted', 'used', 'expired') OR seq IS NOT NULL),
    CHECK ((status IN ('admitted', 'used', 'expired')) = (admit_no IS NOT NULL))
);

-- One active entry per account per event.
CREATE UNIQUE INDEX queue_one_active ON queue_entries (event_id, user_id)
    WHERE status IN ('prequeue', 'waiting', 'admitted');
