"""The web UI's build (`webui/dist`, made by `make webui`) served at `/`.

Hashed assets under `/assets/` never change under one name, so browsers may keep them for a
year; `index.html` must be re-read on every visit so a new build reaches everyone. Page routes
live in the URL hash, so `/` is the only HTML path.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from engine.errors import NotFound

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Ticket War</title>
<h1>Ticket War Engine</h1><p>The API is up (<a href="/api/docs">/api/docs</a>), but the web UI
is not built in <code>{path}</code>. Run <code>make webui</code> (or <code>make run</code>,
which builds it) and reload.</p>"""


def add_routes(app: web.Application, dist: Path) -> None:
    """Serve `dist/index.html` at `/` and `dist/assets/*`; explain at `/` when not built."""
    index = dist / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if not index.is_file():
            return web.Response(text=_NOT_BUILT.format(path=dist), content_type="text/html")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (dist / "assets" / name).resolve()
        # Only plain names inside assets/: no way out of the build folder.
        if "/" in name or name.startswith(".") or not path.is_file():
            raise NotFound("no such asset")
        return web.FileResponse(path, headers={
            "Cache-Control": "public, max-age=31536000, immutable"})

    app.router.add_get("/", page)
    app.router.add_get("/assets/{name}", asset)
