"""Deadlines of a request: on reading its body, so a client sending it byte by byte
(slowloris) cannot hold a handler and its connection open; and on each database read it
makes, so a silent database answers 503 instead of nothing (`engine/storage/read_bound.py`).

aiohttp hands a request to its handler as soon as the head has arrived and has no timeout
of its own on the body. Bodies are small (MAX_BODY_BYTES), so this middleware reads the
whole body up front within BODY_TIMEOUT_SECONDS; handlers then read it from memory.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from engine.errors import RequestTimeout
from engine.storage.read_bound import bounded


def body_deadline(seconds: float) -> Middleware:
    """Middleware: `408 request_timeout` for a body not complete within `seconds`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                raise RequestTimeout(f"the body did not arrive within {seconds:g} s") from None
        return await handler(request)

    return middleware


def db_read_deadline(seconds: float) -> Middleware:
    """Middleware: each database read of the request waits at most `seconds`
    (`503 database_timeout` past it)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        with bounded(seconds):
            return await handler(request)

    return middleware
