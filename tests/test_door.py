"""The door's pure decisions: a ticket in once, void never, a redelivery of the attempt that
checked it in answered as that check-in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

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
