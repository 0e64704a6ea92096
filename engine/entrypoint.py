"""What every process does at its entry point: log at the configured level, and report a
start-up failure as one line (with the traceback too when the level is DEBUG)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from engine.errors import StartupError
from engine.settings import Settings, SettingsError

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


#: The environment variable naming the pipe a supervised child writes one byte to once it
#: serves (`ops/supervisor.py` creates the pipe; the child inherits its write end).
READY_FD_ENV = "TICKETWAR_READY_FD"


def announce_ready() -> None:
    """Tell the supervising `ticketwar run` that this process serves (nothing if
    unsupervised). Once only: the pipe is closed afterwards."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is not None:
        os.write(int(fd), b"1")
        os.close(int(fd))


def process_main(prog: str, run: Callable[[Settings], int]) -> NoReturn:
    """The `python -m <prog>` entry of a child process: settings from the environment (a
    bad one is a one-line exit), logging, then `run`'s exit code (a start-up error is one
    line too)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"{prog}: bad setting: {exc}")
    configure_logging(settings.log_level)
    with startup_errors(prog):
        sys.exit(run(settings))
