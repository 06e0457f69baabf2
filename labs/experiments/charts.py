"""Plotly styling shared by every lab figure, and the host-facts caption."""

from __future__ import annotations

import plotly.graph_objects as go

SERIES_COLOURS = {
    "container": "#1f5fbf",
    "bwrap": "#7b3fb8",
    "vm": "#d9480f",
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
        margin={"l": 60, "r": 20, "t": 60, "b": 90},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    fig.add_annotation(
        text=f"Measured on: {host_caption(host)}",
        xref="paper",
        yref="paper",
        x=0,
        y=-0.22,
        showarrow=False,
        font={"size": 11, "color": "#5b6475"},
        xanchor="left",
    )
    return fig
