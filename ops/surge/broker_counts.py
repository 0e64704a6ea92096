"""Broker messages per request, read from the processes' /metrics after a run.

The counters (`ticketwar_amqp_messages_total{direction, kind}` and
`ticketwar_amqp_commands_total{direction}`) are summed over every process scraped — the
gateway publishes commands and receives outcomes and stock, the shard workers the reverse
— so "published commands per request" is the whole stack's. A stack whose processes do not
export them (the in-process transport, or code from before they existed) gives None, which
reports print as n/a.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

MESSAGES = "ticketwar_amqp_messages"
COMMANDS = "ticketwar_amqp_commands"


def parse(text: str) -> dict[tuple[str, str, str], float]:
    """(metric, direction, kind) -> value for the broker counters in one /metrics page
    (`kind` is "" for the commands counter)."""
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (MESSAGES, COMMANDS):
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue  # the _created timestamps
            key = (family.name, sample.labels.get("direction", ""),
                   sample.labels.get("kind", ""))
            out[key] = out.get(key, 0.0) + sample.value
    return out


async def scrape(urls: Iterable[str], keep: Path | None = None
                 ) -> dict[tuple[str, str, str], float]:
    """The broker counters summed over every /metrics URL that answers; with `keep`, every
    exposition is also written there whole (`<n>.prom`, in the order of `urls`), for a look
    at the histograms after a run (commit time, batch size, confirm time)."""
    total: dict[tuple[str, str, str], float] = {}
    texts: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for url in urls:
            try:
                async with http.get(url) as resp:
                    if resp.status != 200:
                        continue
                    text = await resp.text()
            except (aiohttp.ClientError, TimeoutError):
                continue  # a process without a metrics port: its counters are not known
            texts.append(f"# {url}\n{text}")
            for key, value in parse(text).items():
                total[key] = total.get(key, 0.0) + value
    if keep is not None:
        _keep(keep, texts)
    return total


def _keep(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, text in enumerate(texts):
        (folder / f"{n}.prom").write_text(text)


def per_request(counts: dict[tuple[str, str, str], float],
                requests: int) -> dict[str, Any] | None:
    """Messages (by direction and kind) and commands (by direction) per request; None when
    the counters are absent."""
    if not counts or not requests:
        return None
    out: dict[str, Any] = {"messages": {}, "commands": {}}
    for (metric, direction, kind), value in sorted(counts.items()):
        if metric == MESSAGES:
            out["messages"].setdefault(direction, {})[kind] = round(value / requests, 3)
        else:
            out["commands"][direction] = round(value / requests, 3)
    return out
