"""The desktop-capacity figure: memory per user and time to a ready session against U
for RDS and VDI, and the monthly cost model's bars."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import SERIES_COLOURS, base_layout

COLOURS = {"rds": SERIES_COLOURS["container"], "vdi": SERIES_COLOURS["vm"]}
NAMES = {"rds": "RDS (one session host)", "vdi": "VDI (one VM per user)"}


def _lines(fig: go.Figure, samples: list[dict], key: str, col: int, unit: str) -> None:
    for model in ("rds", "vdi"):
        rows = sorted((s for s in samples if s.get("model") == model), key=lambda s: s["users"])
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[s["users"] for s in rows],
                y=[s.get(key) for s in rows],
                name=NAMES[model],
                legendgroup=model,
                showlegend=col == 1,
                mode="lines+markers",
                line={"color": COLOURS[model], "dash": "solid" if model == "rds" else "dash"},
                marker={"size": 9, "symbol": "circle" if model == "rds" else "square"},
                hovertemplate="U = %{x}: %{y:.2f} " + unit + "<extra>" + NAMES[model] + "</extra>",
            ),
            row=1,
            col=col,
        )


def _costs(fig: go.Figure, summary: dict) -> None:
    bars = (
        ("RDS, own servers", summary.get("rds_cost_month"), COLOURS["rds"]),
        ("VDI, own servers", summary.get("vdi_cost_month"), COLOURS["vdi"]),
        ("DaaS", summary.get("daas_cost_month"), SERIES_COLOURS["host"]),
    )
    shown = [(label, value, colour) for label, value, colour in bars if value is not None]
    if not shown:
        return
    fig.add_trace(
        go.Bar(
            x=[label for label, _, _ in shown],
            y=[value for _, value, _ in shown],
            marker={"color": [colour for _, _, colour in shown]},
            name="monthly cost (model)",
            showlegend=False,
            text=[f"€{value:,.0f}" for _, value, _ in shown],
            textposition="outside",
            hovertemplate="%{x}: €%{y:,.2f} per month<extra>cost model</extra>",
        ),
        row=1,
        col=3,
    )


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=(
            "Host memory per user (PSS ÷ U)",
            "Time until the U-th user's session is ready",
            "Monthly cost: model with measured density",
        ),
    )
    _lines(fig, samples, "pss_mib_per_user", 1, "MiB per user")
    _lines(fig, samples, "ready_seconds", 2, "s")
    _costs(fig, summary)
    fig.update_xaxes(title="users logged in (U)", dtick=1, row=1, col=1)
    fig.update_xaxes(title="users logged in (U)", dtick=1, row=1, col=2)
    fig.update_xaxes(title=f"{summary.get('host_gib', '?')} GiB hosts (extrapolated)", row=1, col=3)
    fig.update_yaxes(title="host memory per user, MiB", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="seconds (VDI: boot + login)", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title="€ per month", rangemode="tozero", row=1, col=3)
    title = "Desktop capacity: RDS sessions vs VDI VMs"
    if ratio := summary.get("vdi_over_rds_memory_per_user"):
        title += f" — VDI takes {ratio:g}× the host memory per user"
    base_layout(fig, title=title, host=host, yaxis_title="host memory per user, MiB")
    fig.update_layout(height=560, margin={"t": 150}, legend={"y": 1.08})
    return fig
