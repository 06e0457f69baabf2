"""A run's samples as CSV: one row per sample, the lab's columns in order, plus the
host facts as trailing comment-free columns so a spreadsheet keeps them together."""

from __future__ import annotations

import csv
import io

from .experiments.base import Lab
from .models import LabRun

HOST_COLUMNS = ("cpu_model", "cores", "kernel", "accelerator")


def run_csv(run: LabRun, lab: Lab) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["run_id", "lab"]
    header += [f"{c.key}_{c.unit}" if c.unit else c.key for c in lab.columns]
    header += [f"host_{name}" for name in HOST_COLUMNS]
    writer.writerow(header)
    host = [run.host_facts.get(name, "") for name in HOST_COLUMNS]
    for sample in run.samples:
        values = ["" if sample.get(c.key) is None else sample.get(c.key) for c in lab.columns]
        writer.writerow([run.pk, run.lab, *values, *host])
    return buffer.getvalue()
