"""The waiting list of one event, as its owning actor holds it: entries in join order, with
a buyer's position and the first entry that fits some seats found without scanning the list.

Pure data, no I/O. The decisions that use it (join, leave, offer) are in
`engine.waitlist_rules`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from engine.types import BookingId, UserId

#: Below this many dead slots the list never compacts (compacting costs one pass).
_COMPACT_AT = 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """A buyer waiting for `quantity` seats. `id` is also the id of its offer's booking."""

    id: BookingId
    user_id: UserId
    quantity: int
    #: Join order within the event, as stored (`waitlist_entries.seq`).
    seq: int


class _Counts:
    """A Fenwick tree of live entries per slot: a prefix count in O(log n)."""

    def __init__(self, size: int) -> None:
        self._tree = [0] * (size + 1)

    @property
    def size(self) -> int:
        return len(self._tree) - 1

    def add(self, slot: int, delta: int) -> None:
        i = slot + 1
        while i < len(self._tree):
            self._tree[i] += delta
            i += i & -i

    def upto(self, slot: int) -> int:
        """Live entries in slots 0..slot."""
        i, total = slot + 1, 0
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total


class WaitingList:
    """Entries of one event in join order; one per buyer.

    Each entry takes the next slot. A position is the count of live slots up to the entry's
    (a Fenwick tree); the first entry that fits `n` seats is the earliest head among the
    queues of quantities up to `n` (one queue per quantity, dead slots skipped lazily), so
    both cost O(log n) or O(distinct quantities), whatever the list's length.
    """

    def __init__(self) -> None:
        self._slots: list[Entry | None] = []
        self._slot_of: dict[UserId, int] = {}
        self._counts = _Counts(16)
        self._by_quantity: dict[int, deque[int]] = {}
        #: The largest `seq` ever given on this event (a new entry takes the next).
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __iter__(self) -> Iterator[Entry]:
        """Live entries in join order."""
        return (e for e in self._slots if e is not None)

    def get(self, user_id: UserId) -> Entry | None:
        """The buyer's entry, if waiting."""
        slot = self._slot_of.get(user_id)
        return None if slot is None else self._slots[slot]

    def add(self, entry: Entry) -> None:
        """Append an entry (loaded in `seq` order, or just joined); one per buyer."""
        assert entry.user_id not in self._slot_of, "one entry per buyer"
        slot = len(self._slots)
        if slot >= self._counts.size:
            self._rebuild(grow=True)
            slot = len(self._slots)
        self._slots.append(entry)
        self._slot_of[entry.user_id] = slot
        self._counts.add(slot, 1)
        self._by_quantity.setdefault(entry.quantity, deque()).append(slot)
        self.last_seq = max(self.last_seq, entry.seq)

    def remove(self, user_id: UserId) -> Entry | None:
        """Take the buyer's entry out (left, or offered); None if not waiting."""
        slot = self._slot_of.pop(user_id, None)
        if slot is None:
            return None
        entry = self._slots[slot]
        self._slots[slot] = None
        self._counts.add(slot, -1)
        if len(self._slots) - len(self._slot_of) > max(_COMPACT_AT, len(self._slot_of)):
            self._rebuild(grow=False)
        return entry

    def position(self, user_id: UserId) -> int | None:
        """1 for the first entry; None if the buyer is not waiting."""
        slot = self._slot_of.get(user_id)
        return None if slot is None else self._counts.upto(slot)

    def first_fit(self, seats: int) -> Entry | None:
        """The earliest entry asking for at most `seats` seats."""
        best: int | None = None
        for quantity, queue in self._by_quantity.items():
            if quantity > seats:
                continue
            while queue and self._slots[queue[0]] is None:
                queue.popleft()  # left or offered since
            if queue and (best is None or queue[0] < best):
                best = queue[0]
        return None if best is None else self._slots[best]

    def _rebuild(self, *, grow: bool) -> None:
        """Renumber the live entries into fresh slots (dropping dead ones)."""
        live = [e for e in self._slots if e is not None]
        size = max(16, 2 * len(live), self._counts.size * (2 if grow else 1))
        self._slots, self._slot_of, self._by_quantity = [], {}, {}
        self._counts = _Counts(size)
        for entry in live:
            self.add(entry)
