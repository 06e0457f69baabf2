"""The images figure: layers per variant, build times, and bytes sent to the registry."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import SERIES_COLOURS, base_layout

BUILD_ORDER = ("cold", "cached", "app edited", "deps changed")
VARIANT_COLOURS = ("#1f5fbf", "#d9480f", "#1b7a43", "#7b3fb8")
TRANSFERS = ("push first", "push second", "pull first", "pull second")


def _rows(samples: list[dict], part: str) -> list[dict]:
    return [s for s in samples if s.get("part") == part]


def _layer_colour(instruction: str) -> str:
    if instruction.startswith("(base"):
        return SERIES_COLOURS["host"]
    if "deps.tar" in instruction or "libdeps" in instruction:
        return SERIES_COLOURS["vm"]
    if "app" in instruction:
        return SERIES_COLOURS["container"]
    return "#adb5bd"


def _variants(samples: list[dict]) -> list[str]:
    seen: list[str] = []
    for row in _rows(samples, "build"):
        if row["variant_name"] not in seen:
            seen.append(row["variant_name"])
    return seen


def _layers(fig: go.Figure, samples: list[dict]) -> None:
    # One bar segment per layer, each drawn from the top of the one below it (the bars
    # share one offset group, so they stack while the other panels' bars stand side by side).
    below: dict[str, float] = {}
    for row in _rows(samples, "layer"):
        base = below.get(row["variant_name"], 0.0)
        below[row["variant_name"]] = base + (row["layer_mib"] or 0)
        fig.add_trace(
            go.Bar(
                x=[row["variant_name"]],
                y=[row["layer_mib"]],
                base=[base],
                offsetgroup="layers",
                marker={"color": _layer_colour(row["instruction"]), "line": {"width": 1,
                        "color": "white"}},
                customdata=[[row["layer"], row["instruction"]]],
                hovertemplate="%{x}, layer %{customdata[0]}: %{y:.2f} MiB<br>"
                "%{customdata[1]}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )  # fmt: skip


def _builds(fig: go.Figure, samples: list[dict]) -> None:
    rows = _rows(samples, "build")
    for index, variant in enumerate(_variants(samples)):
        mine = {r["build"]: r for r in rows if r["variant_name"] == variant}
        builds = [b for b in BUILD_ORDER if b in mine]
        fig.add_trace(
            go.Bar(
                x=builds,
                y=[mine[b]["seconds"] for b in builds],
                name=variant,
                legendgroup=variant,
                marker={"color": VARIANT_COLOURS[index % len(VARIANT_COLOURS)]},
                text=[f"{mine[b]['cache_hits']}/{mine[b]['steps']}" for b in builds],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{variant}, %{{x}}: %{{y:.2f}} s, steps from the cache: "
                "%{text}<extra></extra>",
            ),
            row=1,
            col=2,
        )


def _registry(fig: go.Figure, samples: list[dict]) -> None:
    rows = _rows(samples, "registry")
    for index, variant in enumerate(_variants(samples)):
        mine = {r["transfer"]: r for r in rows if r["variant_name"] == variant}
        done = [t for t in TRANSFERS if t in mine]
        values = [
            mine[t]["uploaded_mib"] if t.startswith("push") else mine[t]["downloaded_mib"]
            for t in done
        ]
        fig.add_trace(
            go.Bar(
                x=done,
                y=values,
                name=variant,
                legendgroup=variant,
                showlegend=False,
                marker={"color": VARIANT_COLOURS[index % len(VARIANT_COLOURS)]},
                texttemplate="%{y:.2f}",
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{variant}, %{{x}}: %{{y:.3f}} MiB over the wire<extra></extra>",
            ),
            row=2,
            col=1,
        )


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{}, {}], [{"colspan": 2}, None]],
        vertical_spacing=0.2,
        horizontal_spacing=0.12,
        subplot_titles=(
            "Layers of each image (grey: base, orange: dependencies, blue: app)",
            "Build time (labels: steps from the cache)",
            "Bytes over the wire: pushes sent, pulls received (second = app edited)",
        ),
    )
    _layers(fig, samples)
    _builds(fig, samples)
    _registry(fig, samples)
    fig.update_yaxes(title="MiB", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="seconds", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title="MiB", rangemode="tozero", row=2, col=1)
    fig.update_layout(barmode="group", height=780)
    variants = _variants(samples)
    fig = base_layout(fig, title=title_of(summary), host=_with_podman(host, samples),
                      yaxis_title="")  # fmt: skip
    # One variant needs no legend; several get theirs in one row between the two rows of
    # panels, clear of the subplot titles and of every bar.
    fig.update_layout(
        showlegend=len(variants) > 1,
        legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": 0.5,
                "yanchor": "middle", "title": {"text": "variant"}},
    )  # fmt: skip
    return fig


def title_of(summary: dict) -> str:
    title = "Images on this host"
    if (ratio := summary.get("early_over_late_rebuild")) is not None:
        title += f" — rebuild after an early change ÷ after a late one: {ratio:g}×"
    return title


def _with_podman(host: dict, samples: list[dict]) -> dict:
    """The host facts with podman's version, for the caption every chart carries."""
    base = next((s for s in samples if s.get("part") == "base"), {})
    if not base.get("podman_version"):
        return host
    return {**host, "cpu_model": f"{host.get('cpu_model', '?')} · {base['podman_version']}"}
