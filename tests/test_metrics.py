"""`/metrics`: the gateway and its in-process shard actors report a surge as it happens."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.payments.fake import FakeProvider
from gateway.keys import checkout_key, payments_key
from tests.clock import FakeClock
from tests.factories import Account
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


@pytest.mark.both_transports
async def test_metrics_count_holds_expiries_payments_and_refunds(
        make_api: object, clock: FakeClock) -> None:
    api: Api = await make_api(payment_wait_seconds=0.05)  # type: ignore[operator]
    # The actors may hold other tests' events with open holds (claimed by the start-up
    # wake-ups, or kept by the session's worker), whose deadlines may come during the test,
    # and over RabbitMQ their counters are the session's: every figure is a difference from
    # here, and the expiries of others are bounded by the database's.
    await api.drain()
    since = await api.pool.fetchval("SELECT now()")
    gateway_before, shards_before = await _snapshot(api)
    event = await api.event(totalTickets=10, priceCents=900, holdSeconds=30)
    payer, decliner, late, abandoner = await api.accounts(4)
    holds = {b: (await api.book(b, event["id"])).body for b in (payer, decliner, late, abandoner)}
    assert {h["status"] for h in holds.values()} == {"held"}

    async def pay(buyer: Account, token: str) -> int:
        reply = await api.call("POST", f"/api/bookings/{holds[buyer]['id']}/pay", buyer,
                               json={"paymentToken": token})
        return reply.status

    async def expired_elsewhere() -> int:
        """Holds of other events expired since the start (their deadlines came)."""
        return int(await api.pool.fetchval(
            "SELECT count(*) FROM bookings WHERE status = 'expired' AND decided_at >= $1"
            " AND event_id <> $2", since, event["id"]))

    checkout = api.app[checkout_key]
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    assert await pay(payer, "tok_ok") in (200, 202)  # 202: the actor answers after the wait
    await checkout.settled()
    assert await pay(decliner, "tok_declined") == 402
    provider.gate = gate = asyncio.Event()
    try:
        assert await pay(late, "tok_ok") == 202  # its charge is held past the deadline
        await api.drain()
        _, mid = await _snapshot(api)
        assert _delta(mid, shards_before, "ticketwar_holds_taken_total") == 4
        # Open: the decliner's, the late payer's, the abandoner's (the payer's is confirmed),
        # less any other hold that expired meanwhile.
        assert _delta(mid, shards_before, "ticketwar_holds_open") == 3 - _delta(
            mid, shards_before, "ticketwar_holds_expired_total")

        clock.advance(31)
        await api.drain()  # three holds expire: the decliner's, the late payer's, the abandoner's
    finally:
        gate.set()  # the late payer's money comes after: refunded
        await checkout.settled()
    await api.drain()

    gateway, shards = await _snapshot(api)
    expired = _delta(shards, shards_before, "ticketwar_holds_expired_total")
    assert 3 <= expired <= 3 + await expired_elsewhere()
    assert _delta(shards, shards_before, "ticketwar_holds_open") == 3 - expired
    assert _delta(shards, shards_before, "ticketwar_hold_expiry_delay_seconds_count") == expired
    for (name, labels), value in (
            (("ticketwar_payments_total", (("outcome", "confirmed"),)), 1),
            (("ticketwar_payments_total", (("outcome", "declined"),)), 1),
            (("ticketwar_payments_total", (("outcome", "refunded"),)), 1),
            (("ticketwar_refunds_total", (("reason", "hold_expired"),)), 1),
            (("ticketwar_refunds_total", (("reason", "not_held"),)), 0),
            (("ticketwar_payment_charge_seconds_count", (("result", "succeeded"),)), 2),
            (("ticketwar_payment_charge_seconds_count", (("result", "declined"),)), 1)):
        assert gateway[(name, labels)] - gateway_before.get((name, labels), 0) == value, name


@pytest.mark.both_transports
async def test_metrics_count_waitlist_joins_offers_and_length(
        make_api: object, clock: FakeClock) -> None:
    api: Api = await make_api()  # type: ignore[operator]
    # Other tests' offers may pass on or expire meanwhile (the clock moves for all): shard
    # figures are differences from here, bounded by what the database saw elsewhere.
    await api.drain()
    since = await api.pool.fetchval("SELECT now()")
    _, before = await _snapshot(api)
    event = await api.event(totalTickets=2, holdSeconds=30)
    holders = await api.accounts(2)
    tickets = [(await api.book(h, event["id"])).body for h in holders]
    waiting = await api.accounts(4)
    for buyer in waiting:
        joined = await api.call("POST", f"/api/events/{event['id']}/waitlist", buyer,
                                json={"quantity": 1})
        assert joined.status == 201, joined.body

    async def elsewhere(what: str) -> int:
        """Offers of other events made (`offered`) or that expired (`expired`) since."""
        sql = ("SELECT count(*) FROM waitlist_entries WHERE status = 'offered'"
               " AND updated_at >= $1 AND event_id <> $2" if what == "offered" else
               "SELECT count(*) FROM bookings WHERE offer AND status = 'expired'"
               " AND decided_at >= $1 AND event_id <> $2")
        return int(await api.pool.fetchval(sql, since, event["id"]))

    async def offer_of(buyer: Account) -> str:
        await api.drain()
        [mine] = (await api.call("GET", "/api/me/waitlist", buyer)).body
        assert mine["status"] == "offered", mine
        return str(mine["id"])

    await api.drain()
    _, joined_ = await _snapshot(api)
    waits = ("ticketwar_event_waitlist_length", (("event_id", str(event["id"])),))
    assert joined_[waits] == 4
    assert _delta(joined_, before, "ticketwar_waitlist_joins_total") == 4
    assert 4 - await elsewhere("offered") <= _delta(
        joined_, before, "ticketwar_waitlist_length") <= 4

    # A cancel offers the seat to the first, who takes it; the next cancel's offer is
    # declined (offered on at once), and the one after that expires (offered on again).
    await api.call("POST", f"/api/bookings/{tickets[0]['id']}/cancel", holders[0])
    taken = await api.call("POST", f"/api/bookings/{await offer_of(waiting[0])}/pay",
                           waiting[0])
    assert taken.status == 200, taken.body
    await api.call("POST", f"/api/bookings/{tickets[1]['id']}/cancel", holders[1])
    declined = await api.call("POST", f"/api/bookings/{await offer_of(waiting[1])}/cancel",
                              waiting[1])
    assert declined.status == 200, declined.body
    await offer_of(waiting[2])
    clock.advance(31)
    await offer_of(waiting[3])

    _, after = await _snapshot(api)
    assert after[waits] == 0

    def offers(outcome: str) -> float:
        return sum(v - before.get((n, labels), 0) for (n, labels), v in after.items()
                   if n == "ticketwar_waitlist_offers_total" and ("outcome", outcome) in labels)

    made, expired = offers("made"), offers("expired")
    assert 4 <= made <= 4 + await elsewhere("offered")
    assert (offers("taken"), offers("declined")) == (1, 1)
    assert 1 <= expired <= 1 + await elsewhere("expired")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _snapshot(api: Api) -> tuple[Samples, Samples]:
    """The gateway's metrics, and the shard side's (the same in-process)."""
    gateway = _samples((await api.call("GET", "/metrics")).body)
    return gateway, _shard_side(api, gateway)


def _delta(after: Samples, before: Samples, name: str) -> float:
    return _total(after, name) - _total(before, name)


def _shard_side(api: Api, gateway: dict[tuple[str, tuple[tuple[str, str], ...]], float]
                ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Shard metrics come from the process running the actors: this gateway in-process,
    the worker over RabbitMQ."""
    if api.worker is None:
        return gateway
    return _samples(api.worker.runtime.metrics.exposition().decode())  # type: ignore[union-attr]


def _total(m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in m.items() if n == name)


def test_a_shard_actor_starts_its_hold_and_waitlist_series_at_zero(db_pool: object) -> None:
    """A counter first seen above 0 has no rate in Prometheus until it moves again: the first
    expiries of a sale would be missing from the dashboard (seen: the panel of expired holds
    empty after a surge that expired some)."""
    from engine.metrics import Metrics
    from engine.runtime.actor import ShardActor
    from engine.storage.shard_store import PgShardStore
    from tests.test_actor import DeadLetters

    metrics = Metrics()
    ShardActor(3, PgShardStore(db_pool), DeadLetters(), metrics=metrics)  # type: ignore[arg-type]
    for name in ("ticketwar_holds_taken_total", "ticketwar_holds_expired_total",
                 "ticketwar_holds_open", "ticketwar_waitlist_joins_total",
                 "ticketwar_waitlist_length"):
        assert metrics.registry.get_sample_value(name, {"shard": "3"}) == 0.0, name
    for outcome in ("made", "taken", "expired", "declined"):
        assert metrics.registry.get_sample_value(
            "ticketwar_waitlist_offers_total", {"shard": "3", "outcome": outcome}) == 0.0
