"""Serve the gateway until SIGINT/SIGTERM, then shut down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_app import CleanupError

from engine.errors import ShutdownIncomplete
from engine.settings import Settings
from gateway.app import create_app

log = logging.getLogger(__name__)


async def serve(settings: Settings,
                on_ready: Callable[[web.Application], Awaitable[None]] | None = None) -> int:
    """Run the gateway on settings.host:port until signalled; the exit code: 0 after a clean
    shutdown, 1 when work in flight had to be abandoned at the shutdown deadline."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        await on_ready(app)
    log.info("gateway listening on http://%s:%s (transport %s, strategy %s)",
             settings.host, settings.port, settings.transport, settings.booking_strategy)
    await stop.wait()
    log.info("shutting down: no new requests, finishing batches in flight")
    # runner.cleanup stops the site, waits for handlers, then runs cleanup_ctx in reverse
    # (every one of them, collecting their errors).
    try:
        await runner.cleanup()
    except (ShutdownIncomplete, CleanupError) as exc:
        log.error("shutdown incomplete: %s", exc)
        return 1
    return 0
