"""Runs whose worker died or overran, and sandbox leftovers nobody owns any more.

The sandbox reaper (``labs.sandbox.reaper``) knows names; this module knows which
runs are really still running, so it can tell it what to keep.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from datetime import timedelta

from django.db.models import Q
from django.tasks.base import TaskResultStatus
from django.utils import timezone

from labs.sandbox import naming, ownership, reaper

from . import hosts
from .models import LabRun
from .runner import SLOT_WAIT_SECONDS

log = logging.getLogger(__name__)
# A run past its deadline by this much is failed even if its worker still lives:
# the runner itself stops a run at the deadline, so this only catches a stuck worker.
DEADLINE_GRACE = timedelta(seconds=60)
# Time for a new run's task to be enqueued (after the web request's commit) and for a
# worker that took the task to finish waiting for a sandbox slot.
ENQUEUE_GRACE = timedelta(minutes=5)
SLOT_WAIT = timedelta(seconds=SLOT_WAIT_SECONDS) + ENQUEUE_GRACE
ADHOC_FIRST_ID = naming.ADHOC_FIRST_ID  # naming.adhoc_run_id(): tests, benchmarks, probes
# Another host's sweeper writes these: the run's sandboxes are on that machine, and its
# own reaper removes them when its worker starts again.
DEAD_HOST_RUNNING = (
    "The lab server running this run stopped answering, so the run was stopped. "
    "Please run it again."
)
DEAD_HOST_WAITING = (
    "The lab server that took this run stopped answering before it started; please run it again."
)
# Leeway for the comparison above (clock adjustments since boot); a restarted worker
# starts far later than this after the run its predecessor took.
PID_START_SLACK_SECONDS = 5
RUN_ID_IN_ENTRY = re.compile(r"(?:^|[/:])vl(\d+)-|\(run (\d+)\)")


def process_alive(pid: int | None, *, took_run_at=None) -> bool:
    """Whether ``pid`` is a live process, and, given when the run was taken (this
    host's clock), one that had started by then: a process that started later only
    reuses the pid. A restarted container numbers its processes the same way again,
    so the worker that replaced a dead one often has its pid, and would otherwise keep
    the dead one's run "running" until its deadline."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        state = fields[0]
        started_ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
    except (OSError, IndexError, ValueError):
        return False
    if state in {"Z", "X"}:
        return False
    if took_run_at is None:
        return True
    try:
        started_at = _boot_time() + started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return True  # cannot tell: the pid alone decides, as before
    return started_at <= took_run_at.timestamp() + PID_START_SLACK_SECONDS


def _boot_time() -> float:
    # /proc/stat's btime is whole seconds (rounded down), so a start computed from it
    # is never later than the real one: a live worker is never taken for a newer one.
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _taken_runs() -> tuple[list[LabRun], list[LabRun]]:
    """Runs a worker has taken, (this host's, other hosts' whose host looks dead).

    A worker pid is only checked on its own machine; runs without a host were taken
    before hosts were recorded, when there was only one. Another host's run is ours to
    fail only once that host has stopped heartbeating."""
    taken = LabRun.objects.filter(
        Q(status=LabRun.Status.RUNNING) | Q(status=LabRun.Status.QUEUED, worker_pid__isnull=False)
    ).order_by("pk")
    here = Q(host=hosts.this_host_id()) | Q(host="")
    return list(taken.filter(here)), list(taken.exclude(here).filter(hosts.run_host_is_dead()))


def fail_stale_runs() -> list[int]:
    """Fail runs whose worker is gone or that overran; return their ids."""
    now = timezone.now()
    failed = []

    def fail(run: LabRun, reason: str, *conditions, worker_gone=True, **unchanged) -> None:
        # Only if the run is still as we saw it: a worker may have moved it on meanwhile,
        # or another host's sweeper failed it first (exactly one UPDATE matches).
        still = LabRun.objects.filter(*conditions, pk=run.pk, status=run.status, **unchanged)
        if still.update(status=LabRun.Status.FAILED, error=reason, finished_at=now):
            failed.append(run.pk)
            if worker_gone:
                _end_orphaned_task(run, reason, now)

    mine, of_dead_hosts = _taken_runs()
    for run in of_dead_hosts:
        # Checked again inside the UPDATE: a host that has just come back keeps its run.
        fail(
            run,
            DEAD_HOST_RUNNING if run.status == LabRun.Status.RUNNING else DEAD_HOST_WAITING,
            hosts.run_host_is_dead(),
            host=run.host,
            worker_pid=run.worker_pid,
        )
    for run in (run for run in mine if run.status == LabRun.Status.RUNNING):
        if not process_alive(run.worker_pid, took_run_at=run.started_at):
            fail(
                run,
                "The lab worker stopped while this run was in progress (it was restarted "
                "or killed). Everything the run started on the server has been removed; "
                "please run it again.",
            )
        elif run.deadline_at and now > run.deadline_at + DEADLINE_GRACE:
            # Its worker is alive and ends the task itself when the run stops.
            fail(run, "The run went past its time limit and was stopped.", worker_gone=False)
    # A worker that took a run's task and died waiting for a sandbox slot: the task
    # queue will not hand it out again, so the run would stay queued for ever.
    for run in (run for run in mine if run.status == LabRun.Status.QUEUED):
        if not process_alive(run.worker_pid):
            fail(
                run,
                "The lab worker stopped before this run started; please run it again.",
                worker_pid=run.worker_pid,
            )
    for run in _lost_queued_runs(now):
        fail(run, "This run lost its place in the queue and never started; please run it again.")
    return failed


class LabWorkerGone(Exception):
    """What a run's task row names as its error when the sweeper ended it."""


def _end_orphaned_task(run: LabRun, reason: str, now) -> None:
    """The task of a run failed because its worker is gone: the task queue would keep
    it as running for ever (only the worker that claimed a task ends it), so its row is
    ended as failed with the run's reason, and the queue's records (the admin, pruning
    old results) agree with the run. Only a task still marked running is touched."""
    from django_tasks_db.models import DBTaskResult

    if task_id := _uuid(run.task_id):
        DBTaskResult.objects.filter(id=task_id, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=f"{__name__}.{LabWorkerGone.__qualname__}",
            traceback=f"{LabWorkerGone.__qualname__}: {reason}\n",
            return_value=None,
        )


def _lost_queued_runs(now) -> list[LabRun]:
    """Queued runs whose task will never start them, so they would count against their
    student's quota for ever: the task is missing (its enqueue failed), has ended, or
    was taken by a worker that has not come back from waiting for a slot (it died, and
    its pid now belongs to another process). A task still waiting its turn is fine,
    however long the queue."""
    from django_tasks_db.models import DBTaskResult

    candidates = list(
        LabRun.objects.filter(status=LabRun.Status.QUEUED, created_at__lt=now - ENQUEUE_GRACE)
    )
    if not candidates:
        return []
    task_ids = [task_id for run in candidates if (task_id := _uuid(run.task_id))]
    tasks = {str(task.id): task for task in DBTaskResult.objects.filter(id__in=task_ids)}
    lost = []
    for run in candidates:
        task = tasks.get(_uuid(run.task_id) or "")
        if (
            task is None
            or task.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
            or task.status == TaskResultStatus.RUNNING
            and task.started_at < now - SLOT_WAIT
        ):
            lost.append(run)
    return lost


def _uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def reap_leftovers() -> reaper.ReapReport:
    """Remove everything named after a run of this database that is not running now.

    Only sandbox ids in this database's range count (see VIRTLAB_SANDBOX_ID_BASE), and
    of those only the ones this instance claimed (the reaper checks): ad-hoc ids
    (tests, benchmarks, doctor probes) and other servers' runs belong to other
    processes on this host and are left to their owners.
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


def drop_abandoned_claims() -> None:
    """Drop the claims whose process died and whose sandboxes are all gone, whoever
    made them: they protect nothing any more (ownership.py)."""
    for sandbox_id in ownership.claimed_ids():
        if ownership.abandoned(sandbox_id) and not any(
            reaper.inventory(only={sandbox_id}).values()
        ):
            ownership.drop_claim(sandbox_id)


TEST_SESSION_PREFIX = "test-"  # the instance name tests/conftest.py gives a test session


def reap_dead_test_sessions() -> reaper.ReapReport:
    """What test sessions killed mid-run left behind: their claims (owner
    ``test-<pid>-…``, that process gone) are adopted by this instance, then reaped.
    Only test sessions': a server's instance outlives its processes and reaps its own
    runs when it starts again, so its claims are never taken over."""
    adopted = set()
    for sandbox_id in ownership.claimed_ids():
        try:
            if ownership.adopt_abandoned(sandbox_id, owner_prefix=TEST_SESSION_PREFIX):
                adopted.add(sandbox_id)
        except OSError as error:  # another session adopting it at the same moment
            log.warning("vl%s not adopted: %s", sandbox_id, error)
    return reaper.reap(only=adopted) if adopted else reaper.ReapReport()


def sweep() -> tuple[list[int], reaper.ReapReport]:
    failed = fail_stale_runs()
    report = reap_leftovers()
    drop_abandoned_claims()
    if failed:
        log.warning("failed stale runs: %s", failed)
    return failed, report
