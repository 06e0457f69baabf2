"""The orchestration lab's figure: every request of each pass over time, coloured by
the version that answered (failures in red), with the controller's events marked; and
the throughput per replica count when the scaling scenario measured it. Split from
orchestration.py, which measures."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import SERIES_COLOURS, base_layout
from .orchestration_cluster import BURST_CONNECTIONS

VERSION_COLOURS = {1: "#1f5fbf", 2: "#1b7a43", 3: "#b8860b"}
FAILED_COLOUR = "#c92a2a"
PASS_TITLES = {
    "heal-readiness": "Self-healing, with readiness checks",
    "heal-no-readiness": "Self-healing, without readiness checks",
    "scale": "Scaling from 1 replica",
    "rolling": "Rolling update to version 2",
    "recreate": "Recreate update to version 2",
    "rollback": "Rollout of version 3 (fails readiness), then rollback",
}
# Events drawn as lines across the pass (the scenario's change and the controller's
# big decisions); the others are markers along the top, named on hover.
LINE_EVENTS = {"kill": "kill", "scale": "scale", "rollout": "rollout", "rollback": "rollback"}
MARKED_EVENTS = {
    "noticed dead": "x-thin",
    "created": "triangle-up",
    "ready": "star",
    "deleted": "triangle-down",
    "endpoints": "diamond",
}


def _passes(samples: list[dict]) -> list[str]:
    seen: list[str] = []
    for s in samples:
        if s.get("kind") == "request" and s["pass"] not in seen:
            seen.append(s["pass"])
    return seen


def _requests(fig: go.Figure, rows: list[dict], row: int, legend: set[str]) -> None:
    versions = sorted({r["version"] for r in rows if r["result"] == "ok"})
    for version in versions:
        answered = [r for r in rows if r["result"] == "ok" and r["version"] == version]
        name = f"answered by version {version}"
        fig.add_trace(
            go.Scatter(
                x=[r["t"] for r in answered],
                y=[r["latency_ms"] for r in answered],
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=name not in legend,
                marker={"color": VERSION_COLOURS.get(version, "#5b6475"), "size": 6},
                text=[r["pod"] for r in answered],
                hovertemplate="%{x:.2f} s: %{y:.1f} ms, pod %{text}<extra>" + name + "</extra>",
            ),
            row=row,
            col=1,
        )
        legend.add(name)
    failures = [r for r in rows if r["result"] != "ok"]
    if failures:
        name = "failed"
        fig.add_trace(
            go.Scatter(
                x=[r["t"] for r in failures],
                y=[max(r["latency_ms"], 0.05) for r in failures],
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=name not in legend,
                marker={"color": FAILED_COLOUR, "size": 8, "symbol": "x"},
                text=[r["result"] for r in failures],
                hovertemplate="%{x:.2f} s: %{text} after %{y:.1f} ms<extra>failed</extra>",
            ),
            row=row,
            col=1,
        )
        legend.add(name)


def _events(fig: go.Figure, events: list[dict], row: int, legend: set[str]) -> None:
    timed = [e for e in events if e.get("t") is not None]
    for event in timed:
        if event["event"] in LINE_EVENTS:
            fig.add_vline(x=event["t"], line={"color": "#5b6475", "dash": "dash", "width": 1},
                          row=row, col=1)  # fmt: skip
            # Named at the foot of the panel, where no request sits (the subplot's own
            # title is at its head).
            fig.add_annotation(
                x=event["t"], y=0, yref=f"y{row if row > 1 else ''} domain",
                xref=f"x{row if row > 1 else ''}", text=LINE_EVENTS[event["event"]],
                showarrow=False, yanchor="bottom", xanchor="left",
                font={"size": 11, "color": "#343a40"},
            )  # fmt: skip
    for kind, symbol in MARKED_EVENTS.items():
        chosen = [e for e in timed if e["event"] == kind]
        if not chosen:
            continue
        name = f"controller: {kind}"
        fig.add_trace(
            go.Scatter(
                x=[e["t"] for e in chosen],
                y=[1500] * len(chosen),
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=name not in legend,
                marker={"color": "#343a40", "size": 9, "symbol": symbol},
                text=[
                    " ".join(str(x) for x in (e.get("pod") or "", e.get("note") or "") if x)
                    for e in chosen
                ],  # fmt: skip
                hovertemplate="%{x:.2f} s: " + kind + " %{text}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        legend.add(name)


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    names = _passes(samples)
    bursts = [s for s in samples if s.get("kind") == "throughput"]
    rows = max(1, len(names)) + (1 if bursts else 0)
    titles = [PASS_TITLES.get(n, n) for n in names]
    if bursts:
        titles.append(f"Throughput per replica count ({BURST_CONNECTIONS} requests in flight)")
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles or None,
                        vertical_spacing=0.14 if rows > 1 else 0.1)  # fmt: skip
    legend: set[str] = set()
    for index, name in enumerate(names, start=1):
        requests = [s for s in samples if s.get("kind") == "request" and s["pass"] == name]
        events = [s for s in samples if s.get("kind") == "event" and s["pass"] == name]
        _requests(fig, requests, index, legend)
        _events(fig, events, index, legend)
        fig.update_yaxes(type="log", range=[-1.3, 3.4], dtick=1, title="latency, ms (log)",
                         row=index, col=1)  # fmt: skip
        fig.update_xaxes(title="seconds into the pass", row=index, col=1)
    if bursts:
        fig.add_trace(
            go.Bar(
                x=[b["replicas"] for b in bursts],
                y=[b["requests_per_second"] for b in bursts],
                name="requests per second",
                marker={"color": SERIES_COLOURS["container"]},
                hovertemplate="%{x} replica(s): %{y:.0f} req/s<extra></extra>",
            ),
            row=rows,
            col=1,
        )
        fig.update_xaxes(title="replicas", dtick=1, row=rows, col=1)
        fig.update_yaxes(title="requests per second", rangemode="tozero", row=rows, col=1)
    fig.update_layout(height=330 * rows + 120)
    # The headline of the scenario when there is one (short: it wraps on a phone).
    title = "Every request, by the version that answered"
    if (outage := summary.get("recreate_outage_seconds")) is not None:
        rolling = summary.get("rolling_failed_requests")
        title = f"Recreate: {outage:.1f} s without answers; rolling: {rolling} failed"
    elif (healed := summary.get("heal_failed_with_readiness")) is not None:
        without = summary.get("heal_failed_without_readiness")
        title = f"After a kill: {healed} failed with readiness checks, {without} without"
    elif (gain := summary.get("throughput_gain")) is not None:
        title = f"{len(bursts)} replicas: {gain:.2f}× the throughput of 1"
    elif (broken := summary.get("rollback_broken_answers")) is not None:
        title = f"Version 3 answered {broken} requests"
        if summary.get("rollback_seconds") is not None:
            title += f"; undone after {summary['rollback_seconds']:.1f} s"
    base_layout(fig, title=title, host=host, yaxis_title="latency, ms (log)")
    fig.update_layout(margin={"t": 150}, legend={"y": 1.02})
    return fig
