"""`/api/config`: what a client needs to know of how this engine is set up, nothing secret."""

from __future__ import annotations

from aiohttp import web

from gateway.keys import payments_key
from gateway.responses import json_response


async def config(request: web.Request) -> web.Response:
    """The payment provider's name (`fake`: the test tokens work and no money moves), so the
    web UI offers the fake provider's test cards only when they are what charges."""
    return json_response({"paymentProvider": request.app[payments_key].name})
