"""`GET /api/stream`: Server-Sent Events from the gateway's `StreamHub`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.keys import issuer_key, principal_key, settings_key, stream_hub_key
from gateway.ratelimit import client_address

HEARTBEAT_SECONDS = 15.0
#: How soon a stream whose client went away gives back its place under the caps. aiohttp
#: does not cancel a handler on disconnect (cancelling the booking handlers midway would
#: be worse), so the stream looks at its connection when nothing else wakes it.
LIVENESS_SECONDS = 1.0


async def stream(request: web.Request) -> web.StreamResponse:
    """Open an event stream. A token may come as `?token=` because EventSource cannot send
    headers."""
    principal = request.get(principal_key)
    token = request.query.get("token")
    if principal is None and token:
        principal = request.app[issuer_key].verify(token)
    hub = request.app[stream_hub_key]
    address = client_address(request, request.app[settings_key].trusted_proxies)
    # Before the response starts, so a refusal is an ordinary 503 answer.
    sub = hub.subscribe(principal.user_id if principal else None, address)
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
