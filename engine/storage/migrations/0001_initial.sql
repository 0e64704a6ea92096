-- Users, events, bookings, tickets and idempotency keys.
-- Every invariant of docs/design.md that a constraint can hold is held here, so that even a bug
-- in the engine cannot commit an oversell (I1), a duplicate booking (I3) or a reused key (I4).

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    name          text,
    role          text NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'VENDOR', 'ADMIN')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE events (
    id             bigserial PRIMARY KEY,
    vendor_id      bigint NOT NULL REFERENCES users (id),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    venue          text,
    starts_at      timestamptz,
    sale_starts_at timestamptz,
    capacity       integer NOT NULL CHECK (capacity >= 0),
    sold           integer NOT NULL DEFAULT 0,
    per_user_limit integer CHECK (per_user_limit IS NULL OR per_user_limit >= 1),
    -- Fencing token: bumped by every shard actor that claims the event and by every edit,
    -- so a stale owner's batch write matches no row and fails (docs/design.md, ownership).
    owner_epoch    bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT no_oversell CHECK (sold >= 0 AND sold <= capacity)  -- I1
);

CREATE TABLE bookings (
    id              uuid PRIMARY KEY,  -- I3: one row per booking id, however often redelivered
    event_id        bigint NOT NULL REFERENCES events (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    quantity        integer NOT NULL CHECK (quantity >= 1),
    status          text NOT NULL CHECK (status IN ('confirmed', 'rejected', 'cancelled')),
    reason          text,
    strategy        text NOT NULL DEFAULT 'queued',
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX bookings_event_user ON bookings (event_id, user_id) WHERE status = 'confirmed';
CREATE INDEX bookings_user ON bookings (user_id, created_at DESC);

CREATE TABLE tickets (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    booking_id  uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    event_id    bigint NOT NULL REFERENCES events (id),
    user_id     bigint NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_user ON tickets (user_id, created_at DESC);
CREATE INDEX tickets_booking ON tickets (booking_id);
CREATE INDEX tickets_event ON tickets (event_id);

-- I4: a client's retry key, scoped to the user, pinned to the first request's body.
CREATE TABLE idempotency_keys (
    user_id     bigint NOT NULL REFERENCES users (id),
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    booking_id  uuid NOT NULL UNIQUE,
    event_id    bigint NOT NULL,
    quantity    integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
