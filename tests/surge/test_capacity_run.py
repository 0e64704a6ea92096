"""`make capacity` end to end at toy size: both shapes measured on real stacks, the write
path probed, the plans written."""

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

from ops.capacity.model import KINDS
from tests.conftest import TEST_AMQP_URL
from tests.surge.conftest import SURGE_DATABASE_URL
from tests.worker import delete_namespace


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_capacity_measures_both_shapes_and_plans_them(surge_pool: Any,
                                                            tmp_path: Path) -> None:
    prefix = f"tw-capacity-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": SURGE_DATABASE_URL, "AMQP_URL": TEST_AMQP_URL,
           "AMQP_PREFIX": prefix, "DATA_DIR": str(tmp_path / ".ticketwar")}
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ops.capacity", "--requests", "400", "--many-requests",
             "300", "--concurrency", "16", "--rest-seconds", "1", "--insert-sizes", "64",
             "--insert-bookings", "640", "--rates", "1000", "100000"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=380, check=False)
    finally:
        await delete_namespace(TEST_AMQP_URL, prefix, 8)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = orjson.loads((tmp_path / ".bench" / "capacity.json").read_bytes())
    shapes = {s["name"]: s for s in report["shapes"]}
    assert set(shapes) == {"hot-event", "many-events"}
    for row in report["rows"]:
        assert row["invariants_ok"], row["shape"]
        assert {"bookings", "tickets", "idempotency_keys"} <= set(row["rows_by_table"])
        assert row["shard_batches"] > 0
    many = shapes["many-events"]
    assert many["gateway_ms_per_request"] > 0 and many["commands_per_request"] > 0
    assert many["worker_ms_per_command"] > 0 and many["rows_per_request"] > 1
    assert many["quorum_messages_per_request"] > 0
    assert report["write_path"]["rows_per_booking"] == 4
    assert report["write_path"]["batched_inserts"][0]["batch"] == 64
    assert len(report["plans"]) == 4 == len(report["plans_with_stock_per_host"])
    for plan in report["plans"]:
        assert set(plan["needs"]) == set(KINDS)
        assert plan["needs"]["broker"]["hosts"] >= 3
    assert "hosts of 16 cores" in done.stdout
