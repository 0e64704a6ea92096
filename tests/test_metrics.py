"""`/metrics`: the gateway and its in-process shard actors report a surge as it happens."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Api


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.both_transports
async def test_metrics_count_outcomes_batches_and_seats(make_api: object) -> None:
    api: Api = await make_api(rate_limit_booking="30/minute")  # type: ignore[operator]
    event = await api.event(totalTickets=5)
    buyers = await api.accounts(8)
    replies = await asyncio.gather(*(api.book(b, event["id"]) for b in buyers))
    await api.drain()
    # The bot has booked once of its 30 a minute (a moving window): the 31st is refused.
    bot = buyers[0]
    for _ in range(30):
        if (await api.book(bot, event["id"])).status == 429:
            break
    else:
        pytest.fail("30 more bookings at 30/minute were never rate limited")

    reply = await api.call("GET", "/metrics")
    assert reply.status == 200
    m = _samples(reply.body)
    confirmed = sum(r.status == 201 for r in replies)
    assert confirmed == 5
    assert m[("ticketwar_booking_requests_total",
              (("outcome", "confirmed"), ("strategy", "queued")))] == 5
    assert m[("ticketwar_seats_confirmed_total", (("strategy", "queued"),))] == 5
    assert m[("ticketwar_rate_limited_total", (("scope", "book"),))] >= 1
    assert m[("ticketwar_event_seats_left", (("event_id", str(event["id"])),))] == 0
    # Shard metrics come from the process running the actors: this gateway in-process,
    # the worker over RabbitMQ.
    shard_side = m if api.worker is None else _samples(
        api.worker.runtime.metrics.exposition().decode())  # type: ignore[union-attr]
    batches = sum(v for (name, _), v in shard_side.items()
                  if name == "ticketwar_shard_batch_size_count")
    assert batches >= 1
    latency_count = sum(v for (name, labels), v in m.items()
                        if name == "ticketwar_booking_duration_seconds_count")
    assert latency_count >= len(buyers)
