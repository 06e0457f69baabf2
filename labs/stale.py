"""Runs whose worker died or overran, and sandbox leftovers nobody owns any more.

The sandbox reaper (``labs.sandbox.reaper``) knows names; this module knows which
runs are really still running, so it can tell it what to keep.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.utils import timezone

from labs.sandbox import reaper

from .models import LabRun

log = logging.getLogger(__name__)
# A run past its deadline by this much is failed even if its worker still lives:
# the runner itself stops a run at the deadline, so this only catches a stuck worker.
DEADLINE_GRACE = timedelta(seconds=60)
# A full queue (VIRTLAB_MAX_QUEUED_RUNS runs of a minute at most) drains in well under
# this; a run queued longer lost its task (a worker pid reused by another process, an
# enqueue that failed) and would otherwise count against its student's quota for ever.
QUEUE_LIMIT = timedelta(hours=1)
ADHOC_FIRST_ID = 900_000_000  # naming.adhoc_run_id(): tests, benchmarks, probes
RUN_ID_IN_ENTRY = re.compile(r"(?:^|[/:])vl(\d+)-|\(run (\d+)\)")


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def fail_stale_runs() -> list[int]:
    """Fail runs whose worker is gone or that overran; return their ids."""
    now = timezone.now()
    failed = []
    for run in LabRun.objects.filter(status=LabRun.Status.RUNNING):
        if not process_alive(run.worker_pid):
            reason = (
                "The lab worker stopped while this run was in progress (it was restarted "
                "or killed). Everything the run started on the server has been removed; "
                "please run it again."
            )
        elif run.deadline_at and now > run.deadline_at + DEADLINE_GRACE:
            reason = "The run went past its time limit and was stopped."
        else:
            continue
        updated = LabRun.objects.filter(pk=run.pk, status=LabRun.Status.RUNNING).update(
            status=LabRun.Status.FAILED, error=reason, finished_at=now
        )
        if updated:
            failed.append(run.pk)
    # A worker that took a run's task and died waiting for a sandbox slot: the task
    # queue will not hand it out again, so the run would stay queued for ever.
    waiting = LabRun.objects.filter(status=LabRun.Status.QUEUED, worker_pid__isnull=False)
    for run in waiting:
        if process_alive(run.worker_pid):
            continue
        updated = LabRun.objects.filter(
            pk=run.pk, status=LabRun.Status.QUEUED, worker_pid=run.worker_pid
        ).update(
            status=LabRun.Status.FAILED,
            error="The lab worker stopped before this run started; please run it again.",
            finished_at=now,
        )
        if updated:
            failed.append(run.pk)
    forgotten = LabRun.objects.filter(status=LabRun.Status.QUEUED, created_at__lt=now - QUEUE_LIMIT)
    for pk in forgotten.values_list("pk", flat=True):
        updated = LabRun.objects.filter(pk=pk, status=LabRun.Status.QUEUED).update(
            status=LabRun.Status.FAILED,
            error="This run waited more than an hour in the queue without starting; "
            "please run it again.",
            finished_at=now,
        )
        if updated:
            failed.append(pk)
    return failed


def reap_leftovers() -> reaper.ReapReport:
    """Remove everything named after a run of this database that is not running now.

    Only sandbox ids in this database's range count (see VIRTLAB_SANDBOX_ID_BASE):
    ad-hoc ids (tests, benchmarks, doctor probes) and other databases' runs belong to
    other processes on this host and are left to their owners.
    """
    running = {
        run.sandbox_id for run in LabRun.objects.filter(status=LabRun.Status.RUNNING).only("pk")
    }
    found: dict[int, int] = {}  # run pk → sandbox id
    for names in reaper.inventory(keep=running).values():
        for name in names:
            # Entries read "vl12-c0", "runc:vl12-c0", "/sys/fs/…/vl12-c0" or "4242 (run 12)".
            for match in RUN_ID_IN_ENTRY.finditer(name):
                sandbox_id = int(match.group(1) or match.group(2))
                pk = LabRun.pk_of_sandbox(sandbox_id)
                if pk is not None and sandbox_id < ADHOC_FIRST_ID:
                    found[pk] = sandbox_id
    # A run may have been claimed while the inventory was taken: its fresh sandbox
    # would be reaped in the middle of its run. Ask again now, and spare every run that
    # is queued or running: a finished run never becomes active again, so what is left
    # really belongs to nobody.
    if found:
        active = LabRun.objects.filter(pk__in=found, status__in=LabRun.ACTIVE)
        for pk in active.values_list("pk", flat=True):
            del found[pk]
    if not found:
        return reaper.ReapReport()
    return reaper.reap(only=set(found.values()))


def sweep() -> tuple[list[int], reaper.ReapReport]:
    failed = fail_stale_runs()
    report = reap_leftovers()
    if failed:
        log.warning("failed stale runs: %s", failed)
    return failed, report
