"""Ticket identities: a UUID for machines and a short code a person can read at the door."""

from __future__ import annotations

import secrets
import uuid

from engine.messages import TicketInfo

# Crockford's base32: no I, L, O, U, so a code read aloud or typed is not misread.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ticket_code() -> str:
    """A random code like `TW-7KQ2M-X9D4P` (50 bits: collisions need ~30M tickets per retry)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"TW-{chars[:5]}-{chars[5:]}"


def new_tickets(quantity: int) -> tuple[TicketInfo, ...]:
    """Fresh tickets for a confirmed booking of `quantity` seats, ordered by code (the order
    every later read returns them in, so a replayed answer is identical to the first)."""
    return tuple(sorted((TicketInfo(uuid.uuid4(), ticket_code()) for _ in range(quantity)),
                        key=lambda t: t.code))
