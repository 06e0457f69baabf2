"""Plotly styling shared by every lab figure, and the host-facts caption."""

from __future__ import annotations

import plotly.graph_objects as go

SERIES_COLOURS = {
    "container": "#1f5fbf",
    "bwrap": "#7b3fb8",
    "vm": "#d9480f",
    "vm-restored": "#a61e4d",
    "native": "#1b7a43",
    "qemu-user": "#b8860b",
    "host": "#5b6475",
}


def host_caption(host: dict) -> str:
    """One line naming the host a figure was measured on."""
    parts = [
        host.get("cpu_model") or "unknown CPU",
        f"{host.get('cores', '?')} cores",
        f"kernel {host.get('kernel', '?')}",
    ]
    if host.get("accelerator"):
        parts.append(f"accelerator {host['accelerator']}")
    # Version lines read like "runc version 1.1.5": shown as the tool printed them.
    for tool in ("runc", "crun", "bwrap", "qemu"):
        if version := (host.get("versions") or {}).get(tool):
            parts.append(version)
    return " · ".join(parts)


def base_layout(fig: go.Figure, *, title: str, host: dict, yaxis_title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        template="plotly_white",
        yaxis_title=yaxis_title,
        margin={"l": 60, "r": 20, "t": 90, "b": 110},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    # The caption rides inside the figure too, so a downloaded PNG keeps its provenance;
    # wrapped every few parts because plotly annotations do not wrap by themselves.
    parts = host_caption(host).split(" · ")
    lines = [" · ".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]
    fig.add_annotation(
        text="Measured on: " + "<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=-0.18,
        yanchor="top",
        showarrow=False,
        font={"size": 11, "color": "#5b6475"},
        xanchor="left",
        align="left",
    )
    return fig


def log_range(values: list[float], *, pad: float = 1.6) -> list[float]:
    """A log-axis range (in decades) with room above and below the data, so boxes
    and points never sit on the frame."""
    import math

    positive = [v for v in values if v and v > 0]
    if not positive:
        return [-3, 1]
    return [math.log10(min(positive) / pad), math.log10(max(positive) * pad)]
