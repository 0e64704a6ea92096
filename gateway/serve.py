"""Serve the gateway until SIGINT/SIGTERM, then shut down in order."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_app import CleanupError

from engine.errors import PortInUse, ShutdownIncomplete
from engine.settings import Settings
from gateway.app import create_app
from gateway.connections import ConnectionGate, GatedSite, usable_connection_cap
from gateway.keys import settings_key
from gateway.routes.metrics import metrics_app

log = logging.getLogger(__name__)

#: After a refused request (a body too large, too slow) the rest of the body is read and
#: thrown away for at most this long before the connection is closed; aiohttp's 10 s
#: default would let a slow sender hold the connection that much longer.
LINGERING_SECONDS = 1.0


@dataclass(frozen=True)
class Listening:
    """A gateway taking connections: its app, the bound port, its connection gate."""

    app: web.Application
    port: int
    gate: ConnectionGate


@asynccontextmanager
async def listening(settings: Settings, *, reuse_port: bool = False) -> AsyncIterator[Listening]:
    """Run the gateway on settings.host:port (0: any free port) for the `async with` body;
    on exit stop taking connections, finish requests in flight, close resources.

    `reuse_port`: share the port with the other gateway processes of `ticketwar run`
    (SO_REUSEPORT: the kernel spreads new connections over them).
    """
    app = create_app(settings)
    # keepalive_timeout starts at connection_made and is only pushed back once a response
    # is sent, so it also closes a connection whose first request head never completes
    # (idle or slowloris), not only idle keep-alives.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           keepalive_timeout=settings.idle_timeout_seconds,
                           lingering_time=LINGERING_SECONDS)
    await runner.setup()
    try:
        gate = ConnectionGate(usable_connection_cap(settings.max_connections))
        site = GatedSite(runner, settings.host, settings.port, gate, backlog=4096,
                         reuse_port=reuse_port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise _port_in_use(settings) from exc
        async with metrics_port(app):
            yield Listening(app, site.port, gate)
    finally:
        # runner.cleanup stops the site, waits for handlers, then runs cleanup_ctx in reverse.
        await runner.cleanup()


@asynccontextmanager
async def metrics_port(app: web.Application) -> AsyncIterator[None]:
    """With GATEWAY_METRICS_PORT set, serve this process's `/metrics` alone on that port +
    GATEWAY_PROCESS_INDEX: behind a shared port a scrape meets whichever process the kernel
    picks, so each of several processes needs an address of its own to be scraped whole."""
    settings = app[settings_key]
    if not settings.gateway_metrics_port:
        yield
        return
    runner = web.AppRunner(metrics_app(app), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        port = settings.gateway_metrics_port + settings.gateway_process_index
        try:
            await web.TCPSite(runner, settings.host, port).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(f"metrics port {port} on {settings.host} is in use",
                            hint="Choose another GATEWAY_METRICS_PORT (process i uses it "
                            "+ i)") from exc
        log.info("metrics on http://%s:%d/metrics", settings.host, port)
        yield
    finally:
        await runner.cleanup()


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


async def serve(settings: Settings, on_ready: Callable[[int], Awaitable[None]] | None = None,
                *, reuse_port: bool = False) -> int:
    """Run the gateway on settings.host:port until signalled; the exit code: 0 after a clean
    shutdown, 1 when work in flight had to be abandoned at the shutdown deadline.
    `on_ready` is given the port it listens on (the real one when PORT is 0)."""
    try:
        async with listening(settings, reuse_port=reuse_port) as gateway:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info("gateway listening on http://%s:%s (transport %s, strategy %s%s)",
                     settings.host, gateway.port, settings.transport,
                     settings.booking_strategy,
                     f", process {settings.gateway_process_index}" if reuse_port else "")
            if on_ready is not None:  # after the log line: what it prints comes last
                await on_ready(gateway.port)
            await stop.wait()
            log.info("shutting down: no new requests, finishing batches in flight")
    # Raised by listening()'s exit, from runner.cleanup (every cleanup_ctx runs, collecting
    # their errors).
    except (ShutdownIncomplete, CleanupError) as exc:
        log.error("shutdown incomplete: %s", exc)
        return 1
    return 0
