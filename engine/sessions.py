"""Which tokens a gateway admits, decided from memory with no read on the way: each user's
token version and the ids of tokens signed out, kept current by revocations the database
pushes to every gateway (`engine/storage/session_feed.py`).

A version starts at 0 and only ever grows (a role change, a password change, "log out
everywhere", a removal). So the view holds only the users whose version is not 0 — read in
full when the push channel connects, and again whenever it reconnects — and a user it does
not hold is at 0: a buyer new to this gateway costs no round trip. Whatever arrives — a
read, a push, a newer token — is merged with `max`, in any order, and the view never goes
back to an older version.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping

from engine.auth import Principal
from engine.errors import SessionRevoked
from engine.metrics import Metrics
from engine.types import UserId

#: The version of a user who no longer exists (removed, or deleted by hand): above any
#: version a token can carry, so every token of theirs is refused.
GONE = 2**63 - 1


class SessionView:
    """This process's view of live sessions; `admit` is the check every request passes."""

    def __init__(self, *, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._clock = clock
        #: Users whose version is not 0 (GONE for a user who no longer exists).
        self._versions: dict[UserId, int] = {}
        self._revoked: dict[str, int] = {}          # token id -> expiry (epoch seconds)
        self._expiries: list[tuple[int, str]] = []  # the same, as a heap, to forget in order

    async def admit(self, principal: Principal) -> None:
        """Return if the token's session is live; raise `SessionRevoked` if it has ended."""
        if principal.token_id in self._revoked:
            raise self._refusal("this session was signed out")
        current = self._versions.get(principal.user_id, 0)
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

    @property
    def held(self) -> int:
        """Users whose version this view holds (all whose version is not 0)."""
        return len(self._versions)

    def refresh(self, versions: Mapping[UserId, int],
                revoked: Iterable[tuple[str, int]]) -> None:
        """Merge a full read: every user whose version is not 0 (negative: gone), and every
        token signed out that has not expired. A user held before and absent now was
        deleted outright (versions never return to 0)."""
        for user_id in [u for u in self._versions if u not in versions]:
            self._merge(user_id, GONE)
        for user_id, version in versions.items():
            self.user_version(user_id, version)
        for token_id, expires_at in revoked:
            self.token_revoked(token_id, expires_at)

    def _merge(self, user_id: UserId, version: int) -> None:
        current = max(version, self._versions.get(user_id, 0))
        if current:
            self._versions[user_id] = current
        if self._metrics is not None:
            self._metrics.session_versions.set(len(self._versions))
