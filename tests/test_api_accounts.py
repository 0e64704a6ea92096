"""`/api/auth/*`: register and login per docs/api.md, and tokens that must not work."""

from __future__ import annotations

import time
import uuid

import jwt

from gateway.keys import settings_key
from tests.helpers import Api

#: A password the policy accepts.
STRONG = "long enough passphrase"


def _email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@test.example"


async def test_register_then_login(api: Api) -> None:
    email = _email()
    reply = await api.call("POST", "/api/auth/register",
                           json={"email": email, "password": STRONG, "name": "Ann"})
    assert reply.status == 201
    assert reply.body["email"] == email and reply.body["role"] == "USER"
    login = await api.call("POST", "/api/auth/login",
                           json={"email": email.upper(), "password": STRONG})
    assert login.status == 200
    assert login.body["user"] == reply.body and login.body["expiresIn"] > 0
    mine = await api.call("GET", "/api/me/tickets",
                          headers={"Authorization": f"Bearer {login.body['token']}"})
    assert (mine.status, mine.body) == (200, [])


async def test_register_refusals(api: Api) -> None:
    email = _email()
    ok = {"email": email, "password": STRONG}
    assert (await api.call("POST", "/api/auth/register", json=ok)).status == 201
    cases = [
        ({"email": email.upper(), "password": STRONG}, 409, "email_taken"),
        ({"email": _email(), "password": "short"}, 422, "weak_password"),
        ({"email": "not-an-email", "password": STRONG}, 422, "invalid_input"),
        ({"email": _email()}, 422, "invalid_input"),
        ({"email": _email(), "password": 12345678}, 422, "invalid_input"),
    ]
    for body, status, code in cases:
        reply = await api.call("POST", "/api/auth/register", json=body)
        assert (reply.status, reply.body["error"]) == (status, code), body


async def test_guessable_passwords_are_refused_with_advice(api: Api) -> None:
    # Issue 10, finding 9: the policy was length only, so `password`, `12345678` and the
    # email itself were accepted.
    email = _email()
    for password in ("password", "12345678", email, "qwertyuiop", "aaaaaaaaaaaa"):
        reply = await api.call("POST", "/api/auth/register",
                               json={"email": email, "password": password})
        assert (reply.status, reply.body["error"]) == (422, "weak_password"), password
        assert "guess" in reply.body["message"], reply.body
        assert reply.body["suggestions"], reply.body  # what to do instead
    assert await api.pool.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
    reply = await api.call("POST", "/api/auth/register",
                           json={"email": email, "password": "tram lantern ochre 1987"})
    assert reply.status == 201


async def test_nobody_chooses_their_role(api: Api) -> None:
    email = _email()
    reply = await api.call("POST", "/api/auth/register",
                           json={"email": email, "password": STRONG, "role": "ADMIN"})
    assert (reply.status, reply.body["error"]) == (422, "invalid_input")
    assert "role" in reply.body["message"]
    assert await api.pool.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0


async def test_login_refusals_look_alike(api: Api) -> None:
    account = await api.account()
    for body in ({"email": account.email, "password": "wrong password"},
                 {"email": _email(), "password": "wrong password"}):
        reply = await api.call("POST", "/api/auth/login", json=body)
        assert (reply.status, reply.body["error"]) == (401, "invalid_credentials")


async def test_bad_tokens_are_401(api: Api) -> None:
    account = await api.account()
    secret = api.app[settings_key].jwt_secret.reveal()  # type: ignore[union-attr]
    now = int(time.time())
    good = {"sub": str(account.id), "role": "USER", "email": account.email, "iat": now,
            "exp": now + 60, "iss": "ticketwar", "aud": "ticketwar-api"}
    forged = [
        jwt.encode({**good, "exp": now - 1}, secret, algorithm="HS256"),       # expired
        jwt.encode({**good, "aud": "someone-else"}, secret, algorithm="HS256"),
        jwt.encode({**good, "iss": "someone-else"}, secret, algorithm="HS256"),
        jwt.encode({k: v for k, v in good.items() if k != "exp"}, secret, algorithm="HS256"),
        jwt.encode(good, "x" * 40, algorithm="HS256"),                         # wrong key
        jwt.encode(good, None, algorithm="none"),                              # unsigned
        account.token[:-2] + "xx",                                             # tampered
    ]
    for token in forged:
        reply = await api.call("GET", "/api/me/tickets",
                               headers={"Authorization": f"Bearer {token}"})
        assert (reply.status, reply.body["error"]) == (401, "unauthenticated"), token
    basic = await api.call("GET", "/api/me/tickets", headers={"Authorization": "Basic eDp5"})
    assert basic.status == 401
    assert (await api.call("GET", "/api/me/tickets")).status == 401
