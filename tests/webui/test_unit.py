"""The web UI's own unit tests (vitest: the booking state machine in webui/src/booking.ts, the
forms' number handling in webui/src/numbers.ts), run by the suite so `make test` fails when
one does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.webui.conftest import ROOT

WEBUI = ROOT / "webui"


def test_the_web_uis_vitest_suite_passes() -> None:
    npm = shutil.which("npm")
    if npm is None or not (WEBUI / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("no vitest in webui/node_modules: run `make webui` (npm ci installs it)",
                    pytrace=False)
    run = subprocess.run([npm, "run", "--silent", "test", "--", "--reporter=dot"],
                         cwd=WEBUI, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CI": "1", "NO_COLOR": "1"})
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    # Every file ran (a test file that fails to load, or none found, must not pass quietly).
    files = re.search(r"Test Files\s+(\d+) passed \((\d+)\)", out)
    assert files and files[1] == files[2] and int(files[1]) >= 2, out
