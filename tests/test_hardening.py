"""Browser hardening (issue 10, finding 6): every answer carries a strict CSP, refuses to be
framed or sniffed, sends no referrer, and the `Server` header names no versions."""

from __future__ import annotations

import pytest

from tests.helpers import Api

#: Pages, API answers, errors, static files and the event stream alike.
PATHS = ["/", "/api/docs", "/api/openapi.json", "/api/events", "/api/no-such-route",
         "/assets/no-such-asset.js"]


@pytest.mark.parametrize("path", PATHS)
async def test_every_answer_is_hardened(api: Api, path: str) -> None:
    async with api.client.get(path) as resp:
        headers = resp.headers
    csp = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Server"] == "ticketwar"


async def test_the_event_stream_is_hardened_too(api: Api) -> None:
    async with api.client.get("/api/stream") as resp:
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "aiohttp" not in resp.headers["Server"]
