"""The HTML report, drawn with matplotlib from a real (tiny) surge per strategy: answers per
second and p50/p99 over time, one colour per strategy, the selling phase marked, axis ticks,
and the table beside the charts — one offline file, no scripts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from engine.types import Strategy
from gateway.app import create_app
from gateway.keys import issuer_key, pool_key
from ops.surge import scenario as scenarios
from ops.surge.chart import chart
from ops.surge.report import RunResult
from ops.surge.runner import run_surge

SCENARIOS = Path(__file__).parents[2] / "ops" / "scenarios"


async def _surge(make_settings: Any, strategy: Strategy) -> RunResult:
    app = create_app(make_settings(booking_strategy=strategy))
    scenario = scenarios.scaled(scenarios.load(SCENARIOS / "hot-event.toml"), 300)
    async with TestServer(app) as server:
        return await run_surge(scenario, str(server.make_url("")).rstrip("/"), app[pool_key],
                               app[issuer_key], strategy=strategy.value, settle_seconds=30)


async def test_the_report_draws_each_strategy_with_its_selling_phase_and_table(
        make_settings: Any, db_pool: Any) -> None:
    results = [await _surge(make_settings, Strategy.LOCKED),
               await _surge(make_settings, Strategy.QUEUED)]
    page = chart(results, summary="queued_over_locked 1.5")
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert page.count("<svg") == 2  # answers per second; latency
    for text in ("answers per second", "latency", "p99 solid", "p50 dashed", "selling phase",
                 "time since the start (s)", "queued_over_locked 1.5"):
        assert text in page, text
    assert page.count("locked") >= 3 and page.count("queued") >= 3  # legends and table
    # Axis ticks with numbers on them, on both charts.
    assert len(re.findall(r'id="xtick_\d+"', page)) >= 6
    assert len(re.findall(r'id="ytick_\d+"', page)) >= 6
    # Two strategies, two colours (matplotlib's first two of its default cycle).
    assert "#1f77b4" in page and "#ff7f0e" in page
    # The table beside the charts, with the terminal table's rows.
    table = page[page.index("<table"):page.index("</table>")]
    for row in ("throughput req/s", "p99 ms (201 only)", "seats confirmed", "invariants",
                "selling: seats/s"):
        assert row in table, row
    assert f">{results[1].verdict.confirmed_seats:,}<" in table


def test_an_empty_run_still_renders() -> None:
    assert "<svg" in chart([])
