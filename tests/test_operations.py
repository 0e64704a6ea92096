"""Operator artefacts: the compose file is valid Compose v2, and every query of the Grafana
dashboards returns data from a real Prometheus scraping a running stack during a surge."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from engine.auth import TokenIssuer
from engine.settings import Secret
from ops.surge import scenario as scenarios
from ops.surge.runner import run_surge
from ops.surge.stack import free_port, local_gateway
from tests.conftest import TEST_AMQP_URL, TEST_DATABASE_URL
from tests.helpers import assert_eventually, free_port_pair
from tests.worker import delete_namespace

ROOT = Path(__file__).parents[1]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel, expr) for every target of every panel."""
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            for target in panel["targets"]:
                out.append((doc["title"], panel["title"], target["expr"]))
    return out


async def _compose(*args: str, secret: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    if secret is not None:
        env["JWT_SECRET"] = secret
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "docker-compose"), "-f",
        str(ROOT / "docker-compose.yml"), *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_compose_file_is_valid() -> None:
    code, out = await _compose("config", "-q", secret="x" * 40)
    assert (code, out.strip()) == (0, "")
    code, out = await _compose("config", "--services", secret="x" * 40)
    assert code == 0
    assert set(out.split()) == {"postgres", "rabbitmq", "gateway", "shards", "prometheus",
                                "grafana"}
    # Without the secret the stack refuses to start rather than run with a default.
    # (compose 2.22 prints the error but exits 0 with -q, so read what it says.)
    _, out = await _compose("config", secret=None)
    assert "required variable JWT_SECRET is missing" in out


def test_prometheus_scrapes_every_gateway_process_of_the_compose_stack() -> None:
    """Behind one port each scrape would meet one process: Prometheus must list each
    gateway process's own metrics port, as many as docker-compose starts."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gateway = compose["services"]["gateway"]["environment"]
    processes, base = int(gateway["GATEWAY_PROCESSES"]), int(gateway["GATEWAY_METRICS_PORT"])
    config = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "gateway"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == [f"gateway:{base + i}" for i in range(processes)]


def test_dashboards_cover_the_operator_questions() -> None:
    titles = {d["title"] for d in (json.loads(p.read_text()) for p in DASHBOARDS)}
    assert titles == {"Ticket War — Surge", "Ticket War — Health"}
    exprs = " ".join(e for _, _, e in dashboard_queries())
    for metric in ("ticketwar_booking_requests_total", "ticketwar_booking_duration_seconds",
                   "ticketwar_event_seats_left", "ticketwar_shard_batch_size",
                   "ticketwar_shard_commit_seconds", "ticketwar_shard_mailbox_depth",
                   "ticketwar_rate_limited_total", "ticketwar_reconnects_total",
                   "ticketwar_redeliveries_total", "ticketwar_dead_letters_total",
                   "ticketwar_fencing_conflicts_total", "up", "ticketwar_holds_open",
                   "ticketwar_holds_taken_total", "ticketwar_holds_expired_total",
                   "ticketwar_hold_expiry_delay_seconds", "ticketwar_payments_total",
                   "ticketwar_payment_charge_seconds", "ticketwar_refunds_total",
                   "ticketwar_waitlist_length", "ticketwar_event_waitlist_length",
                   "ticketwar_waitlist_joins_total", "ticketwar_waitlist_offers_total"):
        assert metric in exprs, metric


@pytest.mark.slow
async def test_every_dashboard_query_returns_data(tmp_path: Path, db_pool: Any) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is not installed: run `make services`"
    shard_port, gateway_port, prom_port = free_port(), free_port_pair(), free_port()
    prefix = f"tw-ops-{os.getpid()}"
    secret = "s" * 48
    env = {"DATABASE_URL": TEST_DATABASE_URL, "AMQP_URL": TEST_AMQP_URL, "JWT_SECRET": secret,
           "AMQP_PREFIX": prefix, "SHARDS": "4", "SHARD_WORKERS": "2",
           "SHARD_METRICS_PORT": str(shard_port), "RATE_LIMIT_BOOKING": "20/second",
           # Two gateway processes behind one port, each scraped on its own metrics port.
           "GATEWAY_PROCESSES": "2", "GATEWAY_METRICS_PORT": str(gateway_port),
           "PAYMENT_PROVIDER": "fake"}
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    prom = None
    try:
        async with local_gateway("queued", env) as url:
            config = tmp_path / "prometheus.yml"
            config.write_text(
                "global: {scrape_interval: 1s}\nscrape_configs:\n"
                "  - job_name: gateway\n    static_configs: [{targets: "
                f"['127.0.0.1:{gateway_port}', '127.0.0.1:{gateway_port + 1}']}}]\n"
                "  - job_name: shards\n    static_configs: [{targets: "
                f"['127.0.0.1:{shard_port}', '127.0.0.1:{shard_port + 1}']}}]\n")
            prom = await asyncio.create_subprocess_exec(
                prometheus, f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            scenario = scenarios.load(ROOT / "ops" / "scenarios" / "bots.toml")
            scenario = replace(scenario, load=replace(scenario.load, requests=1500),
                               buyers=replace(scenario.buyers, count=500),
                               behaviour=replace(scenario.behaviour, bot_requests=100))
            from engine.settings import Settings
            from engine.storage import create_pool

            settings = Settings(database_url=Secret(TEST_DATABASE_URL),
                                jwt_secret=Secret(secret))
            pool = await create_pool(settings)
            # Then a paid event, for the panels of holds and payments, and a sold-out event
            # with a waiting list, for the waiting list's.
            paid = scenarios.scaled(
                scenarios.load(ROOT / "ops" / "scenarios" / "hold-and-abandon.toml"), 120)
            rush = scenarios.scaled(
                scenarios.load(ROOT / "ops" / "scenarios" / "waitlist-rush.toml"), 60)
            try:
                result = await run_surge(scenario, url, pool, TokenIssuer(settings),
                                         strategy="queued", settle_seconds=30)
                holds = await run_surge(paid, url, pool, TokenIssuer(settings),
                                        strategy="queued", settle_seconds=30)
                waited = await run_surge(rush, url, pool, TokenIssuer(settings),
                                         strategy="queued", settle_seconds=30)
            finally:
                await pool.close()
            assert result.verdict.invariants_ok, result.verdict.violations
            assert result.stats.statuses[429] > 0  # the bots met the limit
            assert holds.verdict.invariants_ok, holds.verdict.violations
            assert holds.verdict.holds is not None and holds.verdict.holds.late_refunded > 0
            assert waited.verdict.invariants_ok, waited.verdict.violations
            assert waited.verdict.waitlist is not None and waited.verdict.waitlist.expired > 0
            async with aiohttp.ClientSession() as http:
                async def query(expr: str) -> list[Any]:
                    async with http.get(f"{api}/query", params={"query": expr}) as resp:
                        body = await resp.json()
                        assert body["status"] == "success", (expr, body)
                        return list(body["data"]["result"])

                # Data from both jobs has been scraped at least twice since the surge.
                async def scraped() -> bool:
                    try:
                        series = await query("count_over_time(up[1m])")
                    except aiohttp.ClientError:
                        return False
                    return len(series) == 4 and all(float(s["value"][1]) >= 5 for s in series)

                await assert_eventually(scraped, timeout=60, interval=0.5)

                # The holds and payments of the paid surge, and the waiting list of the
                # sold-out one, have reached Prometheus.
                async def counted() -> bool:
                    values = [await query(e) for e in (
                        "sum(ticketwar_holds_expired_total)",
                        "sum(ticketwar_hold_expiry_delay_seconds_count)",
                        'sum(ticketwar_payments_total{outcome="confirmed"})',
                        'sum(ticketwar_refunds_total{reason="hold_expired"})',
                        "sum(ticketwar_payment_charge_seconds_count)",
                        "sum(ticketwar_waitlist_joins_total)",
                        'sum(ticketwar_waitlist_offers_total{outcome="expired"})',
                        "max(ticketwar_event_waitlist_length)")]
                    return all(v and float(v[0]["value"][1]) > 0 for v in values)

                await assert_eventually(counted, timeout=30, interval=0.5)
                empty = [(d, p, e) for d, p, e in dashboard_queries() if not await query(e)]
                assert not empty, f"panels without data: {empty}"
    finally:
        if prom is not None:
            prom.terminate()
            await prom.wait()
        await delete_namespace(TEST_AMQP_URL, prefix, 4)
