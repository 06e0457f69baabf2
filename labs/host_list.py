"""The lab servers page, in words: each host's state, what it can run, how busy it is,
and how long the queue is (labs/views.py: hosts_overview)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F
from django.db.models.functions import Now

from labs.sandbox.capability import Capability

from .capabilities import lab_status
from .experiments import all_labs
from .models import LabHost, LabRun


@dataclass
class HostView:
    host: LabHost
    alive: bool
    unseen_for: timedelta  # since the last heartbeat, in the database's clock
    running: int  # runs executing there now
    labs_ready: list[str] = field(default_factory=list)  # lab titles
    labs_missing: list[tuple[str, str]] = field(default_factory=list)  # (title, why)
    probed: bool = True

    @property
    def name(self) -> str:
        return self.host.hostname or self.host.host_id

    @property
    def unseen_text(self) -> str:
        seconds = max(0, int(self.unseen_for.total_seconds()))
        if seconds < 120:
            return f"{seconds} seconds"
        if seconds < 2 * 3600:
            return f"{seconds // 60} minutes"
        if seconds < 2 * 86400:
            return f"{seconds // 3600} hours"
        return f"{seconds // 86400} days"

    @property
    def hardware(self) -> str:
        facts = self.host.facts or {}
        parts = [facts.get("cpu_model"), facts.get("cores") and f"{facts['cores']} cores"]
        if memory := facts.get("memory_total_bytes"):
            parts.append(f"{memory / 2**30:.0f} GiB memory")
        return ", ".join(str(part) for part in parts if part) or "not reported"

    @property
    def software(self) -> str:
        facts = self.host.facts or {}
        parts = [facts.get("kernel") and f"Linux {facts['kernel']}"]
        parts += [version for version in (facts.get("versions") or {}).values() if version]
        if facts.get("virtlab"):
            parts.append(f"virtlab {facts['virtlab']}")
        return ", ".join(part for part in parts if part) or "not reported"


def _what_it_runs(view: HostView) -> None:
    if view.host.capabilities is None:
        view.probed = False
        return
    caps = {item["name"]: Capability(**item) for item in view.host.capabilities}
    for lab in all_labs():
        status = lab_status(lab, caps)
        if status.ready:
            view.labs_ready.append(lab.title)
        else:
            why = "; ".join(cap.detail for cap in status.missing)
            view.labs_missing.append((lab.title, why))


def host_views() -> list[HostView]:
    """Every host that has registered, the working ones first."""
    dead_after = timedelta(seconds=settings.VIRTLAB_HOST_DEAD_AFTER)
    rows = LabHost.objects.annotate(
        unseen_for=ExpressionWrapper(Now() - F("last_heartbeat"), output_field=DurationField())
    )
    running = dict(
        LabRun.objects.filter(status=LabRun.Status.RUNNING)
        .order_by()  # no ordering column in the GROUP BY
        .values("host")
        .annotate(n=Count("pk"))
        .values_list("host", "n")
    )
    views = []
    for row in rows:
        view = HostView(
            host=row,
            alive=row.unseen_for <= dead_after,
            unseen_for=row.unseen_for,
            running=running.get(row.host_id, 0),
        )
        _what_it_runs(view)
        views.append(view)
    views.sort(key=lambda view: (not view.alive, view.name.lower()))
    return views


@dataclass
class QueueView:
    waiting: int  # queued, not yet taken by any worker
    taken: int  # taken by a worker, waiting for one of its slots
    running: int


def queue_view() -> QueueView:
    queued = LabRun.objects.filter(status=LabRun.Status.QUEUED)
    return QueueView(
        waiting=queued.filter(worker_pid__isnull=True).count(),
        taken=queued.filter(worker_pid__isnull=False).count(),
        running=LabRun.objects.filter(status=LabRun.Status.RUNNING).count(),
    )
