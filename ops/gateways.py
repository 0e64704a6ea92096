"""The gateway on every core: with RabbitMQ, `ticketwar run` serves through
GATEWAY_PROCESSES supervised `python -m gateway` processes sharing one port.

The parent binds the port once with SO_REUSEPORT and keeps that socket, without listening
on it, for as long as it runs: it resolves PORT=0 to a real port before any child starts
(every child then binds that one), it keeps the port ours across a child's restart, and a
second `ticketwar run` on the same port still fails its start-up check (its probe does not
ask for SO_REUSEPORT, so the kernel refuses it). Only listening sockets are handed
connections, so the parent's never takes one.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable

from engine.settings import Settings
from ops.supervisor import GatewaySupervisor, gateway_env

log = logging.getLogger(__name__)

#: Beyond SHUTDOWN_DEADLINE_SECONDS, how long a stopping gateway process may take to exit
#: (closing its connections, its pool) before it is killed.
EXIT_MARGIN_SECONDS = 5.0


def reserve_port(settings: Settings) -> socket.socket:
    """A socket bound to HOST:PORT with SO_REUSEPORT, not listening: the port for every
    gateway process (PORT=0 becomes a real one)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            from gateway.serve import check_port

            check_port(settings)  # raises the same one-line PortInUse as a single gateway
        raise
    return sock


async def serve_processes(settings: Settings,
                          on_ready: Callable[[int], Awaitable[None]] | None = None) -> int:
    """Run GATEWAY_PROCESSES gateway processes on one port until SIGINT/SIGTERM, then stop
    them (each finishes its requests in flight, bounded by SHUTDOWN_DEADLINE_SECONDS).
    `on_ready` is given the port once every process serves. The exit code: 0 when every
    process stopped cleanly, else 1."""
    settings = settings.with_jwt_secret()  # one key for all, resolved before any starts
    reserved = reserve_port(settings)
    port = int(reserved.getsockname()[1])
    gateways = GatewaySupervisor(
        settings.gateway_processes, port, gateway_env(settings),
        grace_seconds=settings.shutdown_deadline_seconds + EXIT_MARGIN_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateways.start()
        ready = asyncio.ensure_future(gateways.wait_ready())
        stopped = asyncio.ensure_future(stop.wait())
        gave_up = asyncio.ensure_future(gateways.gave_up.wait())
        await asyncio.wait({ready, stopped, gave_up}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            log.info("%d gateway processes listening on http://%s:%d (transport %s, "
                     "strategy %s)", gateways.count, settings.host, port,
                     settings.transport, settings.booking_strategy)
            if on_ready is not None:
                await on_ready(port)
        ready.cancel()
        # A process that cannot start is one that cannot be restarted into serving either.
        await asyncio.wait({stopped, gave_up}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        gave_up.cancel()
        if gateways.gave_up.is_set():
            log.error("stopping: a gateway process could not start (its reason is above)")
        else:
            log.info("shutting down: no new requests, finishing batches in flight")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        code = await gateways.stop()
        reserved.close()
    return 1 if gateways.gave_up.is_set() else code
