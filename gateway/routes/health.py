"""`/api/health`: 200 when the database and (if configured) the broker answer; the probe
is cached (`gateway.health.HealthProbe`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.storage import TRANSIENT_DB_ERRORS
from gateway.keys import health_probe_key, pool_key, settings_key, transport_key
from gateway.responses import json_response


async def _probe(app: web.Application) -> dict[str, str]:
    """Check each dependency with a short timeout."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await app[pool_key].fetchval("SELECT 1")
        checks["database"] = "ok"
    except TRANSIENT_DB_ERRORS:
        checks["database"] = "down"
    checks[app[settings_key].transport] = "ok" if await app[transport_key].healthy() else "down"
    return checks


async def health(request: web.Request) -> web.Response:
    """Whether this gateway can serve: 200, or 503 naming what is down."""
    checks = await request.app[health_probe_key].checks(lambda: _probe(request.app))
    ok = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ok else "degraded", "checks": checks},
                         200 if ok else 503)
