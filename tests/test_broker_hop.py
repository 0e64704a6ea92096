"""The broker hop does not grow with the request rate: a gateway packs every command for one
virtual bucket of events within the coalescing window into one message, the shards answer
each gateway with one message per batch, and the counters on /metrics show it. Mixed-event
messages keep per-event order, forward after a fencing loss, and dead-letter: whole, or one
command at a time once an actor has split them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.messages import BookCommand, Command, Outcome, decode_outcomes, encode_commands
from engine.settings import Secret, Settings, SettingsError
from engine.storage.shard_store import PgShardStore
from engine.transport.amqp import AmqpShardConsumer, Names
from engine.transport.amqp.topology import routing_key
from engine.transport.base import Envelope, bucket_for
from engine.types import BookingStatus
from gateway.app import create_app
from gateway.keys import metrics_key, notifications_key, transport_key
from tests.conftest import AMQP_PREFIX, TEST_AMQP_URL, base_settings
from tests.faultproxy import FaultProxy
from tests.helpers import Api, assert_eventually
from tests.worker import ShardWorker, delete_namespace

#: (name, direction, kind) -> value of the broker-hop counters in one exposition.
Counts = dict[tuple[str, str, str], float]


def _counts(text: str) -> Counts:
    out: Counts = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in ("ticketwar_amqp_messages_total", "ticketwar_amqp_commands_total"):
                out[s.name, s.labels["direction"], s.labels.get("kind", "commands")] = s.value
    return out


async def _gateway_counts(api: Api) -> Counts:
    reply = await api.call("GET", "/metrics")
    assert reply.status == 200
    return _counts(reply.body)


def _worker_counts(worker: ShardWorker) -> Counts:
    return _counts(generate_latest(worker.metrics.registry).decode())


def _delta(after: Counts, before: Counts, name: str, direction: str, kind: str) -> float:
    key = (f"ticketwar_amqp_{name}_total", direction, kind)
    return after[key] - before.get(key, 0.0)


def test_buckets_are_a_setting_of_at_least_one() -> None:
    assert Settings.from_env({"AMQP_BUCKETS": "64"}).amqp_buckets == 64
    # Zero buckets would route nothing (a modulo by zero at the first booking): refused at
    # start-up instead.
    with pytest.raises(SettingsError, match="AMQP_BUCKETS"):
        Settings.from_env({"AMQP_BUCKETS": "0"})


async def test_commands_for_many_events_travel_one_message_per_bucket(
        shard_worker: ShardWorker, make_api: Callable[..., Any]) -> None:
    buckets = 2
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL), amqp_buckets=buckets,
                              coalesce_ms=50)
    events = [(await api.event(totalTickets=3))["id"] for _ in range(6)]
    buyers = await api.accounts(5)
    # Round-robin over the events: each event's five commands interleaved with the others'.
    commands = [BookCommand(uuid.uuid4(), event, buyer.id, 1, api.app[transport_key].reply_to)
                for buyer in buyers for event in events]
    outcomes: dict[uuid.UUID, Outcome] = {}
    api.app[notifications_key].on_outcome(lambda o: outcomes.__setitem__(o.booking_id, o))
    gateway_before, worker_before = await _gateway_counts(api), _worker_counts(shard_worker)

    transport = api.app[transport_key]
    # Sent in one go: every command is in its bucket's window before the window closes.
    await asyncio.gather(*(transport.send([cmd]) for cmd in commands))

    async def all_answered() -> bool:
        return len(outcomes) == len(commands)

    await assert_eventually(all_answered, message="not every command was answered")
    await shard_worker.drain()
    gateway, worker = await _gateway_counts(api), _worker_counts(shard_worker)
    used = len({bucket_for(event, buckets) for event in events})
    # Thirty commands for six events: one message per bucket, each way of the command hop.
    assert _delta(gateway, gateway_before, "messages", "published", "commands") == used
    assert _delta(gateway, gateway_before, "commands", "published", "commands") == 30
    assert _delta(worker, worker_before, "messages", "delivered", "commands") == used
    assert _delta(worker, worker_before, "commands", "delivered", "commands") == 30
    # Answers: one message per batch and reply queue, at most one batch per message here.
    published_outcomes = _delta(worker, worker_before, "messages", "published", "outcomes")
    assert 1 <= published_outcomes <= used
    assert _delta(gateway, gateway_before, "messages", "delivered", "outcomes") \
        == published_outcomes
    assert 1 <= _delta(worker, worker_before, "messages", "published", "stock") <= used
    # Decided in the order sent, per event: the first three buyers get the three seats.
    for event in events:
        statuses = [outcomes[c.booking_id].status for c in commands if c.event_id == event]
        assert statuses == [BookingStatus.CONFIRMED] * 3 + [BookingStatus.REJECTED] * 2
        assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event) == 3


async def test_poison_in_a_mixed_message_is_dead_lettered_and_answered(
        shard_worker: ShardWorker, make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL))
    first, second = (await api.event(totalTickets=5))["id"], (await api.event())["id"]
    buyer = await api.account()
    buckets = shard_worker.settings.amqp_buckets
    connection = await aio_pika.connect(TEST_AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.declare_queue(exclusive=True)
        # Bound as a gateway binds its reply queue: outcomes come through the replies exchange.
        await replies.bind(Names(AMQP_PREFIX, 0).replies, routing_key=replies.name)
        exchange = await channel.get_exchange(Names(AMQP_PREFIX, 0).bookings)
        # Undecodable bytes, then one message for two events: a command naming a user that
        # does not exist, beside a good one.
        await exchange.publish(aio_pika.Message(b"\x00not json"),
                               routing_key(first, buckets))
        ghost = BookCommand(uuid.uuid4(), first, 987_654_321, 1, replies.name)
        good = BookCommand(uuid.uuid4(), second, buyer.id, 1, replies.name)
        await exchange.publish(aio_pika.Message(encode_commands([ghost, good])),
                               routing_key(first, buckets))
        answered: dict[uuid.UUID, Outcome] = {}
        async with replies.iterator() as incoming, asyncio.timeout(30):
            async for message in incoming:
                await message.ack()
                answered.update((o.booking_id, o) for o in decode_outcomes(message.body))
                if len(answered) == 2:
                    break
    assert (answered[ghost.booking_id].status, answered[ghost.booking_id].reason) == (
        BookingStatus.REJECTED, "undeliverable")
    # The other event's command in the same message is decided, not dead-lettered with it.
    assert answered[good.booking_id].status is BookingStatus.CONFIRMED
    # The shard queue kept going: a booking of the first event after them is decided.
    assert (await api.book(buyer, first, 1)).status == 201


@pytest.fixture
async def lone_consumer(db_pool: asyncpg.Pool,
                        tmp_path: Path) -> AsyncIterator[tuple[AmqpShardConsumer,
                                                               asyncio.Queue[Envelope],
                                                               Settings]]:
    """A shard consumer on a namespace of its own (one shard, one bucket), handing each
    delivery to the test instead of an actor: the test plays the actor."""
    settings = base_settings(tmp_path, amqp_url=Secret(TEST_AMQP_URL),
                             amqp_prefix=f"{AMQP_PREFIX}-lone", shards=1, amqp_buckets=1,
                             shard_workers=1)
    delivered: asyncio.Queue[Envelope] = asyncio.Queue()
    consumer = AmqpShardConsumer(settings, lambda _shard, env: delivered.put_nowait(env),
                                 PgShardStore(db_pool))
    await consumer.start()
    try:
        yield consumer, delivered, settings
    finally:
        await consumer.stop()
        await delete_namespace(TEST_AMQP_URL, settings.amqp_prefix, 1)


async def _ready_messages(settings: Settings) -> int:
    connection = await aio_pika.connect(TEST_AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(Names(settings.amqp_prefix, 1).shard(0),
                                            passive=True)
        return int(queue.declaration_result.message_count or 0)


async def _forward_three(api: Api, consumer: AmqpShardConsumer,
                         delivered: asyncio.Queue[Envelope]) -> tuple[list[Command], Envelope]:
    """Forward commands for three events of the one bucket; what was sent, what came back."""
    events = [(await api.event())["id"] for _ in range(3)]
    buyers = await api.accounts(3)
    commands: list[Command] = [BookCommand(uuid.uuid4(), e, b.id, 1, "nobody")
                               for e, b in zip(events, buyers, strict=True)]
    await consumer.forward(commands)
    async with asyncio.timeout(10):
        return commands, await delivered.get()


async def test_forwarded_commands_of_one_bucket_share_a_message(
        lone_consumer: tuple[AmqpShardConsumer, asyncio.Queue[Envelope], Settings],
        api: Api) -> None:
    consumer, delivered, _ = lone_consumer
    # Fenced out of three events of one bucket: they go back to the exchange as ONE message,
    # in their order.
    commands, envelope = await _forward_three(api, consumer, delivered)
    assert envelope.commands == commands
    assert delivered.empty()
    await consumer.ack([envelope])


async def test_a_message_its_actor_split_is_settled_once(
        lone_consumer: tuple[AmqpShardConsumer, asyncio.Queue[Envelope], Settings],
        api: Api) -> None:
    consumer, delivered, settings = lone_consumer
    _, envelope = await _forward_three(api, consumer, delivered)
    # An actor that split the message: the first command committed, the second poison, the
    # third committed. Only the second is dead-lettered; the message is settled once, after
    # the last of its commands.
    first, poison, last = ([cmd] for cmd in envelope.commands)
    await consumer.ack([Envelope(first, envelope.token)])
    await consumer.dead_letter(Envelope(poison, envelope.token))
    await consumer.ack([Envelope(last, envelope.token)])

    async def poison_recorded() -> bool:
        status = await api.pool.fetchval("SELECT reason FROM bookings WHERE id = $1",
                                         poison[0].booking_id)
        return status == "undeliverable"

    await assert_eventually(poison_recorded, message="the poison command was not recorded")
    assert await api.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[])",
        [first[0].booking_id, last[0].booking_id]) == 0
    # Acked: closing the consumer gives nothing back to the queue.
    await consumer.stop()
    assert await _ready_messages(settings) == 0


async def test_a_later_message_is_not_acked_over_a_partly_settled_one(
        lone_consumer: tuple[AmqpShardConsumer, asyncio.Queue[Envelope], Settings],
        api: Api) -> None:
    consumer, delivered, settings = lone_consumer
    _, earlier = await _forward_three(api, consumer, delivered)
    _, later = await _forward_three(api, consumer, delivered)
    # One command of the earlier message committed, the later message whole: acking the
    # later one with multiple=True would ack the earlier one's two open commands with it.
    await consumer.ack([Envelope(earlier.commands[:1], earlier.token)])
    await consumer.ack([later])
    await consumer.stop()
    assert await _ready_messages(settings) == 1  # the earlier one, back in the queue


async def test_settling_a_command_twice_does_not_settle_its_neighbours(
        lone_consumer: tuple[AmqpShardConsumer, asyncio.Queue[Envelope], Settings],
        api: Api) -> None:
    consumer, delivered, settings = lone_consumer
    _, envelope = await _forward_three(api, consumer, delivered)
    # An actor that acks its first command again (a restart over a batch it had acked) must
    # not ack the message while the other two are still undecided.
    for _ in range(3):
        await consumer.ack([Envelope(envelope.commands[:1], envelope.token)])
    await consumer.stop()
    assert await _ready_messages(settings) == 1


async def test_commands_gathered_while_a_confirm_is_awaited_leave_as_one_message(
        shard_worker: ShardWorker, aiohttp_client: Any,
        make_settings: Callable[..., Settings]) -> None:
    """However fast requests come, a bucket has one message in flight: what arrives while it
    awaits its confirm leaves together once it is confirmed (no window needed)."""
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = TEST_AMQP_URL.replace(":5672/", f":{proxy.port}/")
        app = create_app(make_settings(amqp_url=Secret(url), coalesce_ms=0))
        api = Api(await aiohttp_client(app), app, shard_worker)
        event = (await api.event(totalTickets=100))["id"]
        buyers = await api.accounts(21)
        transport = api.app[transport_key]
        commands = [BookCommand(uuid.uuid4(), event, b.id, 1, transport.reply_to)
                    for b in buyers]
        before = await _gateway_counts(api)

        proxy.stall("down")  # the first message reaches the broker; its confirm is held
        first = asyncio.create_task(transport.send([commands[0]]))

        async def awaiting_confirm() -> bool:
            return bool(api.app[metrics_key].registry.get_sample_value(
                "ticketwar_publisher_confirms_in_flight") == 1)
        await assert_eventually(awaiting_confirm)
        rest = asyncio.gather(*(transport.send([c]) for c in commands[1:]))
        proxy.heal()
        await asyncio.wait_for(asyncio.gather(first, rest), 10)

        after = await _gateway_counts(api)
        assert _delta(after, before, "messages", "published", "commands") == 2
        assert _delta(after, before, "commands", "published", "commands") == 21
        await api.drain()
        assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event) == 21
