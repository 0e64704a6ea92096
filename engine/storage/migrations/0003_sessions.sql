-- Revocable sessions (docs/design.md, Sessions). A token carries its user's token_version
-- (`ver`) and its own id (`jti`). A gateway admits it only while `ver` is the user's current
-- version and `jti` is not revoked; both are held in memory there, and pushed to every
-- gateway on the channel `ticketwar_sessions` by the triggers below.

ALTER TABLE users
    ADD COLUMN token_version bigint NOT NULL DEFAULT 0 CHECK (token_version >= 0),
    -- Set by `ticketwar users remove`: the account is anonymised, never deleted, because its
    -- bookings and tickets are the ledger the invariants count (I1, I6), and a command
    -- already accepted for it must still find its row (a deleted row fails the foreign key).
    ADD COLUMN deleted_at timestamptz;

-- One row per token signed out with POST /api/auth/logout, kept until the token expires.
CREATE TABLE revoked_tokens (
    jti         uuid PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- A change of role, password or deletion revokes every token of the user, whoever makes it
-- (the API, `ticketwar users`, or an operator in psql): nobody has to remember to bump.
-- Versions only grow, so a gateway can merge what it hears in any order with max().
CREATE FUNCTION users_bump_token_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.token_version := greatest(NEW.token_version, OLD.token_version);
    IF NEW.role IS DISTINCT FROM OLD.role
            OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
            OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        NEW.token_version := greatest(NEW.token_version, OLD.token_version + 1);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_bump_token_version BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_bump_token_version();

-- NOTIFY is delivered at commit, so a gateway never hears of a revocation that rolled back.
-- A row deleted outright (by hand: the engine anonymises) is announced as version -1, which
-- gateways read as "gone".
CREATE FUNCTION users_announce_token_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ticketwar_sessions', json_build_object(
            'type', 'user', 'v', 1, 'user', OLD.id, 'version', -1)::text);
    ELSIF NEW.token_version <> OLD.token_version THEN
        PERFORM pg_notify('ticketwar_sessions', json_build_object(
            'type', 'user', 'v', 1, 'user', NEW.id, 'version', NEW.token_version)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_announce_token_version AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_announce_token_version();

CREATE FUNCTION revoked_tokens_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ticketwar_sessions', json_build_object(
        'type', 'token', 'v', 1, 'jti', NEW.jti,
        'expires', extract(epoch FROM NEW.expires_at))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER revoked_tokens_announce AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION revoked_tokens_announce();
