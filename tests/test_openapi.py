"""The OpenAPI document matches the routes the app really serves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from gateway.webui import PAGE_PATHS
from tests.contract import check_reply
from tests.helpers import Api
from tests.webui.conftest import WEBUI_DIST

#: Served, but not part of the API: the web UI's pages and assets.
_NOT_API = {"/", "/assets/{name}", *(re.sub(r":[^}]+}", "}", p) for p in PAGE_PATHS)}


def _served(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method in {"GET", "POST", "PATCH", "PUT", "DELETE"} \
                and "/static" not in path and path not in _NOT_API:
            routes.add((route.method.lower(), path))
    return routes


async def test_document_and_routes_agree(api: Api) -> None:
    reply = await api.call("GET", "/api/openapi.json")
    assert reply.status == 200
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _served(api.app)
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    for code in ("sold_out", "limit_exceeded", "invalid_quantity", "email_taken",
                 "rate_limited", "unavailable", "idempotency_key_reused"):
        assert code in codes


async def test_swagger_ui_is_served_without_a_cdn(make_api: Any) -> None:
    # Swagger UI is a page of the web UI's build (the browser test checks it renders).
    api = await make_api(webui_dir=WEBUI_DIST)
    page = await api.call("GET", "/api/docs")
    assert page.status == 200 and 'id="swagger-ui"' in page.body
    assert "http" not in page.body  # every asset comes from this server
    scripts = re.findall(r'<script type="module" crossorigin src="(/assets/[^"]+)"', page.body)
    assert scripts, page.body
    sizes = [len(await (await api.client.get(src)).read()) for src in scripts]
    assert max(sizes) > 1_000_000  # Swagger UI's bundle, served by the gateway


async def test_every_reply_is_checked_against_the_document(api: Api) -> None:
    event = await api.event()  # the test client checked this reply; now break a copy of it
    path = f"/api/events/{event['id']}"
    check_reply("GET", path, 200, event)
    for broken in ({**event, "secret": 1}, {**event, "id": str(event["id"])},
                   {k: v for k, v in event.items() if k != "status"},
                   {**event, "startsAt": "tomorrow"}):
        with pytest.raises(AssertionError, match="breaks the document"):
            check_reply("GET", path, 200, broken)
    with pytest.raises(AssertionError, match="breaks the document"):
        check_reply("GET", path, 418, {"error": "teapot"})  # an error without a message
    with pytest.raises(AssertionError, match="not documented"):
        check_reply("GET", path, 204, None)
