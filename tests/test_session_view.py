"""The gateway's in-memory session view, alone: newest version wins in any order, memory
stays bounded, signed-out tokens are forgotten once expired, and users first seen together
are read in one query."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from engine.auth import Principal
from engine.errors import SessionRevoked, Unavailable
from engine.sessions import GONE, SessionView
from engine.types import Role, UserId


class Table:
    """A users table in memory: the versions a loader reads, and every read it served."""

    def __init__(self, versions: dict[UserId, int]) -> None:
        self.versions = versions
        self.reads: list[list[UserId]] = []
        self.down = False
        self.reading = asyncio.Event()  # a read has started
        self.gate: asyncio.Event | None = None  # when set, reads wait for it to open

    async def load(self, user_ids: Sequence[UserId]) -> Mapping[UserId, int]:
        self.reads.append(list(user_ids))
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise Unavailable("database unavailable")
        return {u: self.versions[u] for u in user_ids if u in self.versions}


def token(user_id: UserId, version: int = 0, token_id: str = "t", expires: int = 10**10
          ) -> Principal:
    return Principal(user_id, Role.USER, f"u{user_id}@test.example", version, token_id, expires)


async def test_the_newest_version_wins_whatever_the_order() -> None:
    view = SessionView(Table({1: 3}).load)
    await view.admit(token(1, 3))
    view.user_version(1, 5)
    view.user_version(1, 4)  # a late, older announcement changes nothing
    view.refresh([1], {1: 4}, [])
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, 4))
    await view.admit(token(1, 5))
    await view.admit(token(1, 6))  # newer than heard: we signed it, so it is learnt
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, 5))


async def test_a_user_gone_stays_gone() -> None:
    table = Table({})
    view = SessionView(table.load)
    with pytest.raises(SessionRevoked):
        await view.admit(token(7))
    view.user_version(8, -1)
    with pytest.raises(SessionRevoked):
        await view.admit(token(8, 10**9))
    assert view.cached_users() == [7, 8] and GONE > 10**18


async def test_memory_is_bounded_by_the_least_recently_seen() -> None:
    table = Table({u: 0 for u in range(10)})
    view = SessionView(table.load, capacity=3)
    for user in (1, 2, 3, 1, 4):
        await view.admit(token(user))
    assert sorted(view.cached_users()) == [1, 3, 4]  # 2 was seen least recently
    await view.admit(token(2))
    assert table.reads[-1] == [2]  # read again on its next visit


async def test_signed_out_tokens_are_forgotten_once_expired() -> None:
    now = [1000.0]
    view = SessionView(Table({1: 0}).load, clock=lambda: now[0])
    view.token_revoked("a", 1010)
    view.token_revoked("old", 999)  # expired already: nothing to keep
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, token_id="a", expires=1010))
    await view.admit(token(1, token_id="old", expires=999))  # expiry is the issuer's check
    now[0] = 1011.0
    view.token_revoked("b", 2000)
    await view.admit(token(1, token_id="a"))
    with pytest.raises(SessionRevoked):
        await view.admit(token(1, token_id="b"))


async def test_users_first_seen_together_are_read_in_one_query() -> None:
    table = Table({u: 0 for u in range(100)})
    view = SessionView(table.load)
    await asyncio.gather(*(view.admit(token(u % 50)) for u in range(100)))
    assert len(table.reads) == 1 and sorted(table.reads[0]) == list(range(50))
    await asyncio.gather(*(view.admit(token(u)) for u in range(100)))
    assert len(table.reads) == 2 and sorted(table.reads[1]) == list(range(50, 100))


async def test_a_failed_read_fails_its_requests_and_the_next_one_reads_again() -> None:
    table = Table({1: 0, 2: 0})
    table.down = True
    view = SessionView(table.load)
    results = await asyncio.gather(view.admit(token(1)), view.admit(token(2)),
                                   return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    table.down = False
    await view.admit(token(1))
    assert len(table.reads) == 2


async def test_one_request_giving_up_does_not_fail_the_others_waiting() -> None:
    table = Table({1: 0})
    table.gate = asyncio.Event()
    view = SessionView(table.load)
    first = asyncio.create_task(view.admit(token(1)))
    second = asyncio.create_task(view.admit(token(1)))
    await table.reading.wait()  # both are waiting on the same read now
    first.cancel()
    table.gate.set()
    await second
    assert first.cancelled() and len(table.reads) == 1
