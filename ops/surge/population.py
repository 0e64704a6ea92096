"""Buyers and events for a surge. The bulk path: accounts are inserted by SQL in one
statement (one argon2 hash shared) and their tokens minted with the engine's issuer —
registering 20,000 buyers through the API would spend minutes hashing passwords on purpose.
Events are created through the API, as an organizer would."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
from argon2 import PasswordHasher

from engine.auth import TokenIssuer
from engine.types import Role

#: The password of every bulk account (they exist to be load, not to log in by hand).
BULK_PASSWORD = "surge-buyer-password"
_CHUNK = 10_000


@functools.cache
def bulk_password_hash() -> str:
    """One argon2id hash of BULK_PASSWORD, computed once per process."""
    return PasswordHasher().hash(BULK_PASSWORD)


@dataclass(frozen=True)
class Account:
    """An account and its bearer token."""

    id: int
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this account."""
        return {"Authorization": f"Bearer {self.token}"}


async def bulk_accounts(pool: asyncpg.Pool, issuer: TokenIssuer, count: int,
                        role: Role = Role.USER, tag: str | None = None) -> list[Account]:
    """`count` fresh accounts with unique emails, inserted in chunks of 10,000."""
    tag = tag or uuid.uuid4().hex[:10]
    accounts: list[Account] = []
    for start in range(0, count, _CHUNK):
        emails = [f"{role.value.lower()}-{tag}-{i}@surge.example"
                  for i in range(start, min(count, start + _CHUNK))]
        rows = await pool.fetch(
            "INSERT INTO users (email, password_hash, role)"
            " SELECT e, $2, $3 FROM unnest($1::text[]) AS e RETURNING id, email",
            emails, bulk_password_hash(), role.value)
        accounts += [Account(r["id"], r["email"], role, issuer.issue(r["id"], role, r["email"]))
                     for r in rows]
    return accounts


async def create_events(http: aiohttp.ClientSession, url: str, vendor: Account, count: int,
                        seats: int, per_user_limit: int | None, name: str) -> list[int]:
    """Create `count` events through the API; returns their ids."""
    ids = []
    for i in range(count):
        body: dict[str, object] = {"name": f"{name} #{i + 1}", "totalTickets": seats}
        if per_user_limit is not None:
            body["perUserLimit"] = per_user_limit
        async with http.post(f"{url}/api/events", json=body, headers=vendor.headers) as resp:
            if resp.status != 201:
                raise RuntimeError(f"creating an event failed: {resp.status} {await resp.text()}")
            ids.append(int((await resp.json())["id"]))
    return ids
