"""What a gateway learns — booking outcomes, seats left, waiting rooms — fanned out to its
subscribers.

Sources are the transport (outcomes and stock from the shard actors) and the inline
strategies (`locked`, `naive`); subscribers are the requests waiting for an outcome, the
stock view, the SSE hub and the metrics. The app factory is the one place that connects them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

from engine.messages import Outcome, RoomUpdate, StockUpdate

OutcomeHandler: TypeAlias = Callable[[Outcome], None]
StockHandler: TypeAlias = Callable[[Sequence[StockUpdate]], None]
StaleHandler: TypeAlias = Callable[[], None]
RoomHandler: TypeAlias = Callable[[Sequence[RoomUpdate]], None]


class Notifications:
    """A synchronous fan-out: each notification reaches every subscriber, in order."""

    def __init__(self) -> None:
        self._outcome_handlers: list[OutcomeHandler] = []
        self._stock_handlers: list[StockHandler] = []
        self._stale_handlers: list[StaleHandler] = []
        self._room_handlers: list[RoomHandler] = []
        self._pushed_handlers: list[OutcomeHandler] = []

    def on_outcome(self, handler: OutcomeHandler) -> None:
        """Call `handler` with every outcome."""
        self._outcome_handlers.append(handler)

    def on_stock(self, handler: StockHandler) -> None:
        """Call `handler` with every batch of stock updates."""
        self._stock_handlers.append(handler)

    def on_rooms(self, handler: RoomHandler) -> None:
        """Call `handler` with every batch of waiting-room changes."""
        self._room_handlers.append(handler)

    def rooms(self, updates: Sequence[RoomUpdate]) -> None:
        """Announce waiting-room changes."""
        for handler in self._room_handlers:
            handler(updates)

    def on_stale(self, handler: StaleHandler) -> None:
        """Call `handler` when notifications may have been missed (the link dropped)."""
        self._stale_handlers.append(handler)

    def stale(self) -> None:
        """Announce that stock updates may have been missed."""
        for handler in self._stale_handlers:
            handler()

    def outcome(self, outcome: Outcome) -> None:
        """Announce an outcome."""
        for handler in self._outcome_handlers:
            handler(outcome)

    def on_pushed(self, handler: OutcomeHandler) -> None:
        """Call `handler` with every booking update another gateway process relayed, or the
        broker handed every gateway because its reply queue was gone (for the owners'
        streams here, and a request here that may still wait for it)."""
        self._pushed_handlers.append(handler)

    def pushed(self, outcomes: Sequence[Outcome]) -> None:
        """Announce booking updates relayed by another gateway process, or no gateway's."""
        for outcome in outcomes:
            for handler in self._pushed_handlers:
                handler(outcome)

    def stock(self, updates: Sequence[StockUpdate]) -> None:
        """Announce seats left."""
        for handler in self._stock_handlers:
            handler(updates)
