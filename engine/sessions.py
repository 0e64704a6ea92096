"""Which tokens a gateway admits, decided from memory: each user's token version and the ids
of tokens signed out, kept current by revocations the database pushes to every gateway
(`engine/storage/session_feed.py`). Checking a token on the hot path costs no round trip.

A user's version is read once, on first sight (reads of users first seen together share one
query), then kept in a least-recently-used map of bounded size. Versions only ever grow, so
whatever arrives — a first read, a push, a re-read after reconnecting, a newer token — is
merged with `max`, in any order, and the view never goes back to an older version.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from engine.auth import Principal
from engine.errors import SessionRevoked
from engine.metrics import Metrics
from engine.types import UserId

#: The version of a user who no longer exists (removed, or deleted by hand): above any
#: version a token can carry, so every token of theirs is refused.
GONE = 2**63 - 1

#: Reads the current versions of these users; a user missing from the answer is GONE.
Loader = Callable[[Sequence[UserId]], Awaitable[Mapping[UserId, int]]]


class SessionView:
    """This process's view of live sessions; `admit` is the check every request passes."""

    def __init__(self, load: Loader, *, capacity: int = 100_000,
                 metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._load = load
        self._capacity = capacity
        self._metrics = metrics
        self._clock = clock
        self._versions: OrderedDict[UserId, int] = OrderedDict()
        self._revoked: dict[str, int] = {}          # token id -> expiry (epoch seconds)
        self._expiries: list[tuple[int, str]] = []  # the same, as a heap, to forget in order
        self._waiting: dict[UserId, asyncio.Future[int]] = {}
        self._reads: set[asyncio.Task[None]] = set()

    async def admit(self, principal: Principal) -> None:
        """Return if the token's session is live; raise `SessionRevoked` if it has ended."""
        if principal.token_id in self._revoked:
            raise self._refusal("this session was signed out")
        current = self._versions.get(principal.user_id)
        if current is None:
            current = await self._first_sight(principal.user_id)
        else:
            self._versions.move_to_end(principal.user_id)
        if principal.version < current:
            raise self._refusal("this session has ended: sign in again")
        if principal.version > current:
            # We signed it, so the version did reach this; the push is on its way.
            self.user_version(principal.user_id, principal.version)

    def _refusal(self, message: str) -> SessionRevoked:
        if self._metrics is not None:
            self._metrics.sessions_refused.inc()
        return SessionRevoked(message)

    def user_version(self, user_id: UserId, version: int) -> None:
        """A user's version is now `version` (a negative one: the user is gone)."""
        self._merge(user_id, GONE if version < 0 else version)

    def token_revoked(self, token_id: str, expires_at: int) -> None:
        """The token `token_id` was signed out; it is refused until it expires anyway."""
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            _, old = heapq.heappop(self._expiries)
            self._revoked.pop(old, None)
        if expires_at > now and token_id not in self._revoked:
            self._revoked[token_id] = expires_at
            heapq.heappush(self._expiries, (expires_at, token_id))

    def cached_users(self) -> list[UserId]:
        """The users whose versions are held (re-read after the push channel was down)."""
        return list(self._versions)

    def refresh(self, users: Iterable[UserId], versions: Mapping[UserId, int],
                revoked: Iterable[tuple[str, int]]) -> None:
        """Merge a fresh read: `versions` of `users` (absent ones are gone) and every token
        signed out that has not expired."""
        for user_id in users:
            self._merge(user_id, versions.get(user_id, GONE))
        for token_id, expires_at in revoked:
            self.token_revoked(token_id, expires_at)

    def _merge(self, user_id: UserId, version: int) -> int:
        current = max(version, self._versions.get(user_id, version))
        self._versions[user_id] = current
        self._versions.move_to_end(user_id)
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)
        return current

    async def _first_sight(self, user_id: UserId) -> int:
        future = self._waiting.get(user_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # Retrieved even when every request waiting on it was cancelled meanwhile.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            if not self._waiting:
                # Runs once the requests of this turn of the loop have queued their users.
                task = asyncio.create_task(self._read_waiting())
                self._reads.add(task)
                task.add_done_callback(self._reads.discard)
            self._waiting[user_id] = future
        # Shielded: one caller giving up must not cancel the read the others wait for.
        return await asyncio.shield(future)

    async def _read_waiting(self) -> None:
        batch, self._waiting = self._waiting, {}
        if self._metrics is not None:
            self._metrics.session_loads.inc(len(batch))
        try:
            found = await self._load(list(batch))
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        except Exception as exc:  # handed to every waiting request (Unavailable: a 503)
            for future in batch.values():
                future.set_exception(exc)
            return
        for user_id, future in batch.items():
            future.set_result(self._merge(user_id, found.get(user_id, GONE)))

    async def stop(self) -> None:
        """Cancel reads in flight (their requests are being shut down too)."""
        for task in list(self._reads):
            task.cancel()
        await asyncio.gather(*self._reads, return_exceptions=True)
