"""Check-in and door staff: who may check tickets in for an event, and the check-in itself.

The right to check in is read from the database per request (the event's vendor, its staff,
or an ADMIN): the door is not the surge's hot path. The check-in is decided by the event's
shard actor (`engine/runtime/doors.py`), in order with the event's cancels.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from engine.auth import Principal
from engine.errors import (
    AlreadyCheckedIn,
    CheckinNeedsQueued,
    Forbidden,
    NotFound,
    TicketVoid,
    Unavailable,
    UnknownTicket,
    UnknownUser,
)
from engine.messages import Outcome, TicketInfo
from engine.storage import staff
from engine.storage.database import translate_db_errors
from engine.storage.door import checked_in_count
from engine.storage.events import Event
from engine.storage.staff import StaffMember
from engine.types import EventId, Role, UserId

#: Sends a check-in to the event's actor: (event, scanner, code) -> its answer, None if not
#: within the wait.
SendCheckin = Callable[[EventId, UserId, str], Awaitable[Outcome | None]]
#: The event (cached briefly); `NotFound` if none.
ReadEvent = Callable[[EventId], Awaitable[Event]]


@dataclass(frozen=True, slots=True)
class CheckedInTicket:
    """A ticket checked in by this request."""

    ticket: TicketInfo
    checked_in_at: datetime

    def to_json(self) -> dict[str, object]:
        """The API's answer to a check-in."""
        return {"ticket": _ticket_json(self.ticket), "checkedInAt": _iso(self.checked_in_at)}


def organizes(principal: Principal, event: Event) -> bool:
    """Whether the caller is the event's vendor or an admin."""
    return principal.role is Role.ADMIN or event.vendor_id == principal.user_id


def _ticket_json(ticket: TicketInfo) -> dict[str, object]:
    return {"id": str(ticket.id), "code": ticket.code, "void": ticket.void}


class CheckinDesk:
    """Grant, list and revoke door staff; check tickets in through the event's actor."""

    def __init__(self, pool: asyncpg.Pool, event: ReadEvent, send: SendCheckin | None) -> None:
        self._pool, self._event, self._send = pool, event, send

    async def _organized(self, principal: Principal, event_id: EventId) -> Event:
        event = await self._event(event_id)
        if not organizes(principal, event):
            raise Forbidden("only the event's vendor or an admin manages its staff")
        return event

    async def grant(self, principal: Principal, event_id: EventId,
                    email: str) -> tuple[StaffMember, bool]:
        """Give the account with this email check-in rights for the event; (the member,
        whether newly granted). `UnknownUser` if no account has the email."""
        await self._organized(principal, event_id)
        async with translate_db_errors():
            granted = await staff.grant(self._pool, event_id, email, principal.user_id)
        if granted is None:
            raise UnknownUser("no account has this email")
        return granted

    async def staff(self, principal: Principal, event_id: EventId) -> list[StaffMember]:
        """The event's door staff."""
        await self._organized(principal, event_id)
        async with translate_db_errors():
            return await staff.members(self._pool, event_id)

    async def revoke(self, principal: Principal, event_id: EventId, user_id: UserId) -> None:
        """Take an account's check-in rights for the event away."""
        await self._organized(principal, event_id)
        async with translate_db_errors():
            revoked = await staff.revoke(self._pool, event_id, user_id)
        if not revoked:
            raise NotFound("this account is not staff of the event")

    async def checked_in(self, principal: Principal | None, event: Event) -> int | None:
        """Tickets of the event checked in, for its vendor or an admin (None for others)."""
        if principal is None or not organizes(principal, event):
            return None
        async with translate_db_errors():
            return await checked_in_count(self._pool, event.id)

    async def check_in(self, principal: Principal, event_id: EventId,
                       code: str) -> CheckedInTicket:
        """Check the ticket with this code in, once; the refusals are errors that carry the
        ticket (and, when checked in before, the first time)."""
        event = await self._event(event_id)
        if not organizes(principal, event):
            async with translate_db_errors():
                allowed = await staff.is_staff(self._pool, event_id, principal.user_id)
            if not allowed:
                raise Forbidden("only the event's vendor, its staff or an admin check in")
        if self._send is None:
            raise CheckinNeedsQueued("check-in is decided by shard actors: queued strategy only")
        outcome = await self._send(event_id, principal.user_id, code)
        if outcome is None:
            # Safe to retry: a ticket this attempt checked in answers already_checked_in.
            raise Unavailable("the check-in was not decided in time; try again", retry_after=1)
        at = outcome.checkin.checked_in_at if outcome.checkin is not None else None
        ticket = outcome.tickets[0] if outcome.tickets else None
        if outcome.reason is None and ticket is not None and at is not None:
            return CheckedInTicket(ticket, at)
        if outcome.reason == UnknownTicket.code:
            raise UnknownTicket("no ticket of this event has this code")
        if outcome.reason == AlreadyCheckedIn.code and ticket is not None and at is not None:
            raise AlreadyCheckedIn("this ticket was checked in before",
                                   ticket=_ticket_json(ticket), checked_in_at=_iso(at))
        if outcome.reason == TicketVoid.code and ticket is not None:
            raise TicketVoid("this ticket's booking was cancelled or expired",
                             ticket=_ticket_json(ticket))
        # Dead-lettered (a worker that cannot read the command, say): nothing was changed.
        raise Unavailable(f"the check-in was not decided ({outcome.reason}); try again",
                          retry_after=5)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
