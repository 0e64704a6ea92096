"""Operator artefacts: the compose file is valid Compose v2, and every query of the Grafana
dashboards returns data from a real Prometheus scraping a running stack during a surge."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
import yaml

from engine.auth import TokenIssuer
from engine.settings import Secret
from engine.transport.amqp.topology import Names, shard_queue_arguments
from engine.types import Role
from ops.surge import scenario as scenarios
from ops.surge.population import bulk_accounts, create_events, retry_after
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
            for target in panel.get("targets", []):  # a row's header has none
                out.append((doc["title"], panel["title"], target["expr"]))
    return out


#: Placeholder secrets the compose file is checked with (never real ones).
COMPOSE_SECRETS = {"JWT_SECRET": "x" * 40, "RABBITMQ_ERLANG_COOKIE": "testcookie"}


async def _compose(*args: str, secrets: dict[str, str] | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    env.update(COMPOSE_SECRETS if secrets is None else secrets)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "docker-compose"), "-f",
        str(ROOT / "docker-compose.yml"), *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


def _resolved() -> dict[str, Any]:
    """The compose file as Docker Compose resolves it (anchors merged, paths absolute)."""
    env = {**{k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS},
           **COMPOSE_SECRETS}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "docker-compose"), "-f",
         str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        env=env, capture_output=True, text=True, check=True).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def _brokers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if svc.get("image", "").startswith("rabbitmq:")}


def _engine(compose: dict[str, Any], command: str) -> dict[str, dict[str, Any]]:
    """The services built from this repository whose command starts with `command`."""
    return {name: svc for name, svc in compose["services"].items()
            if "build" in svc and svc["command"][0] == command}


async def test_compose_file_is_valid() -> None:
    code, out = await _compose("config", "-q")
    assert (code, out.strip()) == (0, "")
    code, out = await _compose("config", "--services")
    assert code == 0
    assert set(out.split()) == {"postgres", "rabbitmq1", "rabbitmq2", "rabbitmq3",
                                "gateway1", "gateway2", "shards1", "shards2", "shards3",
                                "prometheus", "grafana"}
    # Without a secret the stack refuses to start rather than run with a default.
    # (compose 2.22 prints the error but exits 0 with -q, so read what it says.)
    for missing in COMPOSE_SECRETS:
        _, out = await _compose(
            "config", secrets={k: v for k, v in COMPOSE_SECRETS.items() if k != missing})
        assert f"required variable {missing} is missing" in out


def test_every_compose_command_exists_and_parses() -> None:
    """What each container runs is in the image built here (a console script, a module
    the Dockerfile copies) or a shell script sh accepts: a stack nobody can start on this
    machine is at least one whose commands are real."""
    compose = _resolved()
    scripts = configparser.ConfigParser()
    scripts.read(ROOT / "setup.cfg")
    console = {line.split("=")[0].strip() for line in
               scripts["options.entry_points"]["console_scripts"].splitlines() if line}
    copied = (ROOT / "Dockerfile").read_text()
    for name, svc in compose["services"].items():
        command = svc.get("command")
        if "build" in svc:
            assert svc["build"]["context"] == str(ROOT), name
            if command[:2] == ["python", "-m"]:
                assert (ROOT / command[2] / "__main__.py").exists(), name
                assert f"COPY {command[2]} " in copied, name
            else:
                assert command[0] in console, name
        else:
            assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name
        if command and command[:2] == ["sh", "-c"]:
            check = subprocess.run(["sh", "-n", "-c", command[2]], capture_output=True,
                                   text=True, check=False)
            assert check.returncode == 0, f"{name}: {check.stderr}"


def test_the_three_rabbitmq_nodes_are_configured_to_form_one_cluster() -> None:
    compose = _resolved()
    brokers = _brokers(compose)
    assert len(brokers) == 3
    nodes = {f"rabbit@{svc['hostname']}" for svc in brokers.values()}
    assert len(nodes) == 3  # the image names its node rabbit@<hostname>
    conf = ROOT / "ops" / "compose" / "rabbitmq-cluster.conf"
    settings = dict(line.split(" = ", 1) for line in conf.read_text().splitlines()
                    if line and not line.startswith("#"))
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    # A cut node declared down in seconds: until then no client can declare a queue.
    assert int(settings["net_ticktime"]) <= 15
    assert {v for k, v in settings.items()
            if k.startswith("cluster_formation.classic_config.nodes.")} == nodes
    first = [n for n, svc in brokers.items() if not svc.get("depends_on")]
    assert len(first) == 1  # one node starts alone, the others join it
    cookie = compose["secrets"]["erlang_cookie"]
    assert cookie.get("environment") == "RABBITMQ_ERLANG_COOKIE"  # no secret in a file
    for name, svc in brokers.items():
        mounts = {v["target"]: v for v in svc["volumes"]}
        assert mounts["/etc/rabbitmq/conf.d/20-cluster.conf"]["source"] == str(conf)
        assert mounts["/var/lib/rabbitmq"]["type"] == "volume"
        assert mounts["/var/lib/rabbitmq"]["source"] == name  # a data volume of its own
        assert [s["source"] for s in svc["secrets"]] == ["erlang_cookie"]
        script = svc["command"][2]
        assert "/run/secrets/erlang_cookie /var/lib/rabbitmq/.erlang.cookie" in script
        assert "rabbitmq-plugins enable --offline rabbitmq_consistent_hash_exchange" in script
        if name not in first:
            assert {n: d["condition"] for n, d in svc["depends_on"].items()} == {
                first[0]: "service_healthy"}
    # Quorum queues need no broker setting: the engine declares its shard queues so.
    assert shard_queue_arguments(Names("tw", 8))["x-queue-type"] == "quorum"


def test_gateways_and_workers_are_spread_over_the_three_nodes() -> None:
    compose = _resolved()
    hosts = {svc["hostname"] for svc in _brokers(compose).values()}
    gateways, workers = _engine(compose, "ticketwar"), _engine(compose, "python")
    assert len(gateways) >= 2 and len(workers) >= 3
    used: dict[str, set[str]] = {"gateway": set(), "worker": set()}
    for kind, group in (("gateway", gateways), ("worker", workers)):
        for name, svc in group.items():
            host = urlsplit(svc["environment"]["AMQP_URL"]).hostname
            assert host in hosts, name
            used[kind].add(str(host))
            # Every queue gets a member on each node only if all three are up first.
            assert {n for n, d in svc["depends_on"].items()
                    if d["condition"] == "service_healthy"} >= hosts | {"postgres"}, name
    assert len(used["gateway"]) == len(gateways)  # no two gateways on one node
    assert used["worker"] == hosts
    assert all(g["environment"]["SHARD_WORKERS"] == "0" for g in gateways.values())
    # A dead worker, gateway or node comes back by itself (docs/operations.md says so).
    for name, svc in {**gateways, **workers, **_brokers(compose)}.items():
        assert svc.get("restart") == "unless-stopped", name
    published = [p["published"] for g in gateways.values() for p in g["ports"]]
    assert len(set(published)) == len(gateways)


def test_prometheus_scrapes_every_gateway_process_and_worker_of_the_compose_stack() -> None:
    """Behind one port each scrape would meet one process: Prometheus must list each
    gateway process's own metrics port, as many as docker-compose starts, on every
    gateway, and every shard worker."""
    compose = _resolved()
    expected = []
    for name, svc in sorted(_engine(compose, "ticketwar").items()):
        env = svc["environment"]
        processes, base = int(env["GATEWAY_PROCESSES"]), int(env["GATEWAY_METRICS_PORT"])
        expected += [f"{name}:{base + i}" for i in range(processes)]
    workers = [f"{name}:{svc['environment']['SHARD_METRICS_PORT']}"
               for name, svc in sorted(_engine(compose, "python").items())]
    config = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: [t for group in j["static_configs"] for t in group["targets"]]
            for j in config["scrape_configs"]}
    assert jobs == {"gateway": expected, "shards": workers}


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
                   "ticketwar_waitlist_joins_total", "ticketwar_waitlist_offers_total",
                   "ticketwar_queue_waiting", "ticketwar_queue_admissions_total",
                   "ticketwar_queue_admitted_unused", "ticketwar_queue_wait_seconds_bucket"):
        assert metric in exprs, metric


def test_the_surge_dashboard_has_a_waiting_room_row() -> None:
    """Issue 14: "a dashboard row: queue length, admissions per second, admitted-unused,
    time in queue p50 / p99" — a row header, then its four panels side by side under it."""
    [surge] = [d for d in (json.loads(p.read_text()) for p in DASHBOARDS)
               if d["title"] == "Ticket War — Surge"]
    panels = surge["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    [row] = [p for p in panels if p["type"] == "row"]
    assert (row["title"], row["collapsed"], row["gridPos"]["w"]) == ("Waiting room", False, 24)
    y = row["gridPos"]["y"] + row["gridPos"]["h"]
    under = sorted((p for p in panels if p["gridPos"]["y"] == y), key=lambda p: p["gridPos"]["x"])
    assert all(p["gridPos"]["y"] < row["gridPos"]["y"] for p in panels
               if p is not row and p not in under)  # the row is the last
    assert [p["gridPos"]["x"] for p in under] == [0, 6, 12, 18]
    assert [[t["expr"] for t in p["targets"]] for p in under] == [
        ["sum(ticketwar_queue_waiting)"],
        ["sum(rate(ticketwar_queue_admissions_total[1m]))"],
        ["sum(ticketwar_queue_admitted_unused)"],
        [f"histogram_quantile({q}, sum by (le) (rate(ticketwar_queue_wait_seconds_bucket[5m])))"
         for q in ("0.5", "0.99")]]
    assert under[3]["fieldConfig"]["defaults"]["unit"] == "s"


async def _room_sale(url: str, pool: asyncpg.Pool, issuer: TokenIssuer, *, seats: int = 4,
                     buyers: int = 10) -> None:
    """A sale behind a waiting room, for its row of panels: buyers pre-queue, the sale opens
    a few seconds later, and the admitted book one seat each until it is sold out."""
    [vendor] = await bulk_accounts(pool, issuer, 1, Role.VENDOR)
    crowd = {a.id: a for a in await bulk_accounts(pool, issuer, buyers)}
    opens = datetime.now(UTC) + timedelta(seconds=5)
    async with aiohttp.ClientSession() as http:
        [event_id] = await create_events(
            http, url, vendor, 1, seats, {"saleStartsAt": opens.isoformat(),
                                          "waitingRoom": {"enabled": True}}, "Room sale")
        for buyer in crowd.values():
            while True:  # joins from one address are rate limited: come back when told
                async with http.post(f"{url}/api/events/{event_id}/queue",
                                     headers=buyer.headers) as resp:
                    if resp.status != 429:
                        assert resp.status == 201, await resp.text()
                        assert (await resp.json())["status"] == "prequeue"
                        break
                    wait = retry_after(resp.headers.get("Retry-After"))
                await asyncio.sleep(wait)  # what the server asked for
        booked: set[int] = set()

        async def sold_out() -> bool:
            admitted = await pool.fetch(
                "SELECT user_id FROM queue_entries WHERE event_id = $1 AND status = 'admitted'",
                event_id)
            for row in admitted:
                if row["user_id"] in booked:
                    continue
                async with http.post(f"{url}/api/events/{event_id}/book", json={"quantity": 1},
                                     headers={**crowd[row["user_id"]].headers,
                                              "Idempotency-Key": str(uuid.uuid4())}) as resp:
                    assert resp.status in (201, 202, 403, 409), await resp.text()
                    if resp.status != 403:  # a copy of the room a moment behind: again
                        booked.add(row["user_id"])
            return bool(await pool.fetchval(
                "SELECT count(*) = $2 FROM bookings WHERE event_id = $1"
                " AND status = 'confirmed'", event_id, seats))

        await assert_eventually(sold_out, timeout=60, interval=0.2,
                                message="the waiting room's sale did not sell out")


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
            # Then a paid event, for the panels of holds and payments, a sold-out event with
            # a waiting list, for the waiting list's, and a sale behind a waiting room.
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
                await _room_sale(url, pool, TokenIssuer(settings))
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

                # The holds and payments of the paid surge, the waiting list of the sold-out
                # one, and the room's admissions and times in line have reached Prometheus.
                async def counted() -> bool:
                    values = [await query(e) for e in (
                        "sum(ticketwar_holds_expired_total)",
                        "sum(ticketwar_hold_expiry_delay_seconds_count)",
                        'sum(ticketwar_payments_total{outcome="confirmed"})',
                        'sum(ticketwar_refunds_total{reason="hold_expired"})',
                        "sum(ticketwar_payment_charge_seconds_count)",
                        "sum(ticketwar_waitlist_joins_total)",
                        'sum(ticketwar_waitlist_offers_total{outcome="expired"})',
                        "max(ticketwar_event_waitlist_length)",
                        "sum(ticketwar_queue_admissions_total)",
                        "sum(ticketwar_queue_wait_seconds_count)",
                        # Admitted seconds after joining: a real quantile, not NaN.
                        "histogram_quantile(0.5, sum by (le)"
                        " (rate(ticketwar_queue_wait_seconds_bucket[5m])))")]
                    return all(v and float(v[0]["value"][1]) > 0 for v in values)

                await assert_eventually(counted, timeout=30, interval=0.5)
                empty = [(d, p, e) for d, p, e in dashboard_queries() if not await query(e)]
                assert not empty, f"panels without data: {empty}"
    finally:
        if prom is not None:
            prom.terminate()
            await prom.wait()
        await delete_namespace(TEST_AMQP_URL, prefix, 4)
