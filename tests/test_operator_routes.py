"""`/metrics` and `/api/health` (issue 10, finding 9): metrics only for the addresses
METRICS_ALLOWED lists, health answered from a cached probe and rate limited."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.keys import health_probe_key
from tests.helpers import Api


async def test_metrics_are_served_to_allowed_addresses_only(make_api: Any) -> None:
    api: Api = await make_api()  # the default: loopback and private networks
    assert (await api.call("GET", "/metrics")).status == 200
    elsewhere: Api = await make_api(metrics_allowed=frozenset({"10.9.9.0/24"}))
    refused = await elsewhere.call("GET", "/metrics")
    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    assert "ticketwar_" not in str(refused.body)


async def test_metrics_see_through_a_trusted_proxy(make_api: Any) -> None:
    # Behind a proxy on the same host every peer is loopback: the caller it names counts.
    api: Api = await make_api(trusted_proxies=frozenset({"127.0.0.1"}))
    public = await api.call("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert public.status == 403
    private = await api.call("GET", "/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert private.status == 200


async def test_health_answers_from_one_probe_per_interval(make_api: Any) -> None:
    # It queried the database on every call; a bot calling it in a loop was a free load.
    api: Api = await make_api(health_cache_seconds=60)
    replies = await asyncio.gather(*(api.call("GET", "/api/health") for _ in range(20)))
    assert {r.status for r in replies} == {200}
    assert api.app[health_probe_key].probes == 1


async def test_health_is_rate_limited(make_api: Any) -> None:
    api: Api = await make_api(rate_limit_default="3/minute")
    statuses = [(await api.call("GET", "/api/health")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
