"""The waiting list's pure parts: the list itself (positions, first fit) and the decisions
(join, leave, offer), with a property test against a plain list model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import domain, waitlist_rules
from engine.domain import EventLedger
from engine.waitlist import Entry, WaitingList

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def sold_out(capacity: int = 4, limit: int | None = None) -> EventLedger:
    return EventLedger(1, capacity, capacity, limit, None, epoch=1, hold_seconds=30)


def test_positions_and_first_fit() -> None:
    wl = WaitingList()
    for user, quantity in ((1, 3), (2, 1), (3, 2), (4, 1)):
        wl.add(Entry(uuid.uuid4(), user, quantity, user))
    assert [wl.position(u) for u in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert wl.first_fit(1).user_id == 2  # type: ignore[union-attr]
    assert wl.first_fit(2).user_id == 2  # type: ignore[union-attr]
    assert wl.first_fit(3).user_id == 1  # type: ignore[union-attr]
    assert wl.first_fit(0) is None
    wl.remove(2)
    assert [wl.position(u) for u in (1, 2, 3, 4)] == [1, None, 2, 3]
    assert wl.first_fit(2).user_id == 3  # type: ignore[union-attr]
    assert (len(wl), wl.last_seq, [e.user_id for e in wl]) == (3, 4, [1, 3, 4])


def test_the_list_compacts_and_grows_without_losing_order() -> None:
    wl = WaitingList()
    for user in range(5000):
        wl.add(Entry(uuid.uuid4(), user, 1 + user % 3, user))
    for user in range(0, 4990):
        wl.remove(user)
    assert [e.user_id for e in wl] == list(range(4990, 5000))
    assert wl.position(4995) == 6
    assert wl.first_fit(1).user_id == 4992  # type: ignore[union-attr]  # 4992 % 3 == 0


def test_a_join_needs_a_sold_out_open_list_on_sale() -> None:
    lg = sold_out(capacity=4, limit=3)
    assert waitlist_rules.decide_join(lg, 1, 2, NOW) is None
    assert waitlist_rules.decide_join(lg, 1, 4, NOW) == "limit_exceeded"
    lg.sold = 2  # two seats on sale
    assert waitlist_rules.decide_join(lg, 1, 2, NOW) == "not_sold_out"
    assert waitlist_rules.decide_join(lg, 1, 3, NOW) is None  # more than is left
    lg.sale_starts_at = NOW + timedelta(hours=1)
    assert waitlist_rules.decide_join(lg, 1, 3, NOW) == "not_on_sale"
    lg.waitlist_open = False
    assert waitlist_rules.decide_join(lg, 1, 3, NOW) == "waitlist_closed"


def test_waiting_seats_count_against_the_limit_until_offered() -> None:
    lg = sold_out(capacity=4, limit=2)
    entry = waitlist_rules.join(lg, uuid.uuid4(), 7, 2)
    assert lg.held == {7: 2}
    assert waitlist_rules.decide_join(lg, 8, 1, NOW) is None
    lg.sold = 2  # two seats return
    [offer] = waitlist_rules.offer_returned(lg, NOW)
    assert (offer.booking_id, offer.offer, offer.expires_at) == (
        entry.id, True, NOW + timedelta(seconds=30))
    assert (lg.held, lg.available, len(lg.waitlist)) == ({7: 2}, 0, 0)
    assert waitlist_rules.open_offer(lg, 7) == offer
    assert waitlist_rules.leave(lg, 7) is None  # offered: no longer waiting


def test_returned_seats_go_to_the_first_entry_that_fits() -> None:
    lg = sold_out(capacity=5)
    big, small, other = (waitlist_rules.join(lg, uuid.uuid4(), u, q)
                         for u, q in ((1, 3), (2, 1), (3, 1)))
    lg.sold -= 2  # two seats return: the 3-seat entry keeps its place
    offers = waitlist_rules.offer_returned(lg, NOW)
    assert [o.booking_id for o in offers] == [small.id, other.id]
    assert waitlist_rules.offer_returned(lg, NOW) == []
    domain.drop_hold(lg, small.id)  # an offer expires: its seat is offered on
    assert waitlist_rules.offer_returned(lg, NOW) == []  # only the big entry is left
    domain.drop_hold(lg, other.id)
    lg.sold -= 1  # three seats now
    assert [o.booking_id for o in waitlist_rules.offer_returned(lg, NOW)] == [big.id]


steps = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(1, 8), st.integers(1, 4)),
        st.tuples(st.just("leave"), st.integers(1, 8), st.just(0)),
        st.tuples(st.just("return"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("end_offer"), st.integers(0, 50), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 12), limit=st.one_of(st.none(), st.integers(1, 5)),
       script=steps)
def test_offers_follow_the_list_in_order_and_never_oversell(
        capacity: int, limit: int | None, script: list[tuple[str, int, int]]) -> None:
    lg = sold_out(capacity=capacity, limit=limit)
    model: list[tuple[int, int]] = []  # (user, quantity) waiting, in join order
    for kind, a, b in script:
        if kind == "join":
            reason = waitlist_rules.decide_join(lg, a, b, NOW)
            served = waitlist_rules.open_offer(lg, a) is not None  # the actor answers it
            if reason is None and lg.waitlist.get(a) is None and not served:
                waitlist_rules.join(lg, uuid.uuid4(), a, b)
                model.append((a, b))
        elif kind == "leave":
            left = waitlist_rules.leave(lg, a)
            assert (left is not None) == any(u == a for u, _ in model)
            model = [(u, q) for u, q in model if u != a]
        elif kind == "return" and lg.sold >= a:
            lg.sold -= a  # a cancel: seats back (confirmed seats are not tracked per user)
        elif kind == "end_offer":
            offers = [h for h in lg.holds.values() if h.offer]
            if offers:
                domain.drop_hold(lg, offers[a % len(offers)].booking_id)
        # Every decision that returns seats offers them at once: the model's first fit.
        seats, expected = lg.available, []
        while (fit := next((i for i, (_, q) in enumerate(model) if q <= seats), None)
               ) is not None:
            expected.append(model.pop(fit))
            seats -= expected[-1][1]
        offers = waitlist_rules.offer_returned(lg, NOW)
        assert [(o.user_id, o.quantity) for o in offers] == expected
        assert lg.sold + lg.on_hold <= capacity  # I1
        assert all(q > lg.available for _, q in model)  # nobody who fits is left waiting
        assert [(e.user_id, e.quantity) for e in lg.waitlist] == model
        assert [lg.waitlist.position(u) for u, _ in model] == list(range(1, len(model) + 1))
        for user in {u for u, _ in model} | {h.user_id for h in lg.holds.values()}:
            counted = sum(q for u, q in model if u == user) + sum(
                h.quantity for h in lg.holds.values() if h.user_id == user)
            assert lg.held.get(user, 0) == counted  # I5: waiting and offered seats count
            assert limit is None or counted <= limit
            # One entry per buyer: waiting, or an open offer, never both.
            waiting = sum(1 for u, _ in model if u == user)
            offered = sum(1 for h in lg.holds.values() if h.user_id == user)
            assert waiting + offered <= 1
