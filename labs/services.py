"""Starting and cancelling lab runs (quotas and capability checks live here)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .capabilities import lab_status
from .experiments.base import Lab
from .models import LabRun


class RunRefused(Exception):
    """The run was not queued; the message tells the student why."""


def run_create(*, user, lab: Lab, params: dict, enqueue: bool = True) -> LabRun:
    """Validate, check quotas and capabilities, then queue a run for the worker.

    ``params`` are raw values (form or command line); nothing is written unless all
    checks pass.
    """
    cleaned, errors = lab.validate(params)
    if errors:
        raise RunRefused("; ".join(f"{name}: {message}" for name, message in errors.items()))
    status = lab_status(lab)
    if not status.ready:
        names = ", ".join(cap.name for cap in status.missing)
        raise RunRefused(f"This server cannot run {lab.title} yet: missing {names}.")
    with transaction.atomic():
        if user is not None:
            # Serialise one student's requests so two quick submissions cannot both pass
            # the quota (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions do it).
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        active = LabRun.objects.active()
        if user is not None:
            mine = active.filter(user=user).count()
            limit = settings.VIRTLAB_MAX_ACTIVE_RUNS_PER_USER
            if mine >= limit:
                raise RunRefused(
                    f"You already have {mine} run(s) queued or running (the limit is {limit}). "
                    "Wait for one to finish or cancel it."
                )
        backlog = active.count()
        if backlog >= settings.VIRTLAB_MAX_QUEUED_RUNS:
            raise RunRefused(
                f"The server already has {backlog} runs waiting or running. "
                "Please try again in a minute."
            )
        run = LabRun.objects.create(user=user, lab=lab.slug, params=cleaned)
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run))
    return run


def _enqueue(run: LabRun) -> None:
    from .tasks import run_lab_task  # imported late: the task module pulls in the runner

    result = run_lab_task.enqueue(run.pk)
    LabRun.objects.filter(pk=run.pk).update(task_id=str(result.id)[:64])


def run_cancel(*, run: LabRun) -> LabRun:
    """Ask for a run to stop. A queued run is cancelled at once; a running one at
    its next step (the worker notices within half a second and reaps it)."""
    LabRun.objects.filter(pk=run.pk, status__in=LabRun.ACTIVE).update(cancel_requested=True)
    LabRun.objects.filter(pk=run.pk, status=LabRun.Status.QUEUED).update(
        status=LabRun.Status.CANCELLED,
        finished_at=timezone.now(),
        error="Cancelled before it started.",
    )
    run.refresh_from_db()
    return run
