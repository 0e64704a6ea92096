"""Refusing at the door: while the booking service is at its bound of requests in flight
(`MAX_REQUESTS_IN_FLIGHT`, engine/admission.py), a booking or cancel request is answered
`503` + `Retry-After` before its body is read, its token verified or its input validated.

The service would refuse it anyway, but only after all that work; under overload that work
is what the refused requests cost the accepted ones (at twice the capacity, about half of
all requests are refused, each paying the parsing, the token check and validation on the
same cores). Nothing is done for a request refused here, so `503` keeps meaning "not done".
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.errors import Unavailable
from gateway.keys import service_key

#: The routes admission control bounds (canonical route paths).
BOUNDED_ROUTES = frozenset({"/api/events/{event_id}/book", "/api/bookings/{booking_id}/cancel"})


@web.middleware
async def shed_when_full(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Middleware: `503` at once for a bounded route while the service is at its bound."""
    if request.method == "POST" and service_key in request.app:
        route = request.match_info.route.resource
        if route is not None and route.canonical in BOUNDED_ROUTES \
                and request.app[service_key].at_capacity:
            raise Unavailable("the gateway is at capacity, try again shortly", retry_after=1)
    return await handler(request)
