"""Stream tickets: short-lived, single-purpose credentials that open an event stream.

EventSource cannot send headers, so a browser would have to put its access token in the
stream's URL, where proxies, logs and the browser's history keep it. Instead it exchanges
the token for a ticket (`POST /api/stream/ticket`) just before opening the stream: signed
with the same key, bound to the user and the session of the token it was issued for (so a
revoked session's ticket opens nothing), valid for `TICKET_TTL_SECONDS`, and good for
nothing but a stream (its own audience, which access tokens do not carry and the API
refuses).

A ticket is signed, not stored, so any gateway process (or host) sharing the JWT key
verifies it: the one that issued it need not be the one the stream connects to. Each
process also remembers the tickets it has taken until they expire and refuses them a
second time; nothing is shared for that, so a ticket replayed within its lifetime could
still open one stream on each *other* process — one user's seat updates, for seconds.
"""

from __future__ import annotations

import secrets
import time

import jwt

from engine.auth import Principal
from engine.errors import Unauthenticated
from engine.settings import Settings
from engine.types import Role

TICKET_TTL_SECONDS = 30


class StreamTickets:
    """Issues and verifies stream tickets (HS256, audience `<JWT_AUDIENCE>-stream`)."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_secret is None:
            raise ValueError("no JWT secret: use Settings.with_jwt_secret()")
        self._key = settings.jwt_secret.reveal()
        self._issuer = settings.jwt_issuer
        self._audience = f"{settings.jwt_audience}-stream"
        self.ttl = TICKET_TTL_SECONDS
        # Ticket id -> its expiry, in the order taken. A ticket is taken within its one
        # lifetime of being issued, so that is nearly the order of expiry: pruning from
        # the front keeps none for more than two lifetimes.
        self._taken: dict[str, int] = {}

    def issue(self, principal: Principal) -> str:
        """A ticket for this principal's stream, tied to the session of its token."""
        now = int(time.time())
        return jwt.encode({"sub": str(principal.user_id), "role": principal.role.value,
                           "email": principal.email, "ver": principal.version,
                           "sid": principal.token_id, "sexp": principal.expires_at,
                           "jti": secrets.token_urlsafe(12), "iat": now,
                           "exp": now + self.ttl, "iss": self._issuer,
                           "aud": self._audience}, self._key, algorithm="HS256")

    def verify(self, ticket: str) -> Principal:
        """The principal (and session) a valid ticket was issued for, once per process;
        `Unauthenticated` for anything else, a ticket this process has taken before
        included. Whether that session is still live is the session view's to say."""
        try:
            claims = jwt.decode(ticket, self._key, algorithms=["HS256"],
                                audience=self._audience, issuer=self._issuer,
                                options={"require": ["exp", "iat", "sub", "iss", "aud",
                                                     "jti"]})
            principal = Principal(int(claims["sub"]), Role(claims["role"]),
                                  str(claims["email"]), int(claims["ver"]),
                                  str(claims["sid"]), int(claims["sexp"]))
            self._take(str(claims["jti"]), int(claims["exp"]))
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("invalid or expired stream ticket") from exc
        return principal

    def _take(self, ticket_id: str, expires: int) -> None:
        """Remember a ticket until it expires; `ValueError` if it was taken before."""
        now = int(time.time())
        while self._taken:  # forget the expired: they are refused by their `exp` now
            oldest = next(iter(self._taken))
            if self._taken[oldest] >= now:
                break
            del self._taken[oldest]
        if ticket_id in self._taken:
            raise ValueError("stream ticket already used")
        self._taken[ticket_id] = expires
