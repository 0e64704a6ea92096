"""Shared aliases and small value types used across the engine, gateway and shards."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

EventId: TypeAlias = int
UserId: TypeAlias = int
BookingId: TypeAlias = uuid.UUID

#: The clock is passed in, never read inside decisions, so tests can pin "now".
Clock: TypeAlias = Callable[[], datetime]
#: Waits some seconds (`asyncio.sleep`); passed in with a clock so tests can move time.
Sleeper: TypeAlias = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    """The default clock: timezone-aware UTC now."""
    return datetime.now(UTC)


class Role(StrEnum):
    """Account roles. ADMIN is never chosen by a client."""

    USER = "USER"
    VENDOR = "VENDOR"
    ADMIN = "ADMIN"


class BookingStatus(StrEnum):
    """Lifecycle of a booking. `pending` exists only between acceptance and decision."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    #: A paid event's seats, out of sale until paid (then confirmed) or expired.
    HELD = "held"
    EXPIRED = "expired"
    #: Answers to waiting-list requests only (never a stored booking's status): on the
    #: list, and taken off it.
    WAITING = "waiting"
    LEFT = "left"


class Strategy(StrEnum):
    """How bookings are decided: through shard actors, per-request locks, or (on purpose) badly."""

    QUEUED = "queued"
    LOCKED = "locked"
    NAIVE = "naive"
