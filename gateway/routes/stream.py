"""`GET /api/stream`: Server-Sent Events from the gateway's `StreamHub`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.auth import authenticate
from gateway.keys import principal_key, stream_hub_key

HEARTBEAT_SECONDS = 15.0


async def stream(request: web.Request) -> web.StreamResponse:
    """Open an event stream. A token may come as `?token=` because EventSource cannot send
    headers."""
    principal = request.get(principal_key)
    token = request.query.get("token")
    if principal is None and token:
        principal = await authenticate(request.app, token)
    hub = request.app[stream_hub_key]
    sub = hub.subscribe(principal.user_id if principal else None)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n: connected\n\n")
        while True:
            try:
                frame = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                frame = b": heartbeat\n\n"  # keeps proxies from closing an idle stream
            if frame is None:
                break
            await response.write(frame)
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        hub.unsubscribe(sub)
    return response
