"""Registering, signing in and out, and the operator's account changes: the account rules,
over the users table."""

from __future__ import annotations

import re

import asyncpg

from engine.auth import (
    Principal,
    TokenIssuer,
    check_password_strength,
    hash_password,
    verify_password,
)
from engine.errors import InvalidCredentials, InvalidInput, SessionRevoked
from engine.sessions import SessionView
from engine.storage import sessions, users
from engine.storage.database import translate_db_errors, write_transaction
from engine.storage.users import User
from engine.types import Role

# Deliberately loose: one @, something on each side, a dot in the domain. Deliverability is
# for a confirmation mail to prove, not a regex.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """Trimmed, validated email; `InvalidInput` if it is not one."""
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email is not a valid address", field="email")
    return email


async def register(pool: asyncpg.Pool, email: str, password: str, name: str | None,
                   role: Role = Role.USER) -> User:
    """Create an account; a client may only ever pick USER or VENDOR (never ADMIN)."""
    if role is Role.ADMIN:
        raise InvalidInput("role ADMIN cannot be chosen", field="role")
    email = normalize_email(email)
    check_password_strength(password, [email, name or ""])
    password_hash = await hash_password(password)
    async with translate_db_errors(), write_transaction(pool) as conn:
        return await users.create_user(conn, email, password_hash, name, role)


async def login(pool: asyncpg.Pool, issuer: TokenIssuer, email: str,
                password: str) -> tuple[str, User]:
    """A token for valid credentials; `InvalidCredentials` otherwise (same time either way)."""
    async with translate_db_errors(read=True):
        found = await users.find_credentials(pool, email.strip())
    ok = await verify_password(found[1] if found else None, password)
    if found is None or not ok:
        raise InvalidCredentials("wrong email or password")
    user = found[0]
    return issuer.issue(user.id, user.role, user.email, user.token_version), user


async def logout(pool: asyncpg.Pool, view: SessionView, principal: Principal) -> None:
    """Sign out the caller's token: refused here at once, on every other gateway when the
    database's announcement reaches it."""
    async with translate_db_errors():
        await sessions.revoke_token(pool, principal.token_id, principal.user_id,
                                    principal.expires_at)
    view.token_revoked(principal.token_id, principal.expires_at)


async def logout_all(pool: asyncpg.Pool, view: SessionView, principal: Principal) -> None:
    """Sign out every token of the caller, on every device."""
    async with translate_db_errors():
        version = await sessions.revoke_all(pool, principal.user_id)
    if version is None:
        raise SessionRevoked("this account was removed")
    view.user_version(principal.user_id, version)


async def add_user(pool: asyncpg.Pool, email: str, password: str | None,
                   role: Role, name: str | None = None) -> tuple[User, bool]:
    """Operator path (CLI): create or promote an account, any role. Returns (user, created)."""
    email = normalize_email(email)
    password_hash = None
    if password is not None:
        check_password_strength(password, [email, name or ""])
        password_hash = await hash_password(password)
    return await users.upsert_user(pool, email, password_hash, role, name)


async def set_password(pool: asyncpg.Pool, email: str, password: str) -> User | None:
    """Operator path (CLI): a new password, which signs the account out everywhere."""
    check_password_strength(password)
    password_hash = await hash_password(password)
    return await users.set_password(pool, email.strip(), password_hash)


async def remove_user(pool: asyncpg.Pool, email: str) -> User | None:
    """Operator path (CLI): sign the account out everywhere and anonymise it (see
    `users.remove_user`); its bookings and tickets stay, as the ledger needs them."""
    return await users.remove_user(pool, email.strip())
