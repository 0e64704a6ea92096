"""Who is calling: a middleware reads the bearer token and checks its session is live;
handlers demand what they need."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.auth import Principal
from engine.errors import Forbidden, Unauthenticated
from engine.types import Role
from gateway.keys import issuer_key, principal_key, sessions_key


async def authenticate(app: web.Application, token: str) -> Principal:
    """The principal of a valid token whose session is live; 401 otherwise. The session
    check reads memory only, except once per user first seen by this process."""
    principal = app[issuer_key].verify(token)
    await app[sessions_key].admit(principal)
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach `request["principal"]` for a valid token; a bad or revoked token is a 401 at
    once, before the handler runs."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("use Authorization: Bearer <token>")
        request[principal_key] = await authenticate(request.app, token.strip())
    return await handler(request)


def require_user(request: web.Request) -> Principal:
    """The caller's principal; 401 if not signed in."""
    principal: Principal | None = request.get(principal_key)
    if principal is None:
        raise Unauthenticated("sign in first")
    return principal


def require_role(request: web.Request, *roles: Role) -> Principal:
    """The caller's principal if it has one of `roles`; 403 otherwise."""
    principal = require_user(request)
    if principal.role not in roles:
        raise Forbidden(f"requires role {' or '.join(r.value for r in roles)}")
    return principal
