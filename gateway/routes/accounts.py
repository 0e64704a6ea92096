"""`/api/auth/register`, `/login`, `/logout` and `/logout-all`."""

from __future__ import annotations

from aiohttp import web

from engine import accounts
from gateway.auth import require_user
from gateway.keys import issuer_key, login_email_limit_key, pool_key, sessions_key
from gateway.responses import json_response
from gateway.schemas import Login, Register
from gateway.validation import read_json


async def register(request: web.Request) -> web.Response:
    """Create a USER account."""
    body = await read_json(request, Register)
    user = await accounts.register(request.app[pool_key], body.email, body.password,
                                   body.name)
    return json_response(user.to_json(), 201)


async def login(request: web.Request) -> web.Response:
    """Exchange credentials for a bearer token."""
    body = await read_json(request, Login)
    # Per target email too: many addresses must not share out the guesses at one account.
    await request.app[login_email_limit_key](body.email.strip().lower())
    issuer = request.app[issuer_key]
    token, user = await accounts.login(request.app[pool_key], issuer, body.email,
                                       body.password)
    return json_response({"token": token, "expiresIn": issuer.ttl, "user": user.to_json()})


async def logout(request: web.Request) -> web.Response:
    """Sign out this token (this session only)."""
    await accounts.logout(request.app[pool_key], request.app[sessions_key],
                          require_user(request))
    return web.Response(status=204)


async def logout_all(request: web.Request) -> web.Response:
    """Sign out every token of the caller (every session, every device)."""
    await accounts.logout_all(request.app[pool_key], request.app[sessions_key],
                              require_user(request))
    return web.Response(status=204)
