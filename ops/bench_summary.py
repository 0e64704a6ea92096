"""What `make bench` concludes from its rows: the ratios the goals name, per run (each ratio
from one repetition, so ceiling and strategies shared a machine state), and the median of
each figure and ratio over the repetitions."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

#: Figures of a row whose median is reported (dotted paths into the row's JSON).
FIGURES = ("throughput_rps", "p50_ms", "p99_ms", "confirmed_p99_ms", "selling.seats_per_s",
           "selling.bookings_per_s", "selling.last_201_s", "time_to_sell_out_s",
           "cpu.generator_share",
           "cpu.generator_ms_per_request", "cpu.server_ms_per_request")


def _get(row: dict[str, Any], path: str) -> float | None:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return None
        value = value[part]
    return float(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def ratios(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The goals' ratios within one repetition (rows keyed by their label)."""
    by = {r["label"]: r for r in rows}

    def figure(label: str, path: str) -> float | None:
        return _get(by[label], path) if label in by else None

    return {
        "queued_over_locked": _ratio(figure("queued", "throughput_rps"),
                                     figure("locked", "throughput_rps")),
        "queued_over_ceiling": _ratio(figure("queued", "throughput_rps"),
                                      figure("gateway-ceiling", "throughput_rps")),
        "selling_queued_over_locked": _ratio(figure("queued", "selling.seats_per_s"),
                                             figure("locked", "selling.seats_per_s")),
        "many_events_queued_over_locked": _ratio(
            figure("many-events/queued", "selling.bookings_per_s"),
            figure("many-events/locked", "selling.bookings_per_s")),
        "coalescing_gain": _ratio(figure("queued", "throughput_rps"),
                                  figure("queued-no-coalescing", "throughput_rps")),
        "queued_p99_confirmed_ms_at_1000rps": figure("queued@1000rps", "confirmed_p99_ms"),
    }


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def medians(repetitions: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Per row label, the median of each figure over the repetitions; and the median of
    each ratio."""
    labels = list(dict.fromkeys(r["label"] for rep in repetitions for r in rep))
    rows = {label: {path: _median([_get(r, path) for rep in repetitions for r in rep
                                   if r["label"] == label]) for path in FIGURES}
            for label in labels}
    per_run = [ratios(rep) for rep in repetitions]
    return {"rows": rows, "ratios": {name: _median([p[name] for p in per_run])
                                     for name in per_run[0]} if per_run else {}}


def summary_table(repetitions: Sequence[Sequence[dict[str, Any]]]) -> str:
    """The medians and the per-run ratios, as text."""
    result = medians(repetitions)
    lines = [f"median of {len(repetitions)} run(s)"]
    show: dict[str, Callable[[float], str]] = {
        "throughput_rps": "{:,.0f} req/s".format,
        "selling.seats_per_s": "selling {:,.0f} seats/s".format,
        "selling.bookings_per_s": "{:,.0f} bookings/s".format,
        "selling.last_201_s": "last 201 at {:.2f} s".format,
        "time_to_sell_out_s": "sold out at {:.2f} s".format,
        "confirmed_p99_ms": "p99 201 {:,.0f} ms".format,
        "cpu.generator_share": "generator {:.0%} of CPU".format}
    for label, figures in result["rows"].items():
        parts = [fmt(figures[path]) for path, fmt in show.items() if figures[path] is not None
                 # When it sold out, the last 201 is the sell-out: said once.
                 and not (path == "selling.last_201_s" and figures["time_to_sell_out_s"])]
        sold = [r.get("sold_out") for rep in repetitions for r in rep if r["label"] == label]
        if any(sold):
            parts.append(f"sold out in {sum(map(bool, sold))} of {len(sold)}")
        lines.append(f"  {label:<22} " + ", ".join(parts))
    lines.append("ratios (each from one run; median, then per run):")
    per_run = [ratios(rep) for rep in repetitions]
    for name, value in result["ratios"].items():
        runs = " ".join("–" if p[name] is None else f"{p[name]:g}" for p in per_run)
        lines.append(f"  {name:<36} {'–' if value is None else f'{value:g}':>8}   [{runs}]")
    return "\n".join(lines)
