"""The broker and the database go away and come back; nothing accepted is lost, nothing is
accepted that was not recorded, and traffic resumes without restarting anything."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid
from pathlib import Path

import aio_pika
import pytest

from engine.messages import BookCommand, decode_outcomes, encode_commands
from engine.payments.fake import FakeProvider
from engine.settings import Settings
from engine.storage.invariants import check_invariants
from engine.transport.amqp.topology import routing_key
from gateway.keys import payments_key
from tests.conftest import TEST_AMQP_URL
from tests.faults.checks import surge, verify
from tests.faults.conftest import FaultStack, rabbitmqctl
from tests.helpers import Reply, assert_eventually

pytestmark = [pytest.mark.fault, pytest.mark.slow]

#: Debian's pg_ctlcluster layout: one directory per installed PostgreSQL version.
PG_CLUSTERS = Path("/etc/postgresql")


def pg_version() -> str:
    """The local cluster's version, read when a test restarts it (so collecting this module
    never depends on the machine's layout); fails saying what it looked for."""
    versions = sorted(p.name for p in PG_CLUSTERS.iterdir()) if PG_CLUSTERS.is_dir() else []
    if not versions:
        pytest.fail(f"no PostgreSQL cluster under {PG_CLUSTERS}: this test restarts the "
                    "database with pg_ctlcluster, which needs Debian's layout "
                    f"({PG_CLUSTERS}/<version>/main)", pytrace=False)
    return versions[0]


async def test_broker_down_answers_503_and_recovers(fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api()
    event = await api.event(totalTickets=10)
    buyer = await api.account()
    await rabbitmqctl("stop_app")
    try:
        refused = await api.book(buyer, event["id"], 1, key="while-down")
        assert refused.status == 503, refused.body
        assert refused.body["error"] == "unavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        unkeyed = await api.book(buyer, event["id"], 1)
        assert unkeyed.status == 503, unkeyed.body
        # Not accepted means not done: no booking, and nothing pinned to the key: the retry
        # below is a new attempt, which its actor decides at most once for the key.
        assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE user_id = $1",
                                       buyer.id) == 0
        health = await api.call("GET", "/api/health")
        assert health.status == 503 and health.body["checks"]["rabbitmq"] == "down"
        assert (await api.call("GET", f"/api/events/{event['id']}")).status == 200
    finally:
        await rabbitmqctl("start_app")

    async def booking_flows() -> bool:
        reply = await api.book(buyer, event["id"], 1, key="while-down")
        return reply.status == 201

    await assert_eventually(booking_flows, timeout=60, interval=0.5,
                            message="bookings did not resume after the broker came back")
    # One booking for the key; none for the id the unkeyed 503 named.
    assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE user_id = $1",
                                   buyer.id) == 1
    assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE id = $1",
                                   unkeyed.body["bookingId"]) == 0


async def test_broker_restart_with_a_backlog(fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api(booking_wait_seconds=0.5)
    events = [(await api.event(totalTickets=80))["id"] for _ in range(6)]
    buyers = await api.accounts(300)
    pids = list(fault_stack.supervisor.pids.values())
    for pid in pids:  # workers freeze: commands pile up in the quorum queues
        os.kill(pid, signal.SIGSTOP)
    try:
        backlog = await surge(api, buyers, events, 400)
        assert sum(r.status == 202 for r in backlog) > 300, {r.status for r in backlog}
        await rabbitmqctl("stop_app")
        await rabbitmqctl("start_app")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    await assert_eventually(api.transport_healthy, timeout=60, interval=0.5)
    after = await surge(api, buyers, events, 200)
    await verify(api, backlog + after, events)


async def test_postgres_restart_under_load(fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api()
    events = [(await api.event(totalTickets=150))["id"] for _ in range(6)]
    buyers = await api.accounts(400)
    version = pg_version()
    started = asyncio.Event()
    load = asyncio.create_task(surge(api, buyers, events, 1200, started=started, after=100))
    await started.wait()
    proc = await asyncio.create_subprocess_exec(
        "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m",
        "immediate", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    replies = await load
    assert sum(r.status == 201 for r in replies) > 100  # the sale went on around the restart

    async def database_back() -> bool:
        return (await api.call("GET", "/api/health")).status == 200

    await assert_eventually(database_back, timeout=60, interval=0.5)
    await verify(api, replies, events)


async def test_poison_is_dead_lettered_and_answered(fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api()
    event = await api.event(totalTickets=20)
    buyers = await api.accounts(10)
    connection = await aio_pika.connect(TEST_AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.declare_queue(exclusive=True)
        # Bound as a gateway binds its reply queue: outcomes come through the replies exchange.
        await replies.bind(fault_stack.names.replies, routing_key=replies.name)
        exchange = await channel.get_exchange(fault_stack.names.bookings)
        # Undecodable bytes, and a well-formed command naming a user that does not exist,
        # on the event's queue (its bucket, as the gateways route it).
        key = routing_key(event["id"], Settings().amqp_buckets)
        await exchange.publish(aio_pika.Message(b"\x00not json"), key)
        ghost = BookCommand(uuid.uuid4(), event["id"], 987_654_321, 1, replies.name)
        await exchange.publish(aio_pika.Message(encode_commands([ghost])), key)
        good = await surge(api, buyers, [event["id"]], 10)
        async with replies.iterator() as incoming:
            async with asyncio.timeout(30):
                message = await anext(incoming)
                await message.ack()
        (outcome,) = decode_outcomes(message.body)
    assert (outcome.booking_id, outcome.status.value, outcome.reason) == (
        ghost.booking_id, "rejected", "undeliverable")
    assert sum(r.status == 201 for r in good) == 10  # the shard kept going
    await verify(api, good, [event["id"]])


async def test_broker_restart_while_selling_with_concurrent_retries(
        fault_stack: FaultStack) -> None:
    api = await fault_stack.make_api(publish_timeout_seconds=2.0, booking_wait_seconds=2.0)
    events = [(await api.event(totalTickets=300))["id"] for _ in range(3)]
    buyers = await api.accounts(240)
    rng, run = random.Random(5), uuid.uuid4().hex[:8]
    started = asyncio.Event()
    answers: list[tuple[str, Reply]] = []
    gate = asyncio.Semaphore(48)

    async def buyer_retrying(n: int) -> None:
        # Three copies of one request at once, as an impatient client's retries arrive.
        key, event = f"retry-{run}-{n}", rng.choice(events)

        async def once() -> None:
            async with gate:
                answers.append((key, await api.book(buyers[n], event, 1, key=key)))
            if len(answers) == 120:
                started.set()
        await asyncio.gather(once(), once(), once())

    selling = asyncio.ensure_future(asyncio.gather(*(buyer_retrying(n) for n in range(240))))
    await started.wait()
    await rabbitmqctl("stop_app")
    await rabbitmqctl("start_app")
    await selling
    replies = [reply for _, reply in answers]
    assert {r.status for r in replies} <= {201, 202, 409, 422, 503}, "a 5xx other than 503"
    # I4 under retries: every answer naming a booking names the key's one booking.
    named: dict[str, set[str]] = {}
    for key, reply in answers:
        if reply.status in (201, 202):
            named.setdefault(key, set()).add(reply.body["id"])
    assert all(len(ids) == 1 for ids in named.values()), named
    await assert_eventually(api.transport_healthy, timeout=60, interval=0.5)
    # Every booking traceable to a 201/202 (or a decided refusal), none behind a 503.
    await verify(api, replies, events)
    traced = {i for ids in named.values() for i in ids}
    made = {str(r["id"]) for r in await api.pool.fetch(
        "SELECT id FROM bookings WHERE event_id = ANY($1::bigint[]) AND status = 'confirmed'",
        events)}
    assert made <= traced, made - traced


async def test_broker_restart_while_payments_are_in_flight(fault_stack: FaultStack) -> None:
    # Charges take 0.2-0.6 s at the provider; the broker goes away while some are being
    # charged and others' confirmations are on their way to the actors.
    api = await fault_stack.make_api(fake_payment_latency="0.2-0.6", payment_wait_seconds=2.0,
                                     publish_timeout_seconds=2.0)
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    events = [(await api.event(totalTickets=30, priceCents=1500, holdSeconds=600))["id"]
              for _ in range(3)]
    buyers = await api.accounts(60)
    holds = await asyncio.gather(*(api.book(b, events[i % 3], 1) for i, b in enumerate(buyers)))
    assert all(h.status == 201 and h.body["status"] == "held" for h in holds), holds
    started = asyncio.Event()
    first: list[Reply] = []

    async def pay(n: int) -> Reply:
        reply = await api.call("POST", f"/api/bookings/{holds[n].body['id']}/pay", buyers[n],
                               json={"paymentToken": "tok_ok"},
                               headers={"Idempotency-Key": f"pay-{n}"})
        first.append(reply)
        if len(first) == 10:
            started.set()
        return reply

    paying = asyncio.ensure_future(asyncio.gather(*(pay(n) for n in range(len(buyers)))))
    await started.wait()
    await rabbitmqctl("stop_app")
    await rabbitmqctl("start_app")
    replies = await paying
    assert {r.status for r in replies} <= {200, 202, 503}, {r.status for r in replies}
    await assert_eventually(api.transport_healthy, timeout=60, interval=0.5)

    # A client retries what was not answered for good, with the same key, until it is.
    async def settled(n: int) -> bool:
        if replies[n].status == 200:
            return True
        replies[n] = await api.call(
            "POST", f"/api/bookings/{holds[n].body['id']}/pay", buyers[n],
            json={"paymentToken": "tok_ok"}, headers={"Idempotency-Key": f"pay-{n}"})
        return replies[n].status == 200
    for n in range(len(buyers)):
        try:
            await assert_eventually(lambda n=n: settled(n), timeout=60, interval=0.5)
        except AssertionError:
            # What the last retry was told, and what the database says: a CI run once got
            # here with nothing more to go on.
            row = await api.pool.fetch(
                "SELECT b.status AS booking, p.status AS payment, p.client_key"
                " FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id"
                " WHERE b.id = $1", holds[n].body["id"])
            raise AssertionError(f"payment {n} never confirmed: last answer "
                                 f"{replies[n].status} {replies[n].body}; stored "
                                 f"{[dict(r) for r in row]}") from None

    ids = [uuid.UUID(h.body["id"]) for h in holds]
    rows = await api.pool.fetch(
        "SELECT b.id, b.status, count(p.*) FILTER (WHERE p.status = 'captured') AS captured,"
        " count(p.*) FILTER (WHERE p.charge_id IS NOT NULL) AS charged"
        " FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id"
        " WHERE b.id = ANY($1) GROUP BY b.id, b.status", ids)
    assert {r["status"] for r in rows} == {"confirmed"}
    assert all(r["captured"] == 1 for r in rows), [dict(r) for r in rows if r["captured"] != 1]
    # No double charge: the money kept is one charge per booking; any other charge was
    # given back (no refund lost).
    assert len(provider.kept()) == len(ids)
    refunded = set(provider.refunds.values())
    extra = {r["charge_id"] for r in await api.pool.fetch(
        "SELECT charge_id FROM payments WHERE booking_id = ANY($1) AND charge_id IS NOT NULL"
        " AND status <> 'captured'", ids)}
    assert extra <= refunded, extra - refunded
    report = await check_invariants(api.pool, events)
    assert report.ok, report
