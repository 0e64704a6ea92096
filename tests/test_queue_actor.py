"""The waiting room as state of its event in the shard actor (issue 14): joins, the shuffled
opening, admissions bounded by seats left and driven by the actor's clock, bookings that need
and use an admission, expiry, closing at the sell-out, all written in the group commit and
reloaded by a new owner. Real PostgreSQL; the fake clock moves, nothing sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.messages import (
    BookCommand,
    Broadcast,
    CancelCommand,
    Command,
    EventCancelCommand,
    Outcome,
    QueueCommand,
    QueuePlace,
    RoomEntry,
    RoomUpdate,
    StockUpdate,
    WakeCommand,
    decode_broadcast,
    decode_commands,
    decode_outcomes,
    encode_commands,
    encode_outcomes,
    encode_pushes,
    encode_rooms,
    encode_stock,
)
from engine.metrics import Metrics
from engine.runtime import ShardActor, ShardRuntime
from engine.storage.invariants import check_invariants
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.types import BookingStatus, Role
from engine.waiting_room import audit
from tests.clock import FakeClock
from tests.factories import create_accounts
from tests.helpers import Api, assert_eventually
from tests.test_actor import FailsAfterCommit, RecordingOutlet


class RoomOutlet(RecordingOutlet):
    """Also remembers the rooms' broadcasts."""

    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[RoomUpdate] = []

    async def send_rooms(self, updates: Sequence[RoomUpdate]) -> None:
        self.rooms += updates


def _env(*commands: Command) -> Envelope:
    return Envelope(list(commands))


async def _room_event(api: Api, clock: FakeClock, seats: int, opens_in: float = 60,
                      **room: Any) -> int:
    """An event with a waiting room whose sale opens `opens_in` seconds from the clock's now
    (its queue open already)."""
    start = clock.now() + timedelta(seconds=opens_in)
    event = await api.event(totalTickets=seats, saleStartsAt=start.isoformat(),
                            waitingRoom={"enabled": True, **room})
    return int(event["id"])


async def _users(api: Api, n: int) -> list[int]:
    return [a.id for a in await create_accounts(api.pool, api.issuer, n, Role.USER)]


async def _entries(api: Api, event_id: int) -> dict[int, str]:
    rows = await api.pool.fetch(
        "SELECT user_id, status FROM queue_entries WHERE event_id = $1", event_id)
    return {r["user_id"]: r["status"] for r in rows}


async def _audit(api: Api, event_id: int) -> list[str]:
    seed = await api.pool.fetchval("SELECT seed FROM queue_rooms WHERE event_id = $1",
                                   event_id)
    rows = await api.pool.fetch("SELECT id, prequeued, admit_no FROM queue_entries"
                                " WHERE event_id = $1 ORDER BY join_no", event_id)
    order = [r["id"] for r in sorted((r for r in rows if r["admit_no"] is not None),
                                     key=lambda r: r["admit_no"])]
    return audit(bytes(seed), [r["id"] for r in rows if r["prequeued"]],
                 [r["id"] for r in rows if not r["prequeued"]], order)


def _book(event_id: int, user: int) -> BookCommand:
    return BookCommand(uuid.uuid4(), event_id, user, 1, "t")


def _by_user(outcomes: list[Outcome]) -> dict[int, Outcome]:
    return {o.user_id: o for o in outcomes}


async def test_the_prequeue_opens_shuffled_and_admits_what_the_seats_absorb(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=2, admissionSeconds=30)
    users = await _users(api, 7)
    outlet = RoomOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet, clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_env(*(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users[:6])))
        await actor.drain()
        joined = [o.queue for o in outlet.outcomes]
        assert all(o.answers == o.booking_id for o in outlet.outcomes)  # all new
        assert [(q.status, q.position, q.prequeued) for q in joined if q] == [
            ("prequeue", None, n) for n in range(1, 7)]
        # Joining again returns the same entry; booking without an admission is refused.
        actor.submit(_env(QueueCommand(uuid.uuid4(), event_id, users[0], "t")))
        await actor.drain()
        assert outlet.outcomes[-1].booking_id == outlet.outcomes[0].booking_id
        clock.advance(61)  # the sale opens: the actor's own timer admits, nobody asks
        await actor.drain()
        admitted = await _admitted(api, event_id)
        assert len(admitted) == 4  # 2 seats left x the factor 2
        assert sorted((await _entries(api, event_id)).values()) == ["admitted"] * 4 + [
            "waiting"] * 2
        waiting = [u for u in users[:6] if u not in admitted]
        actor.submit(_env(_book(event_id, waiting[0]), _book(event_id, admitted[0])))
        await actor.drain()
        refused, booked = outlet.outcomes[-2:]
        assert (refused.status, refused.reason) == (BookingStatus.REJECTED,
                                                   "admission_required")
        assert booked.status is BookingStatus.CONFIRMED
        # A late arrival queues behind the pre-queue; unused admissions expire, their
        # slots move on; the second seat sells and the room closes on whoever still waits.
        actor.submit(_env(QueueCommand(uuid.uuid4(), event_id, users[6], "t")))
        clock.advance(31)
        await actor.drain()
        statuses = await _entries(api, event_id)
        assert statuses[admitted[0]] == "used"
        assert [statuses[u] for u in admitted[1:]] == ["expired"] * 3
        assert [statuses[u] for u in waiting] == ["admitted", "admitted"]
        actor.submit(_env(_book(event_id, admitted[1]), _book(event_id, waiting[1])))
        await actor.drain()
        expired, sold = outlet.outcomes[-2:]
        assert expired.reason == "admission_expired" and sold.status is BookingStatus.CONFIRMED
    statuses = await _entries(api, event_id)
    assert statuses[users[6]] == "closed" and statuses[waiting[0]] == "admitted"
    assert await _audit(api, event_id) == []
    # Every change went out in order, one version after the other.
    versions = [u.version for u in outlet.rooms]
    assert versions == list(range(1, len(versions) + 1)) and outlet.rooms[-1].closed
    assert (await check_invariants(api.pool, [event_id])).ok


async def _admitted(api: Api, event_id: int) -> list[int]:
    rows = await api.pool.fetch("SELECT user_id FROM queue_entries WHERE event_id = $1"
                                " AND admit_no IS NOT NULL ORDER BY admit_no", event_id)
    return [r["user_id"] for r in rows]


async def test_a_new_owner_reloads_the_room_and_goes_on_in_order(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=1, opens_in=10, admissionSeconds=30)
    users = await _users(api, 5)
    store = PgShardStore(api.pool)
    old_outlet, new_outlet = RoomOutlet(), RoomOutlet()
    async with ShardActor(0, store, old_outlet, clock=clock.now, sleeper=clock.sleep) as old:
        old.submit(_env(*(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users)))
        clock.advance(11)
        await old.drain()
    first, second = await _admitted(api, event_id)  # 1 seat x 2
    # The old owner is gone with its memory; the new one claims the event and finds the
    # line, the admissions and their deadlines as they were.
    async with ShardActor(1, store, new_outlet, clock=clock.now, sleeper=clock.sleep) as new:
        rest = [u for u in users if u not in (first, second)]  # in the shuffled order
        new.submit(_env(WakeCommand(event_id),
                        *(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in [first, *rest])))
        await new.drain()
        places = [o.queue for o in new_outlet.outcomes]
        assert [(p.status, p.position) for p in places if p] == [
            ("admitted", None), ("waiting", 1), ("waiting", 2), ("waiting", 3)]
        clock.advance(31)  # both admissions expire (timer armed by the reload)
        await new.drain()
        now_admitted = await _admitted(api, event_id)
        assert now_admitted[:2] == [first, second] and now_admitted[2:] == rest[:2]
        new.submit(_env(_book(event_id, rest[0])))
        await new.drain()
        assert new_outlet.outcomes[-1].status is BookingStatus.CONFIRMED
    statuses = await _entries(api, event_id)
    assert statuses[rest[0]] == "used" and statuses[rest[2]] == "closed"
    assert await _audit(api, event_id) == []
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_admit_per_minute_paces_admissions_on_the_actors_clock(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=100, opens_in=0, admitPerMinute=120)
    users = await _users(api, 8)
    outlet = RoomOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet, clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_env(*(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users)))
        await actor.drain()
        assert len(await _admitted(api, event_id)) == 1  # one token to start with
        clock.advance(1)  # two a second
        await actor.drain()
        assert len(await _admitted(api, event_id)) == 3
        place = outlet.rooms[-1]
        assert (place.waiting, place.rate) == (5, 2.0)
    assert await _admitted(api, event_id) == users[:3]  # no pre-queue: first in, first out


async def test_the_events_admit_factor_bounds_the_admitted_but_unused(
        api: Api, clock: FakeClock) -> None:
    tight = await _room_event(api, clock, seats=4, opens_in=0, admitFactor=1)
    loose = await _room_event(api, clock, seats=4, opens_in=0, admitFactor=2.5)
    default = await _room_event(api, clock, seats=4, opens_in=0)
    users = await _users(api, 12)
    async with ShardActor(0, PgShardStore(api.pool), RoomOutlet(), clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_env(*(QueueCommand(uuid.uuid4(), e, u, "t")
                            for e in (tight, loose, default) for u in users)))
        await actor.drain()
        # 4 seats left: x1, x2.5 and the default x2 admitted-but-unused at most.
        assert [len(await _admitted(api, e)) for e in (tight, loose, default)] == [4, 10, 8]
        actor.submit(_env(_book(tight, (await _admitted(api, tight))[0])))
        await actor.drain()
        # One seat sold, its admission used: 3 seats left x1, and 3 still unused.
        assert len(await _admitted(api, tight)) == 4


async def test_an_event_without_a_room_books_as_ever_and_refuses_joins(api: Api) -> None:
    event_id = int((await api.event(totalTickets=3))["id"])
    user, = await _users(api, 1)
    outlet = RoomOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(_env(QueueCommand(uuid.uuid4(), event_id, user, "t"),
                          _book(event_id, user)))
        await actor.drain()
    joined, booked = outlet.outcomes
    assert (joined.status, joined.reason) == (BookingStatus.REJECTED, "no_waiting_room")
    assert booked.status is BookingStatus.CONFIRMED and outlet.rooms == []


async def test_a_dead_lettered_join_is_answered_as_a_join(api: Api) -> None:
    user, = await _users(api, 1)
    command = QueueCommand(uuid.uuid4(), 1, user, "t")
    answer, = await PgShardStore(api.pool).dead_lettered([command])
    assert (answer.status, answer.reason, answer.answers) == (
        BookingStatus.REJECTED, "undeliverable", command.booking_id)
    assert answer.queue is not None  # never taken for a booking (stream, routes)
    assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE id = $1",
                                   command.booking_id) == 0


def test_the_room_travels_the_wire_intact() -> None:
    command = QueueCommand(uuid.uuid4(), 4, 9, "gw-1")
    assert decode_commands(encode_commands([command])) == [command]
    at = datetime(2030, 1, 1, 10, tzinfo=UTC)
    answer = Outcome(command.booking_id, 4, 9, BookingStatus.WAITING, 0,
                     answers=command.booking_id, queue=QueuePlace("admitted", None, None, 3, at))
    assert decode_outcomes(encode_outcomes([answer])) == [answer]
    change = RoomUpdate(4, 7, 2, 10, 0, True, False, 1.5, (
        RoomEntry(command.booking_id, 9, "admitted", 1, at),
        RoomEntry(uuid.uuid4(), 8, "waiting", 2, None)), waitlist=True, unused=1, admitted=3)
    assert decode_broadcast(encode_rooms([change])) == Broadcast(rooms=[change])
    stock = [StockUpdate(4, 3)]
    assert decode_broadcast(encode_stock(stock)) == Broadcast(stock=stock)
    assert decode_broadcast(encode_pushes([answer], "gw-1")) \
        == Broadcast(pushes=[answer], origin="gw-1")


class DiesAfterCommit(RoomOutlet, FailsAfterCommit):
    """Raises once after a commit when told: the actor dies with its rooms in memory."""


async def test_an_actor_that_dies_is_succeeded_with_every_place_and_admission(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=1, opens_in=5, admissionSeconds=30)
    other = int((await api.event(totalTickets=5))["id"])
    users = await _users(api, 5)
    outlet = DiesAfterCommit()
    runtime = ShardRuntime(PgShardStore(api.pool), shards=1, clock=clock.now,
                           sleeper=clock.sleep)
    await runtime.start(outlet)
    try:
        runtime.submit(0, _env(*(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users)))
        clock.advance(6)
        await runtime.drain()
        admitted = await _admitted(api, event_id)
        dead = runtime.actors[0]
        outlet.fail = True
        runtime.submit(0, _env(_book(other, users[0])))

        async def restarted() -> bool:
            return runtime.actors[0] is not dead

        await assert_eventually(restarted, message="the dead actor was not started again")
        # The successor claims the room back: an admitted buyer books, a waiting one may
        # not, and the expiries its predecessor armed still come, in order.
        rest = [u for u in users if u not in admitted]
        runtime.submit(0, _env(_book(event_id, rest[0]), _book(event_id, admitted[0])))
        await runtime.drain()
        refused, booked = outlet.outcomes[-2:]
        assert refused.reason == "admission_required"
        assert booked.status is BookingStatus.CONFIRMED
        clock.advance(31)
        await runtime.drain()
    finally:
        await runtime.stop()
    statuses = await _entries(api, event_id)
    assert statuses[admitted[0]] == "used" and statuses[admitted[1]] == "expired"
    assert [statuses[u] for u in rest] == ["closed"] * 3  # the one seat sold: closed
    assert await _audit(api, event_id) == []


async def test_the_actor_counts_admissions_waiting_and_unused(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=2, opens_in=10)
    users = await _users(api, 6)
    metrics = Metrics()

    def sample(name: str, **labels: str) -> float:
        return float(metrics.registry.get_sample_value(name, labels) or 0.0)

    async with ShardActor(0, PgShardStore(api.pool), RoomOutlet(), clock=clock.now,
                          sleeper=clock.sleep, metrics=metrics) as actor:
        assert sample("ticketwar_queue_admissions_total", shard="0") == 0  # there at 0
        actor.submit(_env(*(QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users)))
        await actor.drain()
        assert sample("ticketwar_queue_waiting", shard="0") == 6  # all pre-queued
        clock.advance(40)  # opens; the four admitted waited 40 s
        await actor.drain()
    assert sample("ticketwar_queue_admissions_total", shard="0") == 4
    assert sample("ticketwar_queue_waiting", shard="0") == 2
    assert sample("ticketwar_queue_admitted_unused", shard="0") == 4
    assert sample("ticketwar_queue_wait_seconds_count") == 4
    assert sample("ticketwar_queue_wait_seconds_bucket", le="30.0") == 0
    assert sample("ticketwar_queue_wait_seconds_bucket", le="60.0") == 4


async def test_a_seat_returned_after_the_room_closed_is_on_sale_again(
        api: Api, clock: FakeClock) -> None:
    event_id = await _room_event(api, clock, seats=1, opens_in=0)
    first, stranger = await _users(api, 2)
    outlet = RoomOutlet()
    booking = _book(event_id, first)
    async with ShardActor(0, PgShardStore(api.pool), outlet, clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_env(QueueCommand(uuid.uuid4(), event_id, first, "t"), booking))
        await actor.drain()
        assert outlet.rooms[-1].closed  # the one seat sold: the room closed
        # Its buyer cancels; nobody is on the waiting list and nobody is left in line: the
        # seat is on sale as if there were no room, never stuck.
        actor.submit(_env(CancelCommand(booking.booking_id, event_id, first, "t"),
                          _book(event_id, stranger)))
        await actor.drain()
    assert outlet.outcomes[-1].status is BookingStatus.CONFIRMED


async def test_an_event_cancelled_by_its_organizer_closes_its_room(
        api: Api, clock: FakeClock) -> None:
    opened = await _room_event(api, clock, seats=2, opens_in=0)
    later = await _room_event(api, clock, seats=2, opens_in=60)
    users = await _users(api, 6)
    outlet = RoomOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet, clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_env(*(QueueCommand(uuid.uuid4(), opened, u, "t") for u in users),
                          *(QueueCommand(uuid.uuid4(), later, u, "t") for u in users[:3])))
        await actor.drain()
        admitted = await _admitted(api, opened)
        assert len(admitted) == 4 and set((await _entries(api, later)).values()) == {
            "prequeue"}
        actor.submit(_env(*(EventCancelCommand(uuid.uuid4(), e, 0, "t")
                            for e in (opened, later))))
        await actor.drain()
        assert [o.status for o in outlet.outcomes[-2:]] == [BookingStatus.CANCELLED] * 2
        # Nobody is admitted to a sale that is over: a buyer admitted before books nothing
        # (the event's refusal, not the room's), and the room takes no one new.
        actor.submit(_env(_book(opened, admitted[0]),
                          QueueCommand(uuid.uuid4(), opened, users[0], "t")))
        await actor.drain()
        booked, joined = outlet.outcomes[-2:]
        assert (booked.status, booked.reason) == (BookingStatus.REJECTED, "event_cancelled")
        assert joined.reason == "queue_closed"
    statuses = await _entries(api, opened)
    assert [statuses[u] for u in admitted] == ["expired"] * 4  # void, their order kept
    assert sorted(statuses[u] for u in users if u not in admitted) == ["closed"] * 2
    assert set((await _entries(api, later)).values()) == {"closed"}
    assert await _audit(api, opened) == []
    # The gateways heard it: both rooms closed, every entry that changed with it.
    last = {u.event_id: u for u in outlet.rooms}
    assert last[opened].closed and last[later].closed
    assert {e.status for e in last[opened].entries} == {"expired", "closed"}
    assert await api.pool.fetchval(
        "SELECT count(*) FROM queue_rooms WHERE closed_at IS NOT NULL"
        " AND event_id = ANY($1::bigint[])", [opened, later]) == 2
