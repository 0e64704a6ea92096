"""Every shipped scenario runs as a user would run it: `ticketwar surge FILE --compare
locked,queued` under default settings (the gateway's own rate limits included), scaled down
to a few hundred requests, and the checker finds nothing wrong (on paid events or behind a
waiting room, which locked refuses, the report says so)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from ops.surge import scenario as scenarios
from tests.surge.conftest import SURGE_DATABASE_URL

SCENARIOS = Path(__file__).parents[2] / "ops" / "scenarios"
#: Settings a test session or a developer's shell may carry, which would hide the defaults.
_NOT_DEFAULT = ("RATE_LIMIT_", "AMQP_URL", "BOOKING_STRATEGY", "MAX_REQUESTS_IN_FLIGHT")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenario_compares_under_default_settings(
        path: Path, surge_pool: asyncpg.Pool, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_DEFAULT)}
    env.update(DATABASE_URL=SURGE_DATABASE_URL, JWT_SECRET=secrets.token_urlsafe(48),
               DATA_DIR=str(tmp_path / ".ticketwar"))
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "--log-level", "WARNING", "surge", str(path),
         "--compare", "locked,queued", "--requests", "300", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = orjson.loads(out.read_bytes())["runs"]
    assert [r["strategy"] for r in runs] == ["locked", "queued"]
    # Each stack's log is kept and summed up; no process of it died on an exception (the
    # uvloop refusal defect showed only there, 4,902 tracebacks in one run).
    logs = sorted((tmp_path / ".ticketwar" / "surge-logs").glob("*.log"))
    assert [p.name.split("-")[-3] for p in logs] == ["locked", "queued"], logs
    assert done.stderr.count("stack log ") == 2, done.stderr[-3000:]
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    shipped = scenarios.load(path)
    paid, room = shipped.events.paid, shipped.queue.enabled
    for run in runs:
        assert run["invariants_ok"], run["violations"]
        if room and run["strategy"] == "locked":
            # Only an actor keeps the line: locked refuses every join, the report says so.
            assert run["refused"] == "waiting_room_needs_queued", run
            assert "keeps no waiting room (409 waiting_room_needs_queued" in done.stdout
            continue
        if room:  # the requests are the buyers' joins: only the admitted book
            assert run["queue"]["joined"] >= 300, run["queue"]
        else:
            assert run["requests"] >= 300
        if paid and run["strategy"] == "locked":
            # Holds need an actor to expire them: locked refuses them, and the report says
            # so instead of failing.
            assert run["refused"] == "paid_needs_queued", run
            assert "refused the scenario's paid events" in done.stdout
            continue
        if run["waitlist"] is not None and run["strategy"] == "locked":
            assert run["waitlist"]["joined"] == 0  # no actor, no list: the report says so
            assert "keeps no waiting list (409 waitlist_needs_queued" in done.stdout
        assert run["refused"] is None
        # Booking answers, not set-up failures: something was sold or refused as sold out.
        assert run["statuses"].get("201", 0) > 0, run["statuses"]
        # The gateway was started here, so its CPU is known beside the generator's.
        assert run["cpu"]["server_s"] is not None and run["cpu"]["generator_s"] > 0
