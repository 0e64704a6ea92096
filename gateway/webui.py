"""The web UI's build (`webui/dist`, made by `make webui`) served at `/`.

Hashed assets under `/assets/` never change under one name, so browsers may keep them for a
year; `index.html` must be re-read on every visit so a new build reaches everyone. The app
routes in the browser (history API), so each of its page addresses — `/events/{id}`,
`/tickets`, `/tickets/{bookingId}`, `/organize`, `/organize/events/{id}` — is answered with
the same `index.html`, which then shows that page: a shared link or a reload lands where it
points. Only those shapes are: `/api/*` and `/metrics` are never the app, and any other path
keeps its JSON 404. The build also holds the API's
documentation page, Swagger UI 5 (`api-docs.html`), served at `/api/docs`: from this server,
no CDN, started by its own script file as the Content-Security-Policy demands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from engine.errors import NotFound

#: The web UI's page addresses (webui/src/routes.ts), answered with `index.html`.
PAGE_PATHS = (
    "/events/{event_id:[0-9]+}",
    "/tickets",
    "/tickets/{booking_id:[0-9a-fA-F-]+}",
    "/organize",
    "/organize/events/{event_id:[0-9]+}",
    "/organize/events/{event_id:[0-9]+}/checkin",
)

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Ticket War</title>
<h1>Ticket War Engine</h1><p>The API is up (its document: <a href="/api/openapi.json">
/api/openapi.json</a>), but the web UI and the API's documentation page are not built in
<code>{path}</code>. Run <code>make webui</code> (or <code>make run</code>, which builds
them) and reload.</p>"""


def add_routes(app: web.Application, dist: Path) -> None:
    """Serve `dist/index.html` at `/` and the app's page paths, `dist/api-docs.html` at
    `/api/docs` and `dist/assets/*`; explain on those pages when the UI is not built."""
    def html(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def page(request: web.Request) -> web.StreamResponse:
            path = dist / name
            if not path.is_file():
                return web.Response(text=_NOT_BUILT.format(path=dist), content_type="text/html")
            return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
        return page

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (dist / "assets" / name).resolve()
        # Only plain names inside assets/: no way out of the build folder.
        if "/" in name or name.startswith(".") or not path.is_file():
            raise NotFound("no such asset")
        return web.FileResponse(path, headers={
            "Cache-Control": "public, max-age=31536000, immutable"})

    app.router.add_get("/", html("index.html"))
    for path in PAGE_PATHS:
        app.router.add_get(path, html("index.html"))
    app.router.add_get("/api/docs", html("api-docs.html"))
    app.router.add_get("/assets/{name}", asset)
