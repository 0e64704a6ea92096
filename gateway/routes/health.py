"""`/api/health`: 200 when the database and (if configured) the broker answer."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.storage import TRANSIENT_DB_ERRORS
from gateway.keys import pool_key, settings_key, transport_key
from gateway.responses import json_response


async def health(request: web.Request) -> web.Response:
    """Check each dependency with a short timeout."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await request.app[pool_key].fetchval("SELECT 1")
        checks["database"] = "ok"
    except TRANSIENT_DB_ERRORS:
        checks["database"] = "down"
    transport = request.app[transport_key]
    checks[request.app[settings_key].transport] = "ok" if await transport.healthy() else "down"
    ok = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ok else "degraded", "checks": checks},
                         200 if ok else 503)
