"""The networking lab's figure: one reachability matrix per mode (source × destination),
green where both probes got through and red where neither did, with the round trips.
Split from networking.py, which builds the networks and measures; the names of modes
and endpoints live here because both modules show them."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import base_layout

MODES = ("nat", "bridged", "hostonly")
MODE_LABELS = {"nat": "NAT", "bridged": "Bridged", "hostonly": "Host-only"}
ENDPOINTS = ("guest", "host", "lan-peer")
ENDPOINT_LABELS = {"guest": "guest", "host": "host", "lan-peer": "LAN peer"}
PROTOCOL_SHORT = {"icmp": "ping", "tcp": "TCP"}

REACHED, PARTLY, NOT_REACHED = "#2f9e44", "#f0a830", "#d9480f"
# z: 0 neither protocol got through, 0.5 one did, 1 both did; the diagonal stays empty.
COLOUR_SCALE = [[0.0, NOT_REACHED], [0.5, PARTLY], [1.0, REACHED]]


def _cell(rows: list[dict]) -> tuple[float | None, str, str]:
    """z value, the text shown in the cell, and the hover text for one pair."""
    if not rows:
        return None, "", ""
    reached = sum(1 for r in rows if r["reachable"])
    lines = []
    for row in rows:
        name = PROTOCOL_SHORT.get(row["protocol"], row["protocol"])
        if row["reachable"]:
            lines.append(f"{name} {row['latency_min_ms']:.3f} ms")
        else:
            lines.append(f"{name} ✗ {row['outcome']}")
    mark = "✓" if reached == len(rows) else ("✗" if reached == 0 else "½")
    hover = f"to {rows[0]['address']}<br>" + "<br>".join(lines)
    return reached / len(rows), f"<b>{mark}</b><br>" + "<br>".join(lines), hover


def _matrix(samples: list[dict], mode: str) -> tuple[list, list, list]:
    z, text, hover = [], [], []
    for source in ENDPOINTS:
        cells = [
            _cell([
                s for s in samples
                if s.get("kind") == "reachability" and s["mode"] == mode
                and s["source"] == source and s["destination"] == destination
            ])
            for destination in ENDPOINTS
        ]  # fmt: skip
        z.append([c[0] for c in cells])
        text.append([c[1] for c in cells])
        hover.append([c[2] for c in cells])
    return z, text, hover


def _reached_count(z: list[list]) -> tuple[int, int]:
    values = [v for row in z for v in row if v is not None]
    return sum(1 for v in values if v == 1), len(values)


def _footnote(samples: list[dict], summary: dict) -> str:
    parts = []
    without = [s for s in samples if s.get("kind") == "without-masquerade"]
    if without:
        got = all(s["reachable"] for s in without)
        parts.append(
            "NAT guest → LAN peer with forwarding but no masquerade: "
            + ("reached" if got else "not reached (" + without[0]["outcome"] + ")")
        )
    if seen := summary.get("nat_guest_seen_as"):
        parts.append(f"with masquerade the LAN peer answered {seen}")
    return "; ".join(parts)


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    matrices = {mode: _matrix(samples, mode) for mode in MODES}
    titles = []
    for mode in MODES:
        reached, measured = _reached_count(matrices[mode][0])
        titles.append(f"{MODE_LABELS[mode]}: {reached} of {measured} pairs reached")
    fig = make_subplots(rows=1, cols=len(MODES), subplot_titles=titles, horizontal_spacing=0.06)
    labels = [ENDPOINT_LABELS[e] for e in ENDPOINTS]
    for index, mode in enumerate(MODES, start=1):
        z, text, hover = matrices[mode]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                text=text,
                customdata=hover,
                texttemplate="%{text}",
                textfont={"size": 11, "color": "white"},
                colorscale=COLOUR_SCALE,
                zmin=0,
                zmax=1,
                showscale=False,
                xgap=3,
                ygap=3,
                name=MODE_LABELS[mode],
                hovertemplate="%{y} → %{x}<br>%{customdata}<extra>"
                + MODE_LABELS[mode]
                + "</extra>",
            ),
            row=1,
            col=index,
        )
        fig.update_xaxes(title="destination", side="bottom", row=1, col=index)
        fig.update_yaxes(
            title="source" if index == 1 else None,
            autorange="reversed",
            showticklabels=index == 1,
            row=1,
            col=index,
        )
    total = summary.get("reachable_pairs_total")
    title = "Reachability by networking mode"
    if total is not None:
        title += f" — {total} of {summary.get('pairs_measured')} pairs reached"
    base_layout(fig, title=title, host=host, yaxis_title="source")
    fig.update_layout(height=540, plot_bgcolor="#f1f3f5", margin={"b": 150})
    lines = [
        "Green: ping and TCP both got through (the fastest of each pair's probes is shown); "
        "red: neither did; amber: only one did."
    ]
    if note := _footnote(samples, summary):
        lines.append(note)
    fig.add_annotation(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=-0.15,
        yanchor="top",
        xanchor="left",
        align="left",
        showarrow=False,
        font={"size": 12},
    )
    for annotation in fig.layout.annotations:  # the host caption goes below the notes
        if annotation.text.startswith("Measured on"):
            annotation.y = -0.27
    return fig
