"""A small TCP fault proxy for tests: put it between a process and PostgreSQL or RabbitMQ and
make the link slow, half-open or cut, while both ends stay real.

    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        proxy.stall("down")   # bytes from the server stop reaching the client (half-open)
        proxy.heal()          # they flow again, nothing lost
        await proxy.cut()     # every connection closed at once; new ones accepted
        await proxy.down()    # the server is gone: connections closed, new ones too, at once

A stalled direction stops *reading*: the bytes wait in the kernel's buffers, as they would
behind a congested or partitioned link, and arrive in order once healed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Direction = Literal["up", "down", "both"]
_CHUNK = 64 * 1024


class _Pipe:
    """One direction of one proxied connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 flowing: asyncio.Event, delay: list[float]) -> None:
        self._reader, self._writer = reader, writer
        self._flowing, self._delay = flowing, delay

    async def run(self) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await self._reader.read(_CHUNK)
                if not data:
                    break
                if self._delay[0] > 0:
                    await asyncio.sleep(self._delay[0])  # the fault itself: latency
                await self._flowing.wait()  # stalled while reading: hold what was read
                self._writer.write(data)
                await self._writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writer.close()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to an upstream address, with faults on demand."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._up, self._down = asyncio.Event(), asyncio.Event()
        self._up.set()
        self._down.set()
        self._delay = [0.0]
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        #: Connections accepted so far (a test can wait for a client to connect).
        self.accepted = 0
        self._gone = False

    @property
    def port(self) -> int:
        """The local port clients connect to."""
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on a free local port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.heal()
        await self.cut()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def stall(self, direction: Direction = "both") -> None:
        """Stop forwarding client→server ("up"), server→client ("down") or both; the
        connections stay open."""
        if direction in ("up", "both"):
            self._up.clear()
        if direction in ("down", "both"):
            self._down.clear()

    def latency(self, seconds: float) -> None:
        """Delay every chunk by `seconds` in both directions (0 to stop)."""
        self._delay[0] = seconds

    async def down(self) -> None:
        """The server is gone, as far as clients can tell: every open connection is closed
        and each new one is closed at once (a client fails fast, as against a refused port,
        instead of waiting on a stalled link), until `heal()`."""
        self._gone = True
        await self.cut()

    def heal(self) -> None:
        """Forward again in both directions, without latency; a server gone is back."""
        self._gone = False
        self._up.set()
        self._down.set()
        self._delay[0] = 0.0

    async def cut(self) -> None:
        """Close every open connection at once (new ones are still accepted)."""
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _accept(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._gone:
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        pipes = [_Pipe(client_reader, server_writer, self._up, self._delay),
                 _Pipe(server_reader, client_writer, self._down, self._delay)]
        tasks = [asyncio.create_task(p.run()) for p in pipes]
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks.difference_update(tasks)
            for writer in (client_writer, server_writer):
                writer.close()
                self._writers.discard(writer)
