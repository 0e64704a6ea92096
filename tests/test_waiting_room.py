"""The waiting room's pure rules: shuffled pre-queue, FIFO after the opening, positions
without scans, admissions bounded by seats left, windows that expire, closing at the
sell-out, and an audit that recomputes the order. The clock is passed in."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.waiting_room import (
    QueueClosed,
    QueueNotOpen,
    QueueStatus,
    RoomConfig,
    WaitingRoom,
    audit,
    rank,
    restore,
)

OPENS = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SALE = OPENS + timedelta(minutes=10)
SEED = b"\x01" * 16


def room(**config: object) -> WaitingRoom:
    cfg: dict[str, object] = {"sale_starts_at": SALE, "queue_opens_at": OPENS}
    cfg.update(config)
    return WaitingRoom(RoomConfig(**cfg), seed=SEED)  # type: ignore[arg-type]


def qid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n + 1)


def test_joining_before_the_room_opens_is_refused() -> None:
    with pytest.raises(QueueNotOpen):
        room().join(qid(0), 1, OPENS - timedelta(seconds=1))


def test_one_active_entry_per_account() -> None:
    r = room()
    first, new = r.join(qid(0), 7, OPENS)
    again, new_again = r.join(qid(1), 7, OPENS + timedelta(seconds=5))
    assert new and not new_again and again is first
    assert first.status is QueueStatus.PREQUEUE and r.position(first) is None
    assert r.prequeued == 1


def test_the_prequeue_is_shuffled_by_the_seed_and_later_arrivals_queue_behind() -> None:
    r = room()
    early = [r.join(qid(n), n, OPENS + timedelta(seconds=n))[0] for n in range(50)]
    assert r.tick(SALE, seats_left=0, sold_out=False) == []  # opened; nothing to admit
    late = [r.join(qid(100 + n), 100 + n, SALE + timedelta(seconds=n))[0] for n in range(5)]
    order = sorted(early, key=lambda e: r.position(e) or 0)
    assert [e.queue_id for e in order] == sorted((e.queue_id for e in early),
                                                 key=lambda q: rank(SEED, q))
    assert [e.queue_id for e in order] != [e.queue_id for e in early]  # not join order
    assert [r.position(e) for e in late] == [51, 52, 53, 54, 55]
    assert r.waiting == 55


def test_admissions_are_bounded_by_seats_left_and_follow_the_line() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None, admit_factor=2.0)
    entries = [r.join(qid(n), n, SALE)[0] for n in range(30)]
    admitted = r.tick(SALE, seats_left=5, sold_out=False)
    assert [e.queue_id for e in admitted] == [e.queue_id for e in entries[:10]]
    assert all(e.status is QueueStatus.ADMITTED for e in admitted)
    assert r.position(entries[10]) == 1 and r.unused == 10
    assert r.tick(SALE, seats_left=5, sold_out=False) == []  # the window is full
    # Two admitted buyers book: two slots free up.
    assert r.use(entries[0].user_id, SALE) is entries[0]
    assert r.use(entries[1].user_id, SALE) is entries[1]
    assert r.use(entries[20].user_id, SALE) is None  # not admitted: cannot use anything
    more = r.tick(SALE, seats_left=5, sold_out=False)  # their seats are still in the actor
    assert [e.queue_id for e in more] == [e.queue_id for e in entries[10:12]]  # 10 - 8
    assert r.tick(SALE, seats_left=3, sold_out=False) == []  # 6 - 10 unused: none


def test_admission_per_minute_caps_the_rate() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None, admit_per_minute=120)
    for n in range(20):
        r.join(qid(n), n, SALE)
    assert len(r.tick(SALE, seats_left=1000, sold_out=False)) == 1
    assert len(r.tick(SALE + timedelta(seconds=1), seats_left=1000, sold_out=False)) == 2
    # A long quiet spell buys one second of burst, not a flood.
    assert len(r.tick(SALE + timedelta(seconds=60), seats_left=1000, sold_out=False)) == 2


def test_an_unused_admission_expires_and_its_slot_moves_on() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None, admission_seconds=300,
             admit_factor=1.0)
    first, second = (r.join(qid(n), n, SALE)[0] for n in range(2))
    assert r.tick(SALE, seats_left=1, sold_out=False) == [first]
    assert r.admission_for(first.user_id, SALE + timedelta(seconds=299)) is first
    later = SALE + timedelta(seconds=300)
    assert r.admission_for(first.user_id, later) is None
    assert r.tick(later, seats_left=1, sold_out=False) == [first, second]
    assert first.status is QueueStatus.EXPIRED and second.status is QueueStatus.ADMITTED
    again, new = r.join(qid(9), first.user_id, later)  # expired: back of the line
    assert new and again.status is QueueStatus.WAITING and r.position(again) == 1


def test_nobody_is_admitted_while_the_waiting_list_has_takers() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None)
    r.join(qid(0), 1, SALE)
    assert r.tick(SALE, seats_left=3, sold_out=False, waitlist_waiting=True) == []
    assert len(r.tick(SALE, seats_left=3, sold_out=False)) == 1


def test_the_sell_out_closes_the_room() -> None:
    r = room()
    pre = r.join(qid(0), 1, OPENS)[0]
    r.tick(SALE, seats_left=1, sold_out=False)
    admitted = pre
    waiting = r.join(qid(1), 2, SALE)[0]
    changed = r.tick(SALE + timedelta(seconds=1), seats_left=0, sold_out=True)
    assert changed == [waiting] and waiting.status is QueueStatus.CLOSED
    assert admitted.status is QueueStatus.ADMITTED  # may still book; will hear sold out
    assert r.waiting == 0
    with pytest.raises(QueueClosed):
        r.join(qid(2), 3, SALE + timedelta(seconds=2))
    assert r.tick(SALE + timedelta(seconds=3), seats_left=2, sold_out=False) == []


def test_a_cancelled_event_voids_admissions_even_after_the_sell_out() -> None:
    r = room()
    admitted = r.join(qid(0), 1, OPENS)[0]
    r.tick(SALE, seats_left=1, sold_out=False)
    waiting = r.join(qid(1), 2, SALE)[0]
    r.tick(SALE, seats_left=0, sold_out=True)  # closed on the waiting one; admitted stays
    cancelled = SALE + timedelta(seconds=5)
    assert r.cancel(cancelled) == [admitted]
    assert admitted.status is QueueStatus.EXPIRED and admitted.admission_expires_at == cancelled
    assert admitted.admit_no == 0 and r.admission_order == [admitted.queue_id]  # audit's
    assert r.unused == 0 and r.admission_for(1, cancelled) is None
    assert waiting.status is QueueStatus.CLOSED and r.next_due(cancelled) is None
    fresh = room()
    pre = fresh.join(qid(0), 1, OPENS)[0]
    assert fresh.cancel(OPENS) == [pre] and pre.status is QueueStatus.CLOSED and fresh.closed


def test_holds_open_stop_admissions_without_closing() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None)
    entry = r.join(qid(0), 1, SALE)[0]
    assert r.tick(SALE, seats_left=0, sold_out=False) == []  # sold + held = capacity
    assert entry.status is QueueStatus.WAITING and not r.closed


def test_the_audit_recomputes_the_order() -> None:
    r = room(admit_factor=100.0)
    pre = [r.join(qid(n), n, OPENS)[0].queue_id for n in range(8)]
    r.tick(SALE, seats_left=0, sold_out=False)
    later = [r.join(qid(50 + n), 50 + n, SALE)[0].queue_id for n in range(3)]
    r.tick(SALE, seats_left=1, sold_out=False)
    assert audit(SEED, pre, later, r.admission_order) == []
    assert len(r.admission_order) == 11
    swapped = [r.admission_order[1], r.admission_order[0], *r.admission_order[2:]]
    assert audit(SEED, pre, later, swapped) == ["admission 1 is out of order"]
    assert audit(b"\x02" * 16, pre, later, r.admission_order) != []  # another seed


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "tick", "use", "wait"]),
                          st.integers(0, 15), st.integers(0, 12)), max_size=80))
def test_the_rules_hold_after_every_step(steps: list[tuple[str, int, int]]) -> None:
    """Random joins, ticks, bookings and waits: admissions follow the line, never exceed
    seats left times the factor, one active entry per account, positions 1..n."""
    r = room(admission_seconds=30, admit_factor=1.5)
    now = OPENS
    seats = 12
    prequeued: list[uuid.UUID] = []
    later: list[uuid.UUID] = []
    n = 0
    for action, user, amount in steps:
        if action == "join":
            n += 1
            entry, new = r.join(qid(n), user, now)
            if new:
                (later if r.opened else prequeued).append(entry.queue_id)
        elif action == "tick":
            r.tick(now, seats_left=seats, sold_out=seats == 0)
            assert r.unused <= max(0, seats) * 1.5
        elif action == "use" and r.use(user, now) is not None:
            seats = max(0, seats - 1)
        else:
            now += timedelta(seconds=amount * 5)
        active = [e for e in r.entries.values() if e.status in
                  (QueueStatus.PREQUEUE, QueueStatus.WAITING, QueueStatus.ADMITTED)]
        assert len({e.user_id for e in active}) == len(active)
        assert {r.active[e.user_id] for e in active} == {e.queue_id for e in active}
        positions = sorted(p for e in r.entries.values() if (p := r.position(e)) is not None)
        assert positions == list(range(1, len(positions) + 1))
        assert audit(SEED, prequeued, later, r.admission_order) == []
        if r.closed:
            assert not any(e.status is QueueStatus.WAITING for e in r.entries.values())
        _same_after_reload(r)


def _same_after_reload(r: WaitingRoom) -> None:
    """What a new owner rebuilds from the stored entries decides as the room would."""
    copy = restore(r.config, r.seed, [replace(e) for e in r.entries.values()],
                   opened=r.opened, closed=r.closed)
    assert (copy.head, copy.next_seq, copy.unused, copy.joins) == (
        r.head, r.next_seq, r.unused, r.joins)
    assert copy.active == r.active and copy.admission_order == r.admission_order
    assert list(copy.admitted) == [q for q in r.admitted
                                   if r.entries[q].status is QueueStatus.ADMITTED]
    assert copy.prequeued == r.prequeued and copy.waiting == r.waiting
    assert {q: copy.position(e) for q, e in copy.entries.items()} == {
        q: r.position(e) for q, e in r.entries.items()}


def test_next_due_names_the_opening_the_first_expiry_and_the_next_token() -> None:
    r = room(admit_per_minute=60, admission_seconds=30)
    assert r.next_due(OPENS) == SALE  # the opening
    for n in range(3):
        r.join(qid(n), n, OPENS)
    assert len(r.tick(SALE, seats_left=10, sold_out=False)) == 1  # one token
    # The next token (one a second) comes before the first admission expires.
    assert r.next_due(SALE) == SALE + timedelta(seconds=1)
    r.tick(SALE + timedelta(seconds=1), seats_left=10, sold_out=False)
    r.tick(SALE + timedelta(seconds=2), seats_left=10, sold_out=False)
    assert r.waiting == 0
    assert r.next_due(SALE + timedelta(seconds=2)) == SALE + timedelta(seconds=30)
    assert r.admissions_per_second(SALE) == 1.0
    r.tick(SALE + timedelta(seconds=40), seats_left=0, sold_out=True)
    assert r.next_due(SALE + timedelta(seconds=40)) is None  # closed


def test_the_adaptive_rate_is_what_the_last_minute_admitted() -> None:
    r = room(sale_starts_at=None, queue_opens_at=None)
    assert r.admissions_per_second(SALE) == 0.0
    for n in range(30):
        r.join(qid(n), n, SALE)
    r.tick(SALE, seats_left=5, sold_out=False)  # 10 admitted
    assert r.admissions_per_second(SALE + timedelta(seconds=10)) == 1.0
    assert r.admissions_per_second(SALE + timedelta(seconds=61)) == 0.0
