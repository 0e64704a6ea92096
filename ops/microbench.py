"""What the micro-benches (`ops.actorbench`, `ops.senderbench`) share: their command line's
frame and where their reports go."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

#: Where every bench writes its JSON report (kept out of git).
REPORTS = Path(".bench")


def main(prog: str, doc: str | None, add_arguments: Callable[[argparse.ArgumentParser], None],
         run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
         report: str) -> None:
    """Parse the arguments (`--help` shows `doc`), run the bench on uvloop, write its report
    to `.bench/<report>.json` and exit 0."""
    import uvloop

    parser = argparse.ArgumentParser(prog=prog, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    result = uvloop.run(run(parser.parse_args()))
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{report}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {REPORTS / report}.json")
    sys.exit(0)
