"""Rate limiting stops bots: per user when signed in, per real address otherwise, login and
register per address whatever token is sent, and a spoofed X-Forwarded-For does not buy a
fresh identity."""

from __future__ import annotations

from typing import Any

from engine.process_share import share
from engine.settings import Secret
from gateway.keys import service_key
from tests.conftest import TEST_AMQP_URL
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
        # A client may prepend anything; the proxy appends the address it saw, last. Each
        # address guesses at its own email, so only the per-address limit is met.
        reply = await api.call("POST", "/api/auth/login",
                               json={**LOGIN, "email": f"user@{address}.test.example"},
                               headers={"X-Forwarded-For": f"6.6.6.6, {address}"})
        return reply.status

    assert [await login_from("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert await login_from("198.51.100.2") == 401


async def test_a_token_does_not_buy_more_password_guesses(make_api: Any) -> None:
    # Found in issue 10: with a valid token the key became `user:<id>`, so 5 tokens gave
    # 5 allowances of guesses against someone else's password.
    api: Api = await make_api(rate_limit_auth="3/minute")
    tokens = await api.accounts(5)
    statuses = [(await api.call("POST", "/api/auth/login", account, json=LOGIN)).status
                for account in tokens]
    assert statuses == [401, 401, 401, 429, 429]
    register = {"email": "fresh@test.example", "password": "a long passphrase here"}
    assert (await api.call("POST", "/api/auth/register", tokens[0], json=register)).status \
        != 429  # register counts on its own, still per address


async def test_login_is_also_limited_per_target_email(make_api: Any) -> None:
    # Many addresses (behind a trusted proxy) guessing one account's password.
    api: Api = await make_api(rate_limit_auth="3/minute",
                              trusted_proxies=frozenset({"127.0.0.1"}))
    statuses = [(await api.call("POST", "/api/auth/login", json=LOGIN,
                                headers={"X-Forwarded-For": f"198.51.100.{i}"})).status
                for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    other = {**LOGIN, "email": "somebody-else@test.example"}
    assert (await api.call("POST", "/api/auth/login", json=other,
                           headers={"X-Forwarded-For": "198.51.100.9"})).status == 401


async def test_account_creation_is_limited_per_address_per_hour(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_register="2/hour")
    [someone] = await api.accounts(1)

    async def register(i: int) -> Any:
        body = {"email": f"bot-{i}-{id(api)}@test.example", "password": "a long passphrase"}
        return await api.call("POST", "/api/auth/register", someone, json=body)

    replies = [await register(i) for i in range(3)]
    assert [r.status for r in replies] == [201, 201, 429]
    assert replies[2].body["error"] == "rate_limited"
    # The window is an hour: the client is told to come back in minutes, not a second.
    assert int(replies[2].headers["Retry-After"]) > 60


async def test_each_of_several_gateway_processes_enforces_its_share(make_api: Any) -> None:
    """With RabbitMQ, `ticketwar run` serves through GATEWAY_PROCESSES processes whose
    counters are their own: each allows its share, so the host allows the limit in all."""
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL), gateway_processes=2,
                              rate_limit_auth="4/minute", max_requests_in_flight=128)
    statuses = [(await api.call("POST", "/api/auth/login", json=LOGIN)).status
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert api.app[service_key].capacity == 64


async def test_the_in_process_transport_is_one_process_with_the_whole_limit(
        make_api: Any) -> None:
    api: Api = await make_api(gateway_processes=2, rate_limit_auth="2/minute",
                              max_requests_in_flight=128)
    statuses = [(await api.call("POST", "/api/auth/login", json=LOGIN)).status
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert api.app[service_key].capacity == 128


def test_a_share_rounds_up_and_never_reaches_zero() -> None:
    assert [share(total, 4) for total in (1, 4, 10, 128)] == [1, 1, 3, 32]
    assert share(7, 1) == 7
