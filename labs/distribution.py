"""How a lab's headline figure is spread across students (latest run per student).

Students see the spread once several classmates have run the lab (names hidden);
instructors see it for their own students with names. When the runs came from more
than one lab host, each host gets a box of its own: a figure measured on one machine
says nothing about another's (docs/architecture.md, "Several lab hosts").
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from .experiments.base import Lab
from .experiments.charts import SERIES_COLOURS
from .models import LabHost, LabRun

MIN_STUDENTS_FOR_STUDENTS = 3  # fewer than this and a "distribution" identifies people


@dataclass
class StudentValue:
    user_id: int
    username: str
    value: float
    run_id: int
    host: str = ""  # LabRun.host: the lab host that measured it


def headline_key(lab: Lab) -> str | None:
    return lab.predict_keys[0] if lab.predict_keys else None


def latest_values(lab: Lab, key: str, user_ids: set[int] | None = None) -> list[StudentValue]:
    runs = (
        LabRun.objects.succeeded()
        .for_lab(lab.slug)
        .filter(user__isnull=False)
        .select_related("user")
        .order_by("user_id", "-finished_at")
    )
    if user_ids is not None:
        runs = runs.filter(user_id__in=user_ids)
    seen: set[int] = set()
    values: list[StudentValue] = []
    for run in runs.iterator():
        value = run.summary.get(key)
        if run.user_id in seen or not isinstance(value, int | float):
            continue
        seen.add(run.user_id)
        values.append(StudentValue(run.user_id, run.user.username, float(value), run.pk, run.host))
    return values


def host_count(values: list[StudentValue]) -> int:
    return len({v.host for v in values})


def host_names(host_ids) -> dict[str, str]:
    """What people call each host: its hostname (its id when it never said)."""
    names = dict(
        LabHost.objects.filter(host_id__in=set(host_ids)).values_list("host_id", "hostname")
    )
    return {
        host_id: names.get(host_id) or host_id or "a server before hosts were recorded"
        for host_id in host_ids
    }


def by_host(values: list[StudentValue]) -> list[tuple[str, list[StudentValue]]]:
    """The values grouped by host, as (host name, values), in name order."""
    names = host_names({v.host for v in values})
    groups: dict[str, list[StudentValue]] = {}
    for value in values:
        groups.setdefault(names[value.host], []).append(value)
    return sorted(groups.items())


def distribution_figure(
    lab: Lab, key: str, values: list[StudentValue], *, mine: float | None, names: bool
) -> go.Figure:
    label = lab.summary_labels.get(key, key)
    groups = by_host(values)
    several = len(groups) > 1
    colours = list(SERIES_COLOURS.values())
    fig = go.Figure()
    for index, (host, group) in enumerate(groups):
        fig.add_trace(
            go.Box(
                x=[v.value for v in group],
                # One row per host, named after it, when there are several.
                y=[f"{host} ({len(group)})"] * len(group) if several else None,
                name=host if several else "students",
                boxpoints="all",
                jitter=0.5,
                pointpos=0,
                marker={"color": colours[index % len(colours)], "size": 9},
                text=[v.username for v in group] if names else None,
                hovertemplate=("%{text}: " if names else "") + "%{x:.3g}<extra></extra>",
                orientation="h",
            )
        )
    if mine is not None:
        fig.add_vline(x=mine, line={"color": SERIES_COLOURS["vm"], "dash": "dash"})
        fig.add_annotation(x=mine, y=1, yref="paper", text="your latest run", showarrow=False)
    count = len(values)
    who = "the latest run of 1 student" if count == 1 else f"latest run of each of {count} students"
    if several:
        who += f", on {len(groups)} lab servers"
    fig.update_layout(
        title={"text": f"{label}: {who}", "x": 0.01},
        template="plotly_white",
        xaxis_title=label,
        yaxis={"showticklabels": several, "automargin": True},
        height=260 + (70 * (len(groups) - 1) if several else 0),
        margin={"l": 20, "r": 20, "t": 60, "b": 50},
        showlegend=False,
    )
    fig.update_xaxes(
        range=padded_range([v.value for v in values] + ([mine] if mine is not None else []))
    )
    return fig


def padded_range(numbers: list[float]) -> list[float]:
    """An axis range with room around the points: one value, or values close together,
    sit in the middle of a readable span instead of on a sliver of an axis."""
    low, high = min(numbers), max(numbers)
    middle = (low + high) / 2
    pad = max((high - low) * 0.15, abs(middle) * 0.1, 1e-6)
    return [low - pad, high + pad]
