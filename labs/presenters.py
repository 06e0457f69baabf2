"""Turn a run into what its page shows: figure JSON, table rows, summary lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import plotly.io

from labs.experiments.charts import host_caption

from .experiments import get_lab
from .experiments.base import Lab
from .models import LabRun


@dataclass
class RunView:
    run: LabRun
    lab: Lab
    figure: dict | None
    rows: list[list]
    summary: list[tuple[str, object]]
    caption: str
    details: list[tuple[str, str]] = field(default_factory=list)  # (title, text) blocks
    queue_position: int | None = None  # 1 = next to start
    running_now: int = 0

    @property
    def figure_id(self) -> str:
        return f"figure-{self.run.pk}"


def _format(value) -> object:
    # Words, not Python: a tile or cell reads "yes", never "True".
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else value


def present(run: LabRun) -> RunView:
    lab = get_lab(run.lab)
    samples = run.samples
    summary = run.summary
    if samples and not summary:
        # While running, show the summary of what has arrived so far.
        try:
            summary = lab.summarize(samples, dict(run.params))
        except Exception:  # a partial data set may not summarise yet
            summary = {}
    figure = None
    if samples:
        fig = lab.figure(samples, summary, run.host_facts)
        figure = json.loads(plotly.io.to_json(fig, validate=False))
    rows = [[_format(sample.get(c.key)) for c in lab.columns] for sample in samples]
    labelled = [
        (lab.summary_labels.get(key, key.replace("_", " ")), _format(value))
        for key, value in summary.items()
        if value is not None
    ]
    # A sample may carry text too long for a table cell (e.g. the commands a lab ran)
    # as ``details``: [{"title", "text"}], shown as collapsed blocks under the chart.
    details = [(d["title"], d["text"]) for s in samples for d in s.get("details", ())]
    view = RunView(run, lab, figure, rows, labelled, host_caption(run.host_facts), details)
    if run.status == LabRun.Status.QUEUED:
        waiting = LabRun.objects.filter(status=LabRun.Status.QUEUED, created_at__lt=run.created_at)
        view.queue_position = waiting.count() + 1
        view.running_now = LabRun.objects.filter(status=LabRun.Status.RUNNING).count()
    return view
