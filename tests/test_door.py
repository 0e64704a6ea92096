"""The door's pure decisions: a ticket in once, void never, a redelivery of the attempt that
checked it in answered as that check-in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.door import Door, DoorTicket, check_in
from engine.messages import TicketInfo

T0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)


def _door() -> tuple[Door, uuid.UUID]:
    booking = uuid.uuid4()
    door = Door()
    door.issued(booking, [TicketInfo(uuid.uuid4(), "TW-AAAAA-AAAAA"),
                          TicketInfo(uuid.uuid4(), "TW-BBBBB-BBBBB")])
    return door, booking


def test_a_ticket_is_admitted_once_and_then_named_with_its_first_time() -> None:
    door, booking = _door()
    attempt = uuid.uuid4()
    first = check_in(door, "TW-AAAAA-AAAAA", attempt, T0)
    assert (first.reason, first.checked_in_at, first.new) == (None, T0, True)
    assert door.used(booking)
    later = check_in(door, "TW-AAAAA-AAAAA", uuid.uuid4(), T0 + timedelta(minutes=5))
    assert (later.reason, later.checked_in_at, later.new) == ("already_checked_in", T0, False)
    # The same attempt again (a redelivery after its commit): its own check-in, not written
    # a second time.
    again = check_in(door, "TW-AAAAA-AAAAA", attempt, T0 + timedelta(minutes=9))
    assert (again.reason, again.checked_in_at, again.new) == (None, T0, False)


def test_unknown_and_void_tickets_are_refused() -> None:
    door, booking = _door()
    assert check_in(door, "TW-ZZZZZ-ZZZZZ", uuid.uuid4(), T0).reason == "unknown_ticket"
    door.voided(booking)
    void = check_in(door, "TW-BBBBB-BBBBB", uuid.uuid4(), T0)
    assert (void.reason, void.new) == ("ticket_void", False)
    assert void.ticket is not None and void.ticket.info.void
    assert not door.used(booking)


def test_a_loaded_ticket_keeps_its_state() -> None:
    booking, attempt = uuid.uuid4(), uuid.uuid4()
    door = Door.of([DoorTicket(uuid.uuid4(), "TW-CCCCC-CCCCC", booking, False, T0, attempt)])
    assert door.used(booking)
    assert check_in(door, "TW-CCCCC-CCCCC", uuid.uuid4(), T0).reason == "already_checked_in"


#: A script of door events over 3 bookings of 2 tickets: scan ticket n, or cancel booking n.
_script = st.lists(st.tuples(st.sampled_from(["scan", "cancel"]), st.integers(0, 5)),
                   max_size=30)


@settings(max_examples=300, deadline=None)
@given(script=_script)
def test_no_sequence_checks_a_void_ticket_in_or_voids_a_used_one(
        script: list[tuple[str, int]]) -> None:
    bookings = [uuid.uuid4() for _ in range(3)]
    door = Door()
    codes: list[str] = []
    for n, booking in enumerate(bookings):
        issued = [TicketInfo(uuid.uuid4(), f"TW-{n}{k}AAA-AAAAA") for k in range(2)]
        door.issued(booking, issued)
        codes += [t.code for t in issued]
    first_time: dict[str, datetime] = {}
    cancelled: set[uuid.UUID] = set()
    for step, (action, n) in enumerate(script):
        now = T0 + timedelta(seconds=step)
        if action == "cancel":
            booking = bookings[n % 3]
            if not door.used(booking):  # the actor's rule: a used booking stands
                door.voided(booking)
                cancelled.add(booking)
            continue
        code = codes[n]
        admission = check_in(door, code, uuid.uuid4(), now)
        ticket = door.tickets[code]
        if ticket.booking_id in cancelled:
            assert admission.reason == "ticket_void"
        elif code in first_time:
            assert (admission.reason, admission.checked_in_at) == (
                "already_checked_in", first_time[code])
        else:
            assert (admission.reason, admission.new) == (None, True)
            first_time[code] = now
        # After every step: no void ticket checked in, and every first time is kept.
        assert all(t.checked_in_at is None or not t.void for t in door.tickets.values())
        assert {c: t.checked_in_at for c, t in door.tickets.items()
                if t.checked_in_at is not None} == first_time
