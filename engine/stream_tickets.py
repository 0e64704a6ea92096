"""Stream tickets: short-lived, single-purpose credentials that open an event stream.

EventSource cannot send headers, so a browser would have to put its access token in the
stream's URL, where proxies, logs and the browser's history keep it. Instead it exchanges
the token for a ticket (`POST /api/stream/ticket`) just before opening the stream: signed
with the same key, bound to the user, valid for `TICKET_TTL_SECONDS`, and good for nothing
but a stream (its own audience, which access tokens do not carry and the API refuses).
"""

from __future__ import annotations

import time

import jwt

from engine.errors import Unauthenticated
from engine.settings import Settings
from engine.types import UserId

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

    def issue(self, user_id: UserId) -> str:
        """A ticket for this user's stream."""
        now = int(time.time())
        return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + self.ttl,
                           "iss": self._issuer, "aud": self._audience},
                          self._key, algorithm="HS256")

    def verify(self, ticket: str) -> UserId:
        """The user a valid ticket was issued to; `Unauthenticated` for anything else."""
        try:
            claims = jwt.decode(ticket, self._key, algorithms=["HS256"],
                                audience=self._audience, issuer=self._issuer,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"]})
            return int(claims["sub"])
        except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
            raise Unauthenticated("invalid or expired stream ticket") from exc
