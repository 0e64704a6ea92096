"""The gateway's app factory: `create_app(settings)`. Nothing is created at import time.

Each resource is one cleanup_ctx generator, set up in order and torn down in reverse:
pool → shard runtime + transport → booking service. On shutdown aiohttp first stops taking
requests, then the transport closes, then the runtime finishes its batches in flight.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from engine.auth import TokenIssuer
from engine.metrics import Metrics
from engine.runtime import ShardRuntime
from engine.service import BookingService
from engine.settings import Settings
from engine.storage import create_pool
from engine.storage.shard_store import PgShardStore
from engine.transport import Transport, create_transport
from engine.types import Strategy
from gateway import openapi, webui
from gateway.auth import auth_middleware
from gateway.errors import error_middleware
from gateway.keys import (
    issuer_key,
    limits_key,
    metrics_key,
    pool_key,
    runtime_key,
    service_key,
    settings_key,
    stream_hub_key,
    transport_key,
)
from gateway.ratelimit import Handler, RateLimits
from gateway.routes import accounts, bench, bookings, events, health
from gateway.stream import StreamHub, stream

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = await create_pool(app[settings_key])
    app[pool_key] = pool
    yield
    await pool.close()


async def _engine(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    runtime = None
    if settings.transport == "inproc":
        # Embedded mode: the shard actors run here; the transport is also their outlet.
        from engine.transport.inproc import InprocTransport

        runtime = ShardRuntime(PgShardStore(app[pool_key]), shards=settings.shards,
                               max_batch=settings.max_batch, metrics=app[metrics_key])
        transport: Transport = InprocTransport(settings, runtime)
        app[runtime_key] = runtime
    else:
        transport = create_transport(settings, None, metrics=app[metrics_key])
    app[transport_key] = transport
    needs_transport = settings.booking_strategy is Strategy.QUEUED
    app[service_key] = BookingService(settings, app[pool_key],
                                      transport if needs_transport else None)
    hub = app[stream_hub_key]
    transport.on_stock(hub.stock)
    transport.on_stock(app[metrics_key].observe_stock)
    app[service_key].on_outcome(hub.outcome)
    app[service_key].on_stock(hub.stock)
    app[service_key].on_stock(app[metrics_key].observe_stock)
    await transport.start()
    if runtime is not None:
        await runtime.start(transport)  # type: ignore[arg-type]  # inproc is also the outlet
    yield
    await transport.stop()
    if runtime is not None:
        await runtime.drain()
        await runtime.stop()


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text format for this gateway (and its in-process shard actors)."""
    return web.Response(body=request.app[metrics_key].exposition(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _close_streams(app: web.Application) -> None:
    app[stream_hub_key].close()


def create_app(settings: Settings) -> web.Application:
    """Build the gateway for these settings."""
    settings = settings.with_jwt_secret()
    app = web.Application(middlewares=[error_middleware, auth_middleware],
                          client_max_size=settings.max_body_bytes)
    app[settings_key] = settings
    app[issuer_key] = TokenIssuer(settings)
    metrics = Metrics()
    metrics.up.labels("gateway").set(1)
    app[metrics_key] = metrics
    limits = RateLimits(settings.trusted_proxies, metrics)
    app[limits_key] = limits
    app[stream_hub_key] = StreamHub()
    app.cleanup_ctx.extend([_database, _engine])
    # Open event streams would hold shutdown for its whole timeout: end them first.
    app.on_shutdown.append(_close_streams)

    def limited(handler: Handler, limit: str, scope: str) -> Handler:
        return limits.wrap(handler, limit, scope)

    auth_limit, book_limit = settings.rate_limit_auth, settings.rate_limit_booking
    default = settings.rate_limit_default
    app.router.add_post("/api/auth/register", limited(accounts.register, auth_limit, "register"))
    app.router.add_post("/api/auth/login", limited(accounts.login, auth_limit, "login"))
    app.router.add_get("/api/events", limited(events.list_events, default, "read"))
    app.router.add_post("/api/events", limited(events.create_event, default, "write"))
    app.router.add_get("/api/events/{event_id}", limited(events.get_event, default, "read"))
    app.router.add_patch("/api/events/{event_id}",
                         limited(events.update_event, default, "write"))
    app.router.add_post("/api/events/{event_id}/book",
                        limited(bookings.book, book_limit, "book"))
    app.router.add_get("/api/bookings/{booking_id}",
                       limited(bookings.get_booking, default, "read"))
    app.router.add_post("/api/bookings/{booking_id}/cancel",
                        limited(bookings.cancel_booking, book_limit, "book"))
    app.router.add_get("/api/me/tickets", limited(bookings.my_tickets, default, "read"))
    app.router.add_get("/api/health", health.health)
    app.router.add_get("/api/stream", limited(stream, default, "stream"))
    if settings.bench_endpoints:
        app.router.add_post("/api/bench/book/{event_id}",
                            limited(bench.noop_book, book_limit, "book"))
    openapi.add_routes(app)
    app.router.add_get("/metrics", metrics_endpoint)
    webui.add_routes(app, settings.webui_dir)
    return app
