"""Buyers and events for a surge. The bulk path: accounts are inserted by SQL in one
statement (one argon2 hash shared) and their tokens minted with the engine's issuer —
registering 20,000 buyers through the API would spend minutes hashing passwords on purpose.
Events are created through the API, as an organizer would."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import asyncpg
from argon2 import PasswordHasher

from engine.auth import TokenIssuer
from engine.types import Role

#: The password of every bulk account (they exist to be load, not to log in by hand).
BULK_PASSWORD = "surge-buyer-password"
_CHUNK = 10_000
#: Answers that mean "not now": the set-up waits as long as Retry-After says and tries again.
_TRY_LATER = (429, 503)


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
                        seats: int, fields: Mapping[str, object], name: str, *,
                        give_up_after: float = 120.0) -> list[int]:
    """Create `count` events through the API, each with `fields` (per-user limit, price...);
    returns their ids.

    An organizer under the gateway's rate limit is told when to come back (429 or 503 with
    Retry-After): the set-up does so, for `give_up_after` seconds at most, instead of
    failing the run (creating many-events' 200 events meets the default 100/second).
    """
    deadline = time.monotonic() + give_up_after
    ids = []
    for i in range(count):
        body: dict[str, object] = {"name": f"{name} #{i + 1}", "totalTickets": seats,
                                   **fields}
        while True:
            async with http.post(f"{url}/api/events", json=body,
                                 headers=vendor.headers) as resp:
                if resp.status == 201:
                    ids.append(int((await resp.json())["id"]))
                    break
                wait = retry_after(resp.headers.get("Retry-After"))
                if resp.status not in _TRY_LATER or time.monotonic() + wait > deadline:
                    raise RuntimeError(
                        f"creating an event failed: {resp.status} {await resp.text()}")
            await asyncio.sleep(wait)  # what the server asked for, not a guess at timing
    return ids


def retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds); 1 when absent or a date."""
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
