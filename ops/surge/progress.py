"""A progress line on stderr while a surge runs: done/total, outcomes so far, rate."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from typing import TextIO


class Progress:
    """Redraws a bar a few times a second on a terminal; prints every few seconds otherwise."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.counts: Counter[int] = Counter()
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def add(self, status: int) -> None:
        """Count one answered request."""
        self.done += 1
        self.counts[status] += 1

    def line(self) -> str:
        """The current progress line."""
        width = 24
        filled = int(width * min(self.done, self.total) / self.total)
        rate = self.done / max(time.monotonic() - self._started, 1e-9)
        counts = " ".join(f"{k}:{v}" for k, v in sorted(self.counts.items()))
        return (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total} {rate:,.0f} req/s  {counts}")

    async def _draw(self) -> None:
        interval = 0.25 if self._tty else 5.0
        while True:
            await asyncio.sleep(interval)
            self._emit()

    def _emit(self) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K" + self.line())
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def __enter__(self) -> Progress:
        self._task = asyncio.get_running_loop().create_task(self._draw())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self._emit()
        if self._tty:
            self._stream.write("\n")
