"""Stream tickets: short-lived, single-purpose credentials that open an event stream.

EventSource cannot send headers, so a browser would have to put its access token in the
stream's URL, where proxies, logs and the browser's history keep it. Instead it exchanges
the token for a ticket (`POST /api/stream/ticket`) just before opening the stream: signed
with the same key, bound to the user and the session of the token it was issued for (so a
revoked session's ticket opens nothing), valid for `TICKET_TTL_SECONDS`, and good for
nothing but a stream (its own audience, which access tokens do not carry and the API
refuses).
"""

from __future__ import annotations

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

    def issue(self, principal: Principal) -> str:
        """A ticket for this principal's stream, tied to the session of its token."""
        now = int(time.time())
        return jwt.encode({"sub": str(principal.user_id), "role": principal.role.value,
                           "email": principal.email, "ver": principal.version,
                           "sid": principal.token_id, "sexp": principal.expires_at,
                           "iat": now, "exp": now + self.ttl, "iss": self._issuer,
                           "aud": self._audience}, self._key, algorithm="HS256")

    def verify(self, ticket: str) -> Principal:
        """The principal (and session) a valid ticket was issued for; `Unauthenticated` for
        anything else. Whether that session is still live is the session view's to say."""
        try:
            claims = jwt.decode(ticket, self._key, algorithms=["HS256"],
                                audience=self._audience, issuer=self._issuer,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"]})
            return Principal(int(claims["sub"]), Role(claims["role"]), str(claims["email"]),
                             int(claims["ver"]), str(claims["sid"]), int(claims["sexp"]))
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("invalid or expired stream ticket") from exc
