"""Browser hardening on every response: a strict Content-Security-Policy, no framing, no
MIME sniffing, no referrer, and a `Server` header that names no versions.

The policy allows scripts only from this origin, never inline: the web UI is a Vite build
(`<script src>` only), Swagger UI at `/api/docs` included. Inline *styles* stay
allowed because Mantine and Swagger UI set them at run time; a style cannot run code.
"""

from __future__ import annotations

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # aiohttp would say "Python/3.x aiohttp/3.y": a map of which advisories apply.
    "Server": "ticketwar",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: runs for every answer, errors and static files included."""
    response.headers.update(SECURITY_HEADERS)
