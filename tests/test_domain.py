"""The pure decision logic: unit tests, and a property test that tries to oversell."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import domain
from engine.domain import Availability, EventLedger

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ledger(capacity: int = 10, sold: int = 0, limit: int | None = None,
           sale_starts_at: datetime | None = None) -> EventLedger:
    return EventLedger(1, capacity, sold, limit, sale_starts_at, epoch=1)


def test_confirms_while_seats_last() -> None:
    lg = ledger(capacity=3)
    assert domain.book(lg, 1, 2, NOW) is None
    assert domain.book(lg, 2, 2, NOW) == "sold_out"
    assert domain.book(lg, 2, 1, NOW) is None
    assert (lg.sold, lg.available, lg.held) == (3, 0, {1: 2, 2: 1})


def test_rejection_order_is_stable() -> None:
    later = NOW + timedelta(hours=1)
    assert domain.decide_booking(ledger(capacity=0, sale_starts_at=later), 1, 1, NOW) \
        == "not_on_sale"
    assert domain.decide_booking(ledger(capacity=1, sold=1, limit=1), 1, 2, NOW) == "sold_out"
    assert domain.decide_booking(ledger(limit=1), 1, 2, NOW) == "limit_exceeded"


def test_sale_opens_at_its_start() -> None:
    lg = ledger(sale_starts_at=NOW)
    assert domain.book(lg, 1, 1, NOW - timedelta(microseconds=1)) == "not_on_sale"
    assert domain.book(lg, 1, 1, NOW) is None


def test_release_returns_seats_and_per_user_room() -> None:
    lg = ledger(capacity=2, limit=2)
    assert domain.book(lg, 7, 2, NOW) is None
    domain.release(lg, 7, 2)
    assert (lg.sold, lg.held) == (0, {})
    assert domain.book(lg, 7, 2, NOW) is None


def test_availability_states() -> None:
    assert domain.availability(5, 0, NOW + timedelta(1), NOW) is Availability.SCHEDULED
    assert domain.availability(5, 5, None, NOW) is Availability.SOLD_OUT
    assert domain.availability(5, 4, NOW, NOW) is Availability.ON_SALE


commands = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(1, 6), st.integers(1, 4)),
        st.tuples(st.just("cancel"), st.integers(0, 200), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(0, 30), limit=st.one_of(st.none(), st.integers(1, 5)),
       script=commands)
def test_no_sequence_oversells_or_breaks_the_limit(capacity: int, limit: int | None,
                                                   script: list[tuple[str, int, int]]) -> None:
    lg = ledger(capacity=capacity, limit=limit)
    confirmed: list[tuple[int, int]] = []  # (user, quantity) still held
    for kind, a, b in script:
        if kind == "book":
            before = lg.sold
            reason = domain.book(lg, a, b, NOW)
            if reason is None:
                confirmed.append((a, b))
                assert lg.sold == before + b
            else:
                assert lg.sold == before
        elif confirmed:
            user, quantity = confirmed.pop(a % len(confirmed))
            domain.release(lg, user, quantity)
        # I1, I5 and I6 on the model, after every step:
        assert 0 <= lg.sold <= capacity
        assert lg.sold == sum(q for _, q in confirmed)
        for user in {u for u, _ in confirmed}:
            held = sum(q for u, q in confirmed if u == user)
            assert lg.held[user] == held
            assert limit is None or held <= limit


def test_a_hold_takes_seats_until_settled_or_dropped() -> None:
    lg = EventLedger(1, 4, 0, 3, None, epoch=1, price_cents=250, hold_seconds=30)
    assert domain.decide_booking(lg, 7, 2, NOW) is None
    taken = domain.hold(lg, uuid.uuid4(), 7, 2, NOW)
    assert (taken.expires_at, taken.amount_cents) == (NOW + timedelta(seconds=30), 500)
    assert (lg.sold, lg.on_hold, lg.available) == (0, 2, 2)
    assert domain.decide_booking(lg, 7, 2, NOW) == "limit_exceeded"  # held seats count
    assert domain.due_holds(lg, taken.expires_at - timedelta(microseconds=1)) == []
    assert domain.due_holds(lg, taken.expires_at) == [taken]
    domain.settle(lg, taken.booking_id)
    assert (lg.sold, lg.on_hold, lg.held) == (2, 0, {7: 2})
    other = domain.hold(lg, uuid.uuid4(), 8, 2, NOW)
    assert domain.decide_booking(lg, 9, 1, NOW) == "sold_out"
    domain.drop_hold(lg, other.booking_id)
    assert (lg.sold, lg.on_hold, lg.available, lg.held) == (2, 0, 2, {7: 2})


def test_the_refund_window_closes_at_its_instant() -> None:
    lg = ledger()
    assert not domain.refundable(lg, NOW)  # no window set: paid bookings are not refunded
    lg.refundable_until = NOW
    assert domain.refundable(lg, NOW - timedelta(microseconds=1))
    assert not domain.refundable(lg, NOW)


def test_cancelling_an_event_clears_everything_and_refuses_after() -> None:
    lg = ledger(capacity=5)
    lg.price_cents, lg.hold_seconds = 100, 120
    domain.confirm(lg, 1, 2)
    taken = domain.hold(lg, uuid.uuid4(), 2, 1, NOW)
    sold, holds = domain.cancel_event(lg)
    assert (sold, holds) == (2, [taken])
    assert (lg.sold, lg.on_hold, lg.held, lg.available, lg.waitlist_open) == (0, 0, {}, 0, False)
    assert domain.decide_booking(lg, 3, 1, NOW) == "event_cancelled"
    assert domain.availability(5, 0, None, NOW, cancelled=True) is Availability.CANCELLED


def test_a_hold_is_warned_a_minute_ahead_and_extended_once() -> None:
    lg = ledger()
    lg.price_cents, lg.hold_seconds = 100, 300
    booking = uuid.uuid4()
    taken = domain.hold(lg, booking, 1, 1, NOW)
    assert domain.due_warnings(lg, taken.warn_at - timedelta(seconds=1)) == []
    assert domain.due_warnings(lg, taken.warn_at) == [taken]
    domain.warn(lg, booking)
    assert domain.due_warnings(lg, taken.warn_at) == []  # once per deadline
    assert domain.decide_extension(lg, booking, 2, NOW) == "not_extendable"  # not theirs
    assert domain.decide_extension(lg, booking, 1, NOW) is None
    longer = domain.extend(lg, booking)
    assert longer.expires_at == taken.expires_at + timedelta(seconds=300)
    assert (longer.warned, longer.extended) == (False, True)
    assert domain.due_warnings(lg, longer.warn_at) == [longer]  # warned again, before the new
    assert domain.decide_extension(lg, booking, 1, NOW) == "already_extended"
    assert domain.decide_extension(lg, booking, 1, longer.expires_at) == "not_extendable"
    lg.hold_seconds = 3600
    assert domain.extend(lg, booking).expires_at == longer.expires_at + domain.MAX_EXTENSION
    short = ledger()
    short.price_cents, short.hold_seconds = 100, 60
    brief = domain.hold(short, uuid.uuid4(), 1, 1, NOW)
    assert brief.warn_at == NOW + timedelta(seconds=30)  # half of a hold of a minute or less
    assert domain.due_warnings(short, NOW) == []
    assert domain.due_warnings(short, brief.warn_at) == [brief]


@pytest.mark.parametrize(("hold_seconds", "lead"), [
    (10, 5), (11, 5.5), (60, 30), (119, 59.5), (120, 60), (600, 60), (86400, 60)])
def test_the_warning_comes_a_minute_ahead_or_half_the_hold(hold_seconds: int,
                                                           lead: float) -> None:
    assert domain.warn_lead(hold_seconds) == timedelta(seconds=lead)


def test_the_ledger_counts_bookings_taken_not_seats_nor_offers() -> None:
    # The organizer's bookings per second: one per confirmed booking or buyer's hold, however
    # many seats; a refusal, a settled hold (already counted) and a waiting-list offer (the
    # engine's move) add none.
    lg = EventLedger(1, 10, 0, None, None, epoch=1, price_cents=100)
    taken = domain.hold(lg, uuid.uuid4(), 7, 3, NOW)
    domain.confirm(lg, 8, 2)
    assert domain.book(lg, 9, 20, NOW) == "sold_out"
    domain.settle(lg, taken.booking_id)
    domain.hold(lg, uuid.uuid4(), 10, 1, NOW, offer=True)
    assert (lg.booked, lg.sold) == (2, 5)

