"""A lab run: who asked for which lab with which parameters, and what was measured."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from labs.sandbox import ownership


class LabRunQuerySet(models.QuerySet):
    def active(self) -> LabRunQuerySet:
        return self.filter(status__in=LabRun.ACTIVE)

    def for_user(self, user) -> LabRunQuerySet:
        return self.filter(user=user) if user.is_authenticated else self.none()

    def for_lab(self, slug: str) -> LabRunQuerySet:
        return self.filter(lab=slug)

    def succeeded(self) -> LabRunQuerySet:
        return self.filter(status=LabRun.Status.SUCCEEDED)


def sandbox_id_base() -> int:
    """``VIRTLAB_SANDBOX_ID_BASE`` when set, else this instance's own range."""
    if settings.VIRTLAB_SANDBOX_ID_BASE is not None:
        return settings.VIRTLAB_SANDBOX_ID_BASE
    return ownership.instance().id_base


class LabRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="lab_runs",
        null=True,
        blank=True,
        help_text="Empty for runs started from the command line.",
    )
    lab = models.SlugField()
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_step = models.CharField(max_length=200, blank=True)
    progress_fraction = models.FloatField(default=0.0)
    host_facts = models.JSONField(default=dict, blank=True)
    # {"samples": [ {...}, ... ], "summary": {...}} — the shape each lab documents.
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)
    # The lab host whose worker took the run (LabHost.host_id); its worker_pid means
    # something only on that machine (docs/architecture.md, "Several lab hosts").
    host = models.CharField(max_length=100, blank=True)

    objects = LabRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["lab", "status"]),
            models.Index(fields=["user", "lab", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.lab} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("labs:run", kwargs={"slug": self.lab, "run_id": self.pk})

    @property
    def sandbox_id(self) -> int:
        """The id its sandboxes are named after (``vl<sandbox id>-…``)."""
        return self.pk + sandbox_id_base()

    @classmethod
    def pk_of_sandbox(cls, sandbox_id: int) -> int | None:
        """The run a sandbox id would belong to in this database, or None when it is
        outside our range. (Only the id's claim proves it is ours: ownership.py.)"""
        offset = sandbox_id - sandbox_id_base()
        return offset if 0 < offset < settings.VIRTLAB_SANDBOX_ID_SPAN else None

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def samples(self) -> list[dict]:
        return list(self.results.get("samples", []))

    @property
    def summary(self) -> dict:
        return dict(self.results.get("summary", {}))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class LabHost(models.Model):
    """A machine (one var/ directory) whose lab worker takes runs from the shared queue.

    Written by its worker: once when it starts (what it can run) and every few seconds
    after (``last_heartbeat``, stamped with the database's clock so the hosts' own
    clocks need not agree). Another host's sweeper reads it to tell a host that died
    from one that is busy.
    """

    host_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    instance_id = models.CharField(max_length=64, blank=True)
    # The doctor's findings: [{"name", "ok", "detail", "install"}, ...]; None until
    # a worker has probed this host (a foreground run_lab registers without probing).
    capabilities = models.JSONField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)  # hostfacts.collect() + versions
    slots_total = models.PositiveIntegerField(default=0)
    slots_in_use = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField()

    class Meta:
        ordering = ["hostname", "host_id"]

    def __str__(self) -> str:
        return self.hostname or self.host_id
