"""What every process does at its entry point: log at the configured level, and report a
start-up failure as one line (with the traceback too when the level is DEBUG)."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from engine.errors import StartupError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (a validated `Settings.log_level`)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    # pgserver narrates every pg_ctl call at INFO; its warnings are what an operator needs.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.root.level))


@contextmanager
def startup_errors(prog: str) -> Iterator[None]:
    """Turn a `StartupError` into `prog: what is missing. How to fix it.` and exit 1."""
    try:
        yield
    except StartupError as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            traceback.print_exception(exc)
        sys.exit(f"{prog}: {exc}")
