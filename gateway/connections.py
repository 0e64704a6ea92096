"""A cap on open connections per gateway process, in front of aiohttp's own protocol.

aiohttp accepts every connection it is offered, so a flood of them ends in file-descriptor
exhaustion, when even `/api/health` gets an empty reply. `GatedSite` listens like aiohttp's
`TCPSite`, but each accepted connection first meets a `ConnectionGate`: under the cap it is
handed to aiohttp, over it it is answered a canned `503 overloaded` and closed at once, with
no request parsed and no handler run. Slow and idle connections are aiohttp's keep-alive
timer's business (set from IDLE_TIMEOUT_SECONDS in `gateway/serve.py`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import cast

import orjson
from aiohttp import web

from engine.errors import Overloaded

log = logging.getLogger(__name__)

#: Descriptors kept for everything that is not a client connection: the database pool,
#: the broker, log files, the web UI's files being sent.
RESERVED_FDS = 256
#: A refused client gets this long to read its 503 before the socket is closed; closing
#: while its request is still unread would reset the connection and lose the answer.
REFUSAL_LINGER_SECONDS = 1.0
#: Refused connections lingering at once; past this they are dropped without an answer,
#: so a flood cannot exhaust descriptors through the refusals themselves.
MAX_LINGERING_REFUSALS = 1024


def usable_connection_cap(wanted: int) -> int:
    """`wanted`, or less if the process may not open that many descriptors.

    Raises the soft RLIMIT_NOFILE towards the hard one when the cap needs it (as servers
    do at start-up); what still does not fit is taken off the cap, with a warning.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # not allowed: the cap shrinks to what the limit allows
    if soft != resource.RLIM_INFINITY and soft < needed:
        usable = max(1, soft - RESERVED_FDS)
        log.warning("MAX_CONNECTIONS=%d does not fit the file-descriptor limit %d: "
                    "capping connections at %d", wanted, soft, usable)
        return usable
    return wanted


def _refusal(retry_after: int) -> bytes:
    body = orjson.dumps({"error": Overloaded.code,
                         "message": "too many open connections; retry later"})
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {retry_after}\r\n"
            f"Connection: close\r\n\r\n")
    return head.encode() + body


class ConnectionGate:
    """Counts open connections and decides, per accepted socket, whether aiohttp gets it."""

    def __init__(self, limit: int, retry_after: int = 1) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0
        self.lingering = 0  # refused connections not yet closed
        self.answer = _refusal(retry_after)

    def protocol(self, server: web.Server) -> asyncio.Protocol:
        """The protocol for one accepted connection (a `create_server` factory's body)."""
        if self.open >= self.limit:
            self.refused += 1
            return _Refused(self)
        return _Counted(server(), self)


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for this connection, counted while it is open."""

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._inner = inner
        self._gate = gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._gate.open += 1
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.open -= 1
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _Refused(asyncio.Protocol):
    """Answers 503 at once, then closes when the client has spoken (or after a second)."""

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports (the gateway's loop) do not
        # subclass asyncio.Transport, and a failed check left the connection unanswered.
        transport = cast(asyncio.Transport, transport)
        if self._gate.lingering >= MAX_LINGERING_REFUSALS:
            transport.abort()
            return
        self._gate.lingering += 1
        self._transport = transport
        transport.write(self._gate.answer)
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_SECONDS,
                                                            transport.close)

    def data_received(self, data: bytes) -> None:
        # The request has been read, so closing now sends the answer rather than a reset.
        if self._transport is not None:
            self._transport.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return
        self._gate.lingering -= 1
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()


class GatedSite(web.BaseSite):
    """aiohttp's TCP site with a `ConnectionGate` in front of every accepted connection."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, gate: ConnectionGate,
                 *, backlog: int = 128, reuse_port: bool = False) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self.gate = gate

    @property
    def name(self) -> str:
        """The address it listens on, as a URL."""
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._server is not None and (sockets := getattr(self._server, "sockets", None)):
            return int(sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        """Listen; each accepted connection goes through the gate."""
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self.gate.protocol(server), self._host, self._port,
            backlog=self._backlog, reuse_address=True, reuse_port=self._reuse_port or None)
