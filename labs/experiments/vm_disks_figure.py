"""The vm-disks figure: four panels, one per question the lab asks."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import SERIES_COLOURS, base_layout

COLOURS = {
    "thin": SERIES_COLOURS["container"],
    "thick": SERIES_COLOURS["vm"],
    "full": SERIES_COLOURS["vm"],
    "linked": SERIES_COLOURS["container"],
}


def _rows(samples: list[dict], part: str) -> list[dict]:
    return [s for s in samples if s.get("part") == part]


def _provisioning(fig: go.Figure, samples: list[dict]) -> None:
    rows = _rows(samples, "provisioning")
    for key, label, opacity in (
        ("allocated_before_mib", "on the host, new", 0.45),
        ("allocated_after_mib", "on the host, after the guest wrote", 1.0),
    ):
        fig.add_trace(
            go.Bar(
                x=[r["kind"] for r in rows],
                y=[r[key] for r in rows],
                name=label,
                marker={"color": [COLOURS[r["kind"]] for r in rows], "opacity": opacity},
                texttemplate="%{y:.1f} MiB",
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{x}: %{y:.2f} MiB<extra>" + label + "</extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )


def _chains(fig: go.Figure, samples: list[dict]) -> None:
    rows = sorted(_rows(samples, "chain"), key=lambda r: r["overlays"])
    fig.add_trace(
        go.Scatter(
            x=[r["overlays"] for r in rows],
            y=[r["read_mib_per_s"] for r in rows],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["read_mib_per_s_max"] - r["read_mib_per_s"] for r in rows],
                "arrayminus": [r["read_mib_per_s"] - r["read_mib_per_s_min"] for r in rows],
            },
            mode="lines+markers",
            name="sequential read",
            marker={"color": SERIES_COLOURS["host"], "size": 9},
            hovertemplate="%{x} overlays: %{y:.1f} MiB/s (median; bars: slowest to fastest)"
            "<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )


def _clones(fig: go.Figure, samples: list[dict]) -> None:
    rows = _rows(samples, "clone")
    for kind in ("full", "linked"):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        size = sum(r["allocated_mib"] for r in mine) / len(mine)
        made = sum(r["create_ms"] for r in mine) / len(mine)
        fig.add_trace(
            go.Bar(
                x=[f"{kind} clone"],
                y=[size],
                marker={"color": COLOURS[kind]},
                text=[f"{size:.1f} MiB, made in {made:.0f} ms"],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{kind} clone: %{{y:.2f}} MiB on the host, {made:.1f} ms to make"
                "<extra></extra>",
                showlegend=False,
            ),
            row=2,
            col=1,
        )


def _overcommit(fig: go.Figure, samples: list[dict]) -> None:
    row = next(iter(_rows(samples, "overcommit")), None)
    if row is None:
        return
    bars = [
        ("disk's virtual size", row["virtual_mib"]),
        ("guest asked to write", row["asked_to_write_mib"]),
        ("filesystem under it", row["filesystem_mib"]),
        ("written when it stopped", row["allocated_after_mib"]),
    ]
    fig.add_trace(
        go.Bar(
            x=[label for label, _ in bars],
            y=[value for _, value in bars],
            marker={"color": [COLOURS["thin"], "#adb5bd", COLOURS["thick"], COLOURS["thin"]]},
            texttemplate="%{y:.0f} MiB",
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.1f} MiB<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=2,
    )


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    overcommit = summary.get("overcommit_outcome") or "—"
    fig = make_subplots(
        rows=2,
        cols=2,
        vertical_spacing=0.2,
        horizontal_spacing=0.12,
        subplot_titles=(
            "Thin vs thick: space on the host",
            "Reading through overlay chains",
            "Full vs linked clones: space on the host",
            f"Over-committed thin disk: {overcommit}",
        ),
    )
    _provisioning(fig, samples)
    _chains(fig, samples)
    _clones(fig, samples)
    _overcommit(fig, samples)
    fig.update_yaxes(title="MiB", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="MiB/s", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title="overlays above the base", dtick=1, row=1, col=2)
    fig.update_yaxes(title="MiB", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title="MiB", rangemode="tozero", row=2, col=2)
    fig.update_layout(barmode="group", height=760)
    title = "Virtual disks on this host"
    if (ratio := summary.get("full_over_linked_clone_size")) is not None:
        title += f" — a full clone takes {ratio:g}× a linked one"
    return base_layout(fig, title=title, host=host, yaxis_title="")
