"""Rate limiting (aiohttp-ratelimiter), keyed by the signed-in user, else by the real address.

The library's default key trusts `X-Forwarded-For` from anyone, which lets a bot pick a fresh
identity per request. Ours believes that header only from proxies listed in TRUSTED_PROXIES,
and then takes the right-most address that is not one of them (the one our proxy saw).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttplimiter import Limiter, RateLimitExceeded
from limits import parse

from engine.errors import RateLimited
from engine.metrics import Metrics
from gateway.keys import principal_key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def limit_key(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """`user:<id>` for a valid token, else `addr:<address>`."""
    principal = request.get(principal_key)
    if principal is not None:
        return f"user:{principal.user_id}"
    return f"addr:{client_address(request, trusted_proxies)}"


class RateLimits:
    """One limiter per app (never a module global), wrapping handlers at route setup."""

    def __init__(self, trusted_proxies: frozenset[str], metrics: Metrics) -> None:
        self._trusted = trusted_proxies
        self.limiter = Limiter(keyfunc=self._key)
        self._metrics = metrics

    def _key(self, request: web.Request) -> str:
        return limit_key(request, self._trusted)

    def wrap(self, handler: Handler, limit: str, scope: str) -> Handler:
        """`handler` limited to `limit` (e.g. "20/second") per key within `scope`."""
        retry_after = max(1, int(parse(limit).get_expiry()))
        counter = self._metrics.rate_limited.labels(scope)

        def too_many(request: web.Request, exc: RateLimitExceeded) -> web.Response:
            counter.inc()
            # Raised, not answered here: the error middleware gives it its status and shape.
            raise RateLimited(f"too many requests: {exc.detail}", retry_after=retry_after)

        wrapped: Handler = self.limiter.limit(limit, error_handler=too_many,
                                              path_id=scope)(handler)
        return wrapped
