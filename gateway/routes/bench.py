"""`POST /api/bench/book/{event_id}`: everything a booking costs the gateway — token check,
rate limit, path and body parsing, a JSON answer — and nothing else. Mounted only with
BENCH_ENDPOINTS=1, so `make bench` can measure the bare gateway's ceiling beside the
strategies and report every result as a ratio that holds on a noisy machine."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import require_user
from gateway.responses import json_response
from gateway.schemas import BookInput, EventPath
from gateway.validation import path_params, read_json


async def noop_book(request: web.Request) -> web.Response:
    """Parse and authenticate a booking request, then answer without booking."""
    principal = require_user(request)
    event_id = path_params(request, EventPath).event_id
    body = await read_json(request, BookInput, empty_ok=True)
    return json_response({"eventId": event_id, "userId": principal.user_id,
                          "quantity": body.quantity})
