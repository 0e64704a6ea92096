"""Rate limiting: exact moving windows in this process's memory (`moving_window.py`); the
limits are written as the `limits` library parses them ("20/second", "10/minute").

Most routes count per signed-in user, else per real address. Login and register count per
address whatever token is sent — a token must not buy a fresh allowance of password guesses
— and login also per target email, so many addresses cannot share out the guesses against
one account. `X-Forwarded-For` is believed only from proxies listed in TRUSTED_PROXIES, and
then the right-most address that is not one of them (the one our proxy saw) is taken.

Counters live in each gateway process, and each of the processes `ticketwar run` starts
with RabbitMQ counts against its share of every limit: see "Limits with several gateways"
in docs/design.md.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from enum import Enum

from aiohttp import web
from limits import parse

from engine.errors import RateLimited
from engine.metrics import Metrics
from engine.process_share import share
from gateway.keys import principal_key
from gateway.moving_window import MovingWindow

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class KeyBy(Enum):
    """Whom a limit holds responsible."""

    #: The signed-in user, else the address.
    CALLER = "caller"
    #: The address, whatever token comes with the request.
    ADDRESS = "address"


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The address to hold responsible for a request."""
    peer = request.remote or "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")
            if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer


def limit_key(request: web.Request, trusted_proxies: frozenset[str],
              by: KeyBy = KeyBy.CALLER) -> str:
    """`user:<id>` for a valid token when counting by caller, else `addr:<address>`."""
    principal = request.get(principal_key)
    if by is KeyBy.CALLER and principal is not None:
        return f"user:{principal.user_id}"
    return f"addr:{client_address(request, trusted_proxies)}"


class RateLimits:
    """One set of counters per app (never a module global), wrapping handlers at route setup
    and checked directly where the key is only known inside a handler (login's email)."""

    def __init__(self, trusted_proxies: frozenset[str], metrics: Metrics, *,
                 processes: int = 1) -> None:
        self._trusted = trusted_proxies
        self._metrics = metrics
        self._processes = processes
        #: One window per (scope, limit): routes sharing a scope share their counts.
        self._windows: dict[tuple[str, str], MovingWindow] = {}

    def _window(self, limit: str, scope: str) -> MovingWindow:
        """The counts of `scope` for `limit` ("20/second") as this process enforces it: its
        share of the allowance."""
        window = self._windows.get((scope, limit))
        if window is None:
            item = parse(limit)
            window = self._windows[(scope, limit)] = MovingWindow(
                share(item.amount, self._processes), item.get_expiry())
        return window

    def address(self, request: web.Request) -> str:
        """The request's real address (see `client_address`)."""
        return client_address(request, self._trusted)

    def hit(self, window: MovingWindow, scope: str, key: str) -> None:
        """Count one request of `key` in `scope`; `RateLimited` once over the window's limit."""
        wait = window.hit(key)
        if wait is None:
            return
        self._metrics.rate_limited.labels(scope).inc()
        raise RateLimited(f"too many requests: at most {window.amount} per "
                          f"{window.seconds:g} s", retry_after=max(1, math.ceil(wait)))

    def counter(self, limit: str, scope: str) -> Callable[[str], Awaitable[None]]:
        """A check of `limit` within `scope` for a key the caller picks (e.g. an email)."""
        window = self._window(limit, scope)

        async def count(key: str) -> None:
            self.hit(window, scope, key)

        return count

    def wrap(self, handler: Handler, limit: str, scope: str,
             by: KeyBy = KeyBy.CALLER) -> Handler:
        """`handler` limited to `limit` (e.g. "20/second") per key within `scope`."""
        window = self._window(limit, scope)

        async def limited(request: web.Request) -> web.StreamResponse:
            self.hit(window, scope, limit_key(request, self._trusted, by))
            return await handler(request)

        return limited
