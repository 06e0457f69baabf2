"""The limits lab's figure: memory over time up to the OOM kill, throughput against
the CPU quota, and a VM's throughput with 1 and 2 vCPUs. Split from limits.py, which
measures."""

from __future__ import annotations

import statistics

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import SERIES_COLOURS, base_layout


def cpu_fractions(samples: list[dict]) -> dict[int, list[float]]:
    """Throughput at each quota as a fraction of a whole core's.

    Quota runs carry their fraction of the reference runs around them; the reference
    runs themselves are shown against the mean of all of them, so their spread shows
    how much the host drifted.
    """
    rows = [s for s in samples if s.get("part") == "cpu"]
    references = [s["iterations_per_second"] for s in rows if s["fraction_of_full"] is None]
    fractions: dict[int, list[float]] = {}
    for row in rows:
        if row["fraction_of_full"] is not None:
            fractions.setdefault(row["quota_percent"], []).append(row["fraction_of_full"])
        else:
            mean = statistics.mean(references)
            fractions.setdefault(row["quota_percent"], []).append(
                row["iterations_per_second"] / mean
            )
    return fractions


def _memory_traces(fig: go.Figure, samples: list[dict]) -> None:
    points = [s for s in samples if s.get("part") == "memory"]
    if not points:
        return
    times = [s["t_seconds"] for s in points]
    fig.add_trace(
        go.Scatter(
            x=times,
            y=[s["memory_mib"] for s in points],
            name="container memory (cgroup)",
            mode="lines+markers",
            marker={"size": 4},
            line={"color": SERIES_COLOURS["container"]},
            hovertemplate="%{x:.2f} s: %{y:.1f} MiB<extra>cgroup memory</extra>",
        ),
        row=1,
        col=1,
    )
    limit = points[0]["limit_mib"]
    fig.add_trace(
        go.Scatter(
            x=[0, max(times)],
            y=[limit, limit],
            name=f"memory limit ({limit} MiB)",
            mode="lines",
            line={"color": SERIES_COLOURS["host"], "dash": "dash"},
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    for end in (s for s in samples if s.get("part") == "memory-kill"):
        fig.add_trace(
            go.Scatter(
                x=[end["t_seconds"]],
                y=[end["memory_mib"]],
                name="OOM kill (peak memory)",
                mode="markers",
                marker={"symbol": "x", "size": 14, "color": SERIES_COLOURS["vm"]},
                hovertemplate="killed at %{x:.2f} s, peak %{y:.1f} MiB<extra></extra>",
            ),
            row=1,
            col=1,
        )


def _cpu_traces(fig: go.Figure, samples: list[dict]) -> None:
    fractions = cpu_fractions(samples)
    if not fractions:
        return
    quotas = sorted(fractions)
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[0, 1],
            name="proportional to the quota",
            mode="lines",
            line={"color": SERIES_COLOURS["host"], "dash": "dot"},
            hoverinfo="skip",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[q for q in quotas for _ in fractions[q]],
            y=[f for q in quotas for f in fractions[q]],
            name="container loop (each run)",
            mode="markers",
            marker={"size": 9, "color": SERIES_COLOURS["container"]},
            hovertemplate="%{x} %: %{y:.2f}<extra>one run</extra>",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=quotas,
            y=[statistics.mean(fractions[q]) for q in quotas],
            name="container loop (mean)",
            mode="lines",
            line={"color": SERIES_COLOURS["container"]},
            hoverinfo="skip",
        ),
        row=2,
        col=1,
    )


def _vm_traces(fig: go.Figure, samples: list[dict]) -> None:
    rows = sorted((s for s in samples if s.get("part") == "vm"), key=lambda s: s["vcpus"])
    if not rows:
        return
    fig.add_trace(
        go.Bar(
            x=[f"{s['vcpus']} vCPU" + ("s" if s["vcpus"] > 1 else "") for s in rows],
            y=[s["iterations_per_second"] for s in rows],
            name="VM: two loops together",
            marker={"color": SERIES_COLOURS["vm"]},
            hovertemplate="%{y:,.0f} iterations/s<extra>%{x}</extra>",
        ),
        row=2,
        col=2,
    )


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"colspan": 2}, None], [{}, {}]],
        vertical_spacing=0.16,
        horizontal_spacing=0.12,
        subplot_titles=(
            "Memory hog under a cgroup memory limit",
            "CPU loop under a CPU quota",
            "Two loops in a VM",
        ),
    )
    _memory_traces(fig, samples)
    _cpu_traces(fig, samples)
    _vm_traces(fig, samples)
    fig.update_xaxes(title="time since the container started, s", row=1, col=1)
    fig.update_yaxes(title="memory, MiB", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title="CPU quota, % of one core", range=[0, 105], row=2, col=1)
    fig.update_yaxes(title="throughput ÷ whole core's", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title="vCPUs given to the guest", row=2, col=2)
    fig.update_yaxes(title="loop iterations per second", rangemode="tozero", row=2, col=2)
    fig.update_layout(height=720)
    title = "Limits: memory, CPU quota and vCPUs"
    if (half := summary.get("cpu_throughput_at_50_percent")) is not None:
        title += f" — a 50 % quota gave {half:.2f} of full speed"
    base_layout(fig, title=title, host=host, yaxis_title="memory, MiB")
    # Two rows of legend sit between the title and the subplot titles.
    fig.update_layout(margin={"t": 170}, legend={"y": 1.06}, title={"y": 0.985, "yanchor": "top"})
    return fig
