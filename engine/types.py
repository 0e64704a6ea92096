"""Shared aliases and small value types used across the engine, gateway and shards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

EventId: TypeAlias = int
UserId: TypeAlias = int
BookingId: TypeAlias = uuid.UUID

#: The clock is passed in, never read inside decisions, so tests can pin "now".
Clock: TypeAlias = Callable[[], datetime]


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


class Strategy(StrEnum):
    """How bookings are decided: through shard actors, per-request locks, or (on purpose) badly."""

    QUEUED = "queued"
    LOCKED = "locked"
    NAIVE = "naive"
