"""`make bench` end to end at toy size: every row kind, two repetitions, the ratios taken
within each run and their medians, the CPU of the generator, the broker counters."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import TEST_AMQP_URL
from tests.surge.conftest import SURGE_DATABASE_URL
from tests.worker import delete_namespace


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_bench_rows_repeat_and_report_ratios(surge_pool: Any, tmp_path: Path) -> None:
    prefix = f"tw-bench-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": SURGE_DATABASE_URL, "AMQP_URL": TEST_AMQP_URL,
           "AMQP_PREFIX": prefix, "DATA_DIR": str(tmp_path / ".ticketwar")}
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ops.bench", "--requests", "400", "--many-requests", "300",
             "--repeat", "2", "--concurrency", "32",
             "--only", "gateway-ceiling", "locked", "queued", "many-events/locked",
             "many-events/queued"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=380, check=False)
    finally:
        await delete_namespace(TEST_AMQP_URL, prefix, 8)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = orjson.loads((tmp_path / ".bench" / "latest.json").read_bytes())
    assert report["repeat"] == 2 and len(report["runs"]) == 10
    assert len(report["ratios_per_run"]) == 2
    for ratios in report["ratios_per_run"]:
        for name in ("queued_over_locked", "queued_over_ceiling",
                     "many_events_queued_over_locked", "selling_queued_over_locked"):
            assert ratios[name] is not None and ratios[name] > 0, (name, ratios)
    assert report["goals"]["queued_over_ceiling"] is not None
    assert isinstance(report["goals"]["generator_cheaper_in_every_row"], bool)
    by = {(r["label"], r["run"]): r for r in report["runs"]}
    for (label, _), row in by.items():
        assert row["invariants_ok"], (label, row["violations"])
        assert row["cpu"]["generator_processes"] == 2 and row["cpu"]["server_s"] > 0
    hot = by[("queued", 1)]
    assert hot["selling"]["seats"] == hot["confirmed_seats"] > 0
    assert hot["sold_out"] is (hot["confirmed_seats"] == 1000)
    assert (hot["time_to_sell_out_s"] is not None) is hot["sold_out"]
    assert by[("many-events/queued", 2)]["selling"]["bookings_per_s"] > 0
    # Present once the transport counts its messages; until then reported as n/a.
    assert "broker_per_request" in hot
    assert "median of 2 run(s)" in done.stdout and "queued_over_ceiling" in done.stdout
    assert (tmp_path / ".bench" / "latest.html").stat().st_size > 0
