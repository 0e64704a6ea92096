"""Accounts: create, find, promote."""

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

    def to_json(self) -> dict[str, object]:
        """The API's user object."""
        return {"id": self.id, "email": self.email, "role": self.role.value, "name": self.name}


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["email"], Role(row["role"]), row["name"])


async def create_user(db: asyncpg.Pool | asyncpg.Connection, email: str, password_hash: str,
                      name: str | None, role: Role) -> User:
    """Insert a new account; `EmailTaken` if the email (case-insensitive) exists."""
    try:
        row = await db.fetchrow(
            "INSERT INTO users (email, password_hash, name, role) VALUES ($1, $2, $3, $4)"
            " RETURNING id, email, role, name", email, password_hash, name, role.value)
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise EmailTaken(f"an account with {email} exists") from exc
    return _user(row)


async def find_credentials(db: asyncpg.Pool, email: str) -> tuple[User, str] | None:
    """The user and stored password hash for an email, if any."""
    row = await db.fetchrow(
        "SELECT id, email, role, name, password_hash FROM users WHERE lower(email) = lower($1)",
        email)
    return None if row is None else (_user(row), row["password_hash"])


async def upsert_user(db: asyncpg.Pool, email: str, password_hash: str | None, role: Role,
                      name: str | None = None) -> tuple[User, bool]:
    """Create the account, or set the role (and password, if given) of an existing one.

    Returns the user and whether it was created.
    """
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id FROM users WHERE lower(email) = lower($1) FOR UPDATE", email)
        if row is None:
            if password_hash is None:
                raise ValueError("a new account needs a password")
            return await create_user(conn, email, password_hash, name, role), True
        updated = await conn.fetchrow(
            "UPDATE users SET role = $2, password_hash = coalesce($3, password_hash),"
            " name = coalesce($4, name) WHERE id = $1 RETURNING id, email, role, name",
            row["id"], role.value, password_hash, name)
        return _user(updated), False
