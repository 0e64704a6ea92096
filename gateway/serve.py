"""Serve the gateway until SIGINT/SIGTERM, then shut down in order."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_app import CleanupError

from engine.errors import PortInUse, ShutdownIncomplete
from engine.settings import Settings
from gateway.app import create_app

log = logging.getLogger(__name__)


def check_port(settings: Settings) -> None:
    """`PortInUse` unless HOST:PORT can be bound now: lets `ticketwar run` say so before
    it starts a database or workers. `serve` still checks for real when it binds."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option asyncio's server sets, so the probe fails exactly when it would.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise _port_in_use(settings) from exc


def _port_in_use(settings: Settings) -> PortInUse:
    return PortInUse(f"port {settings.port} on {settings.host} is in use by another process",
                     hint="Stop that process, or choose another port: PORT=8081 make run")


async def serve(settings: Settings,
                on_ready: Callable[[web.Application], Awaitable[None]] | None = None) -> int:
    """Run the gateway on settings.host:port until signalled; the exit code: 0 after a clean
    shutdown, 1 when work in flight had to be abandoned at the shutdown deadline."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096)
    try:
        await site.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        await runner.cleanup()
        raise _port_in_use(settings) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("gateway listening on http://%s:%s (transport %s, strategy %s)",
             settings.host, settings.port, settings.transport, settings.booking_strategy)
    if on_ready is not None:
        await on_ready(app)
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
