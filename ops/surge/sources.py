"""The surge's HTTP clients, spread over many source addresses.

Real buyers come from many addresses; a surge from 127.0.0.1 alone would meet every
per-address limit (connections, streams, unauthenticated routes) as one client. On Linux the
whole of 127.0.0.0/8 routes to loopback, so each client session binds its connections to
its own address there, and buyer n always uses session n mod `addresses`. A gateway that is
not on loopback is reached from the default address (binding 127.x would not route there).
"""

from __future__ import annotations

import ipaddress
from types import TracebackType
from urllib.parse import urlsplit

import aiohttp

#: Addresses 127.77.0.1, 127.77.0.2, …: clear of 127.0.0.1, which servers and tests use.
_FIRST = ipaddress.IPv4Address("127.77.0.1")
DEFAULT_ADDRESSES = 256


def source_addresses(count: int, first: int = 0) -> list[str]:
    """`count` distinct loopback addresses to send from, starting at the `first`-th."""
    return [str(_FIRST + first + i) for i in range(count)]


def _on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


class SourceClients:
    """One aiohttp session per source address; `session(n)` is buyer n's."""

    def __init__(self, url: str, *, addresses: int = DEFAULT_ADDRESSES, first: int = 0,
                 timeout: aiohttp.ClientTimeout | None = None, connections: int = 0) -> None:
        self.url = url.rstrip("/")
        self.addresses: list[str | None] = (
            list(source_addresses(addresses, first))
            if _on_loopback(self.url) and addresses > 1 else [None])
        #: Every request's timeout, unless the request sets its own.
        self.timeout = timeout or aiohttp.ClientTimeout(total=300)
        self._sessions: list[aiohttp.ClientSession] = []
        #: Open connections per address at most (0: none); more requests wait for one.
        self.connections = connections

    def session(self, n: int) -> aiohttp.ClientSession:
        """The session of buyer (or bot) number n."""
        return self._sessions[n % len(self._sessions)]

    async def __aenter__(self) -> SourceClients:
        for address in self.addresses:
            connector = aiohttp.TCPConnector(
                limit=self.connections, limit_per_host=0,
                local_addr=(address, 0) if address is not None else None)
            # No cookie jar: buyers authenticate with bearer tokens, and matching cookies
            # costs CPU on every request of the generator.
            self._sessions.append(aiohttp.ClientSession(
                connector=connector, timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar()))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for session in self._sessions:
            await session.close()
        self._sessions = []
