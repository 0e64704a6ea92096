"""Rate limiting stops bots: per user when signed in, per real address otherwise, and a
spoofed X-Forwarded-For does not buy a fresh identity."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api

LOGIN = {"email": "nobody@test.example", "password": "wrong-password"}


async def test_booking_is_limited_per_user(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_booking="3/minute")
    event = await api.event(totalTickets=100)
    bot, human = await api.accounts(2)
    statuses = [(await api.book(bot, event["id"])).status for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    limited = await api.book(bot, event["id"])
    assert limited.body["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # The limit is the bot's, not everyone's on this address.
    assert (await api.book(human, event["id"])).status == 201
    sold = await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"])
    assert sold == 4


async def test_anonymous_requests_are_limited_per_address(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_auth="3/minute")
    statuses = [(await api.call("POST", "/api/auth/login", json=LOGIN)).status
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_spoofed_forwarded_for_does_not_escape(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_auth="3/minute")
    statuses = [(await api.call("POST", "/api/auth/login", json=LOGIN,
                                headers={"X-Forwarded-For": f"203.0.113.{i}"})).status
                for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


async def test_forwarded_for_is_believed_from_a_trusted_proxy(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_auth="2/minute",
                              trusted_proxies=frozenset({"127.0.0.1"}))

    async def login_from(address: str) -> int:
        # A client may prepend anything; the proxy appends the address it saw, last.
        reply = await api.call("POST", "/api/auth/login", json=LOGIN,
                               headers={"X-Forwarded-For": f"6.6.6.6, {address}"})
        return reply.status

    assert [await login_from("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert await login_from("198.51.100.2") == 401
