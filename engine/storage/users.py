"""Accounts: create, find, promote, change a password, remove (anonymise).

Changing a role or a password, or removing an account, bumps the user's token version (a
trigger of migration 0003_sessions does it), which revokes every token issued before.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from engine.errors import EmailTaken
from engine.types import Role, UserId


@dataclass(frozen=True, slots=True)
class User:
    """An account as the engine sees it (never carries the password hash outward)."""

    id: UserId
    email: str
    role: Role
    name: str | None = None
    #: Tokens carry this; it grows whenever the user's sessions are revoked.
    token_version: int = 0

    def to_json(self) -> dict[str, object]:
        """The API's user object."""
        return {"id": self.id, "email": self.email, "role": self.role.value, "name": self.name}


_COLUMNS = "id, email, role, name, token_version"


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["email"], Role(row["role"]), row["name"], row["token_version"])


async def create_user(db: asyncpg.Pool | asyncpg.Connection, email: str, password_hash: str,
                      name: str | None, role: Role) -> User:
    """Insert a new account; `EmailTaken` if the email (case-insensitive) exists."""
    try:
        row = await db.fetchrow(
            "INSERT INTO users (email, password_hash, name, role) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_COLUMNS}", email, password_hash, name, role.value)
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise EmailTaken(f"an account with {email} exists") from exc
    return _user(row)


async def find_credentials(db: asyncpg.Pool, email: str) -> tuple[User, str] | None:
    """The user and stored password hash for an email, if any (removed accounts have none)."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM users"
        " WHERE lower(email) = lower($1) AND deleted_at IS NULL", email)
    return None if row is None else (_user(row), row["password_hash"])


async def upsert_user(db: asyncpg.Pool, email: str, password_hash: str | None, role: Role,
                      name: str | None = None) -> tuple[User, bool]:
    """Create the account, or set the role (and password, if given) of an existing one.

    Returns the user and whether it was created.
    """
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL"
            " FOR UPDATE", email)
        if row is None:
            if password_hash is None:
                raise ValueError("a new account needs a password")
            return await create_user(conn, email, password_hash, name, role), True
        updated = await conn.fetchrow(
            "UPDATE users SET role = $2, password_hash = coalesce($3, password_hash),"
            f" name = coalesce($4, name) WHERE id = $1 RETURNING {_COLUMNS}",
            row["id"], role.value, password_hash, name)
        return _user(updated), False


async def set_password(db: asyncpg.Pool, email: str, password_hash: str) -> User | None:
    """Replace the password of an account (revoking its tokens); None if there is none."""
    row = await db.fetchrow(
        f"UPDATE users SET password_hash = $2 WHERE lower(email) = lower($1)"
        f" AND deleted_at IS NULL RETURNING {_COLUMNS}", email, password_hash)
    return None if row is None else _user(row)


async def remove_user(db: asyncpg.Pool, email: str) -> User | None:
    """Remove an account: revoke its tokens and drop what identifies the person, keeping
    the row its bookings, tickets and events point to. None if there is no such account.

    The email becomes `removed-<id>@removed.invalid` (the address may register again) and
    the password hash one that no password matches.
    """
    row = await db.fetchrow(
        "UPDATE users SET deleted_at = now(), name = NULL, password_hash = '!removed',"
        " email = 'removed-' || id || '@removed.invalid'"
        f" WHERE lower(email) = lower($1) AND deleted_at IS NULL RETURNING {_COLUMNS}", email)
    return None if row is None else _user(row)
