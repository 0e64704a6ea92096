"""`GET /api/stream`: Server-Sent Events from the gateway's `StreamHub`, and
`POST /api/stream/ticket`, the short-lived ticket a browser opens it with."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.auth import Principal
from engine.types import UserId
from gateway.auth import require_user
from gateway.keys import (
    principal_key,
    sessions_key,
    settings_key,
    stream_hub_key,
    stream_tickets_key,
)
from gateway.ratelimit import client_address
from gateway.responses import json_response

HEARTBEAT_SECONDS = 15.0
#: How soon a stream whose client went away gives back its place under the caps. aiohttp
#: does not cancel a handler on disconnect (cancelling the booking handlers midway would
#: be worse), so the stream looks at its connection when nothing else wakes it.
LIVENESS_SECONDS = 1.0


async def stream_ticket(request: web.Request) -> web.Response:
    """A ticket that opens the caller's stream for the next few seconds."""
    principal = require_user(request)
    tickets = request.app[stream_tickets_key]
    return json_response({"ticket": tickets.issue(principal),
                          "expiresIn": tickets.ttl})


async def _stream_user(request: web.Request) -> UserId | None:
    """Whose stream: a bearer token's user (non-browser clients), a `?ticket=`'s (browsers:
    EventSource cannot send headers, and an access token in a URL leaks), or nobody's. A
    ticket's session must still be live, as a token's is."""
    principal: Principal | None = request.get(principal_key)
    ticket = request.query.get("ticket")
    if principal is None and ticket:
        principal = request.app[stream_tickets_key].verify(ticket)
        await request.app[sessions_key].admit(principal)
    return principal.user_id if principal else None


async def stream(request: web.Request) -> web.StreamResponse:
    """Open an event stream: seats left for everyone, bookings for their owner."""
    user_id = await _stream_user(request)
    hub = request.app[stream_hub_key]
    address = client_address(request, request.app[settings_key].trusted_proxies)
    # Before the response starts, so a refusal is an ordinary 503 answer.
    sub = hub.subscribe(user_id, address)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n: connected\n\n")
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            try:
                frame = await asyncio.wait_for(sub.queue.get(), LIVENESS_SECONDS)
            except TimeoutError:
                if request.transport is None:
                    break  # the client went away
                if loop.time() - quiet_since < HEARTBEAT_SECONDS:
                    continue
                frame = b": heartbeat\n\n"  # keeps proxies from closing an idle stream
            if frame is None:
                break
            await response.write(frame)
            quiet_since = loop.time()
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        hub.unsubscribe(sub)
    return response
