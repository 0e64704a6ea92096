"""What the engine needs from a way of sending email, and how a failed send is told apart:
worth trying again later (`TransientFailure`: a 4xx reply, the server away) or never
(`PermanentFailure`: a 5xx refusal of this message)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol


class DeliveryFailure(Exception):
    """A message was not handed over; `reason` is what the server (or the network) said."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientFailure(DeliveryFailure):
    """Try again later: the server said 4xx, or could not be reached, or was not ready."""


class PermanentFailure(DeliveryFailure):
    """Never try again: the server refused this message for good (5xx)."""


class Notifier(Protocol):
    """Hands a composed email to whatever delivers it."""

    #: Its name in the settings (`NOTIFIER`).
    name: str

    async def send(self, message: EmailMessage) -> None:
        """Deliver one message (its headers name the sender and recipient); returns once it
        is accepted. `TransientFailure` or `PermanentFailure` when it was not."""

    async def close(self) -> None:
        """Let go of any connection held; idempotent."""
