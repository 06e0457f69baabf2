"""Execute one LabRun: the only place lab code meets the database.

Called by the background task (``labs.tasks``) and by ``manage.py run_lab``. A worker
takes a run with a conditional UPDATE (queued and untaken → taken by this host and
pid) and claims it with another (queued → running, still ours), so a run is never
executed twice, even when its task is handed out again; samples are saved as they arrive so the page can draw them live; whatever
happens, everything the run created on the host is reaped before we return.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from datetime import timedelta

from django.utils import timezone

from labs.sandbox import hostfacts, ownership, reaper, vms

from . import hosts
from .experiments import get_lab
from .experiments.base import NEEDS_VMS, Progress, RunContext, Sample
from .models import LabRun
from .signals import run_finished
from .slots import NoSlot, sandbox_slot

log = logging.getLogger(__name__)
Status = LabRun.Status
SLOT_WAIT_SECONDS = 600
CANCEL_POLL_SECONDS = 0.5
VM_LAB_CAPABILITIES = {*NEEDS_VMS, "kvm"}


class RunStopped(Exception):
    """Cancelled by the student, past the run's deadline, or ended by the sweeper."""


def _save_running(run: LabRun, **values) -> None:
    """Store progress or results on a run that is still running. Once the sweeper has
    failed it (past its deadline, or its worker looked dead), nothing more is written
    to it and the lab stops: a finished run is never rewritten."""
    for name, value in values.items():
        setattr(run, name, value)
    if not LabRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(**values):
        raise RunStopped


def _host_facts(lab) -> dict:
    accelerator = None
    if VM_LAB_CAPABILITIES & set(lab.needs):
        decision = vms.decide_accelerator()
        accelerator = decision["accelerator"]
    facts = hostfacts.collect(accelerator=accelerator)
    facts["hostname"] = socket.gethostname()  # which lab host, when there are several
    if accelerator:
        facts["accelerator_reason"] = decision.get("reason", "")
    return facts


def _finish(run: LabRun, status: str, error: str = "") -> bool:
    """Record how the run ended — only if it has not ended already (the sweeper may
    have failed it past its deadline; a finished run is never rewritten)."""
    values = {"status": status, "error": error[:4000], "finished_at": timezone.now()}
    if status == Status.SUCCEEDED:
        values |= {"progress_fraction": 1.0, "progress_step": "done"}
    updated = LabRun.objects.filter(pk=run.pk, status__in=LabRun.ACTIVE).update(**values)
    if updated:
        for name, value in values.items():
            setattr(run, name, value)
        if status == Status.SUCCEEDED:
            run_finished.send_robust(LabRun, run=run)  # listeners' errors never fail a run
    return bool(updated)


class _StopCheck:
    """Asks the database whether the run was cancelled, at most twice a second, and
    keeps this host's heartbeat fresh while it runs (a foreground ``run_lab`` has no
    heartbeat thread, and another host must not take it for dead)."""

    def __init__(self, run: LabRun):
        self.run = run
        self.last_check = 0.0
        self.last_beat = time.monotonic()
        self.cancelled = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= CANCEL_POLL_SECONDS:
            self.last_check = now
            self.cancelled = LabRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()
        if now - self.last_beat >= hosts.HEARTBEAT_SECONDS:
            self.last_beat = now
            hosts.touch()
        return self.cancelled or bool(
            self.run.deadline_at and timezone.now() > self.run.deadline_at
        )


def _claim(run_id: int, max_seconds: float) -> LabRun | None:
    """queued → running, only if the run is still queued and still taken by us."""
    now = timezone.now()
    host = hosts.this_host_id()
    claimed = LabRun.objects.filter(
        pk=run_id, status=Status.QUEUED, cancel_requested=False, worker_pid=os.getpid(), host=host
    ).update(
        status=Status.RUNNING,
        started_at=now,
        deadline_at=now + timedelta(seconds=max_seconds),
        worker_pid=os.getpid(),
        host=host,
        progress_step="starting",
    )
    return LabRun.objects.get(pk=run_id) if claimed else None


def _take(run_id: int) -> bool:
    """Mark a queued run as taken by this worker; False if it is no longer queued or
    another worker took it first (a task handed out twice runs once).

    The host and pid say which worker took it: if that worker dies while waiting for
    a slot, its task is not handed to another worker, so the sweeper fails the run
    instead of leaving it queued (and counted against the student's quota) for ever.
    """
    hosts.touch()  # the run's host has a row before any run names it
    return bool(
        LabRun.objects.filter(pk=run_id, status=Status.QUEUED, worker_pid__isnull=True).update(
            progress_step="waiting for a free sandbox slot",
            worker_pid=os.getpid(),
            host=hosts.this_host_id(),
        )
    )


def execute_run(run_id: int) -> LabRun:
    run = LabRun.objects.get(pk=run_id)
    lab = get_lab(run.lab)
    if lab is None:
        _finish(run, Status.FAILED, f"There is no lab called {run.lab!r}.")
        return run
    if run.status != Status.QUEUED or not _take(run_id):
        run.refresh_from_db()
        return run  # cancelled while queued, or already taken by another worker
    try:
        with sandbox_slot(
            wait_seconds=SLOT_WAIT_SECONDS,
            should_give_up=lambda: LabRun.objects.filter(pk=run_id, cancel_requested=True).exists(),
        ):
            claimed = _claim(run_id, lab.max_seconds(run.params))
            if claimed is None:
                run.refresh_from_db()
                if run.cancel_requested and run.status == Status.QUEUED:
                    _finish(run, Status.CANCELLED, "Cancelled before it started.")
                return run
            return _execute_claimed(claimed, lab)
    except NoSlot as exc:
        run.refresh_from_db()
        if run.cancel_requested:
            _finish(run, Status.CANCELLED, "Cancelled before it started.")
        else:
            _finish(run, Status.FAILED, f"The server stayed busy: {exc}. Please try again.")
        return run


def _execute_claimed(run: LabRun, lab) -> LabRun:
    samples: list[dict] = []
    events = None
    try:
        # Claim the id before anything is named after it: if another virtlab on this
        # host holds it, the run fails here, having touched nothing of theirs.
        ownership.claim(run.sandbox_id)
        _save_running(run, host_facts=_host_facts(lab))
        should_stop = _StopCheck(run)
        events = lab.run(
            dict(run.params), RunContext(run_id=run.sandbox_id, should_stop=should_stop)
        )
        for event in events:
            if isinstance(event, Sample):
                samples.append(event.values)
                _save_running(run, results={"samples": samples})
            elif isinstance(event, Progress):
                _save_running(
                    run,
                    progress_step=event.step[:200],
                    progress_fraction=max(0.0, min(1.0, event.fraction)),
                )
            if should_stop():
                raise RunStopped
        summary = lab.summarize(samples, dict(run.params))
        _save_running(run, results={"samples": samples, "summary": summary})
        _finish(run, Status.SUCCEEDED)
    except RunStopped:
        run.refresh_from_db(fields=["cancel_requested", "status"])
        if run.status not in LabRun.ACTIVE:
            pass  # the sweeper ended it and said why; nothing to add
        elif run.cancel_requested:
            _finish(run, Status.CANCELLED, "Cancelled while running; the samples so far are kept.")
        else:
            limit = (run.deadline_at - run.started_at).total_seconds()
            _finish(
                run, Status.FAILED, f"Stopped: the run took longer than its {limit:.0f} s limit."
            )
    except Exception as exc:  # a lab failure is a result to show, not a crash
        log.warning("lab run %s failed:\n%s", run.pk, traceback.format_exc())
        _finish(run, Status.FAILED, f"{type(exc).__name__}: {exc}")
    finally:
        try:
            if events is not None:
                events.close()  # runs the lab's own cleanup (finally blocks) first
        except Exception:  # a failing clean-up must not skip the reaper below
            log.warning("closing lab run %s failed:\n%s", run.pk, traceback.format_exc())
        report = reaper.reap(only={run.sandbox_id})
        if report.errors:
            log.warning("reaping run %s: %s", run.pk, report.errors)
    return run
