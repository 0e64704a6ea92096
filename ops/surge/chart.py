"""The HTML report of a surge or a bench: charts drawn by matplotlib, the table beside them.

matplotlib renders each chart as inline SVG (text kept as text), so the page stays one
offline file with no scripts; plotly would inline ~3.5 MB of JavaScript per page. Per
scenario: answers per second over time, and p50 / p99 latency over time (log scale), one
colour per strategy, each strategy's selling phase (first 201 to last) shaded in its
colour; the numbers of the terminal table beside them, and an optional summary (the
bench's ratios) at the top. matplotlib is in the `bench` extra, imported only here.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from ops.surge.report import RunResult, table_rows

#: Seconds per point of the time series (the timeline's bucket in record.summarize).
BUCKET_S = 0.1


def _colour(i: int) -> str:
    """The i-th colour of matplotlib's default cycle (C0, C1, …)."""
    from matplotlib import colors

    return str(colors.to_hex(f"C{i % 10}"))


def _svg(results: Sequence[RunResult], which: str) -> str:
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    rcParams["svg.fonttype"] = "none"  # text as <text>: smaller, searchable, selectable
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for i, r in enumerate(results):
        colour = _colour(i)
        times = [t for t, _, _, _ in r.stats.timeline]
        # One legend entry per strategy: line styles and shading are said in the title.
        if which == "rate":
            ax.plot(times, [n / BUCKET_S for _, n, _, _ in r.stats.timeline], color=colour,
                    label=r.strategy, linewidth=1.4)
        else:
            ax.plot(times, [p99 for _, _, _, p99 in r.stats.timeline], color=colour,
                    label=r.strategy, linewidth=1.4)
            ax.plot(times, [p50 for _, _, p50, _ in r.stats.timeline], color=colour,
                    linewidth=1.0, linestyle="--")
        if r.stats.selling is not None:
            ax.axvspan(r.stats.selling.start_s, r.stats.selling.end_s, color=colour,
                       alpha=0.10, linewidth=0)
    shading = "selling phase shaded in each strategy's colour"
    if which == "rate":
        ax.set_title(f"answers per second ({shading})", fontsize="medium")
        ax.set_ylabel("answers / s")
        ax.set_ylim(bottom=0)
    else:
        ax.set_title(f"latency: p99 solid, p50 dashed ({shading})", fontsize="medium")
        ax.set_ylabel("ms (log scale)")
        if any(r.stats.timeline for r in results):
            ax.set_yscale("log")
    ax.set_xlabel("time since the start (s)")
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    if results:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    out = io.StringIO()
    fig.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML


def _table(results: Sequence[RunResult]) -> str:
    head = "".join(f"<th>{html.escape(r.strategy)}</th>" for r in results)
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>"
        for name, values in table_rows(results))
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
.scenario { display: flex; gap: 1.5em; align-items: flex-start; }
.scenario > div { flex: none; }
.scenario svg { display: block; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.15em 0.6em; border-bottom: 1px solid #ddd; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th { text-align: left; font-weight: normal; }
pre { background: #f6f6f6; padding: 0.8em; }
"""


def chart(results: Sequence[RunResult], summary: str | None = None) -> str:
    """A self-contained HTML page for these runs, one section per scenario."""
    scenarios = list(dict.fromkeys(r.scenario for r in results)) or ["surge"]
    sections = []
    for name in scenarios:
        runs = [r for r in results if r.scenario == name]
        sections.append(
            f"<h2>{html.escape(name)}</h2><div class='scenario'>"
            f"<div>{_svg(runs, 'rate')}{_svg(runs, 'latency')}</div>"
            f"{_table(runs) if runs else ''}</div>")
    title = html.escape("surge report: " + ", ".join(scenarios))
    top = f"<pre>{html.escape(summary)}</pre>" if summary else ""
    return (f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style><body><h1>{title}</h1>{top}{''.join(sections)}</body>")
