"""The sweeper's decisions, without a sandbox: which runs it fails and which it reaps."""

import os
import subprocess
import sys
from datetime import timedelta

from labs import stale
from labs.models import LabRun
from labs.sandbox import reaper


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def task_row(status, *, started_at, run_after):
    """A lab run's row in django-tasks-db's queue, in the given state."""
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.create(
        status=status, started_at=started_at, args_kwargs={}, task_path="x",
        backend_name="default", queue_name="labs", run_after=run_after,
    )  # fmt: skip


def test_a_run_claimed_during_the_inventory_keeps_its_sandbox(db, monkeypatch):
    run = LabRun.objects.create(lab="boot-race", status="queued")
    gone = LabRun.objects.create(lab="boot-race", status="failed")

    def inventory(*, keep):
        # A worker claims the run while the host is being scanned, and starts a container.
        LabRun.objects.filter(pk=run.pk).update(status="running")
        return {"containers": [f"runc:vl{run.sandbox_id}-c0", f"runc:vl{gone.sandbox_id}-c0"]}

    reaped = []
    monkeypatch.setattr(reaper, "inventory", inventory)
    monkeypatch.setattr(reaper, "reap", lambda *, only: reaped.append(set(only)))
    stale.reap_leftovers()
    assert reaped == [{gone.sandbox_id}]


def test_a_run_whose_worker_died_waiting_for_a_slot_is_failed(db):
    waiting = LabRun.objects.create(lab="boot-race", status="queued", worker_pid=dead_pid())
    untaken = LabRun.objects.create(lab="boot-race", status="queued")
    alive = LabRun.objects.create(lab="boot-race", status="queued", worker_pid=1)
    assert stale.fail_stale_runs() == [waiting.pk]
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "stopped before this run started" in waiting.error
    assert LabRun.objects.get(pk=untaken.pk).status == "queued"
    assert LabRun.objects.get(pk=alive.pk).status == "queued"


def test_queued_runs_whose_task_is_lost_are_failed(db):
    """A run whose task will never start it must not hold the student's quota for ever;
    one still waiting its turn in a long queue is left alone."""
    from django.tasks.base import TaskResultStatus
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    old = now - stale.ENQUEUE_GRACE - timedelta(minutes=1)

    def queued_run(task_status=None, started_at=None, created_at=old):
        task_id = ""
        if task_status is not None:
            task_id = str(task_row(task_status, started_at=started_at, run_after=old).id)
        return LabRun.objects.create(
            lab="boot-race", status="queued", task_id=task_id, created_at=created_at
        )

    no_task = queued_run()
    task_ended = queued_run(TaskResultStatus.FAILED)
    taken_by_a_lost_worker = queued_run(
        TaskResultStatus.RUNNING, started_at=now - stale.SLOT_WAIT - timedelta(minutes=1)
    )
    waiting_its_turn = queued_run(TaskResultStatus.READY, created_at=now - timedelta(hours=5))
    waiting_for_a_slot = queued_run(TaskResultStatus.RUNNING, started_at=now)
    just_submitted = queued_run(created_at=now)
    failed = stale.fail_stale_runs()
    assert sorted(failed) == sorted([no_task.pk, task_ended.pk, taken_by_a_lost_worker.pk])
    assert "lost its place in the queue" in LabRun.objects.get(pk=no_task.pk).error
    for kept in (waiting_its_turn, waiting_for_a_slot, just_submitted):
        assert LabRun.objects.get(pk=kept.pk).status == "queued"
    # The lost worker's task is ended with the run's reason; the others are untouched.
    task = DBTaskResult.objects.get(pk=taken_by_a_lost_worker.task_id)
    assert task.status == TaskResultStatus.FAILED and task.finished_at is not None
    assert "lost its place in the queue" in task.traceback
    assert task.exception_class_path == "labs.stale.LabWorkerGone"
    assert DBTaskResult.objects.get(pk=task_ended.task_id).traceback == ""
    assert DBTaskResult.objects.get(pk=waiting_for_a_slot.task_id).status == "RUNNING"


def test_the_task_of_a_run_whose_worker_died_is_ended_but_not_an_overrunning_ones(db):
    """Only the worker that claimed a task ends it: when that worker is gone, the
    sweeper ends it with the run; a run past its deadline still has its worker."""
    from django.tasks.base import TaskResultStatus
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()

    def running_run(worker_pid, **values):
        task = task_row(TaskResultStatus.RUNNING, started_at=now, run_after=now)
        return LabRun.objects.create(
            lab="boot-race", status="running", task_id=str(task.id), worker_pid=worker_pid,
            started_at=now, **values,
        )  # fmt: skip

    orphan = running_run(dead_pid())
    overran = running_run(os.getpid(), deadline_at=now - stale.DEADLINE_GRACE * 2)
    assert sorted(stale.fail_stale_runs()) == sorted([orphan.pk, overran.pk])
    ended = DBTaskResult.objects.get(pk=orphan.task_id)
    assert ended.status == TaskResultStatus.FAILED and "lab worker stopped" in ended.traceback
    assert DBTaskResult.objects.get(pk=overran.task_id).status == TaskResultStatus.RUNNING


def test_a_run_failed_by_the_sweeper_is_not_written_to_again(db, monkeypatch):
    from labs import runner
    from labs.experiments.base import Lab, Sample

    def run(params, ctx):
        yield Sample({"n": 1})
        # Meanwhile the sweeper decides the run is stale and fails it.
        LabRun.objects.filter(status="running").update(status="failed", error="swept")
        yield Sample({"n": 2})
        raise AssertionError("the lab should have been stopped")

    lab = Lab(
        slug="swept", title="Swept", summary="", explanation="",
        params=(), needs=(), columns=(), run=run,
        summarize=lambda samples, params: {"n": len(samples)}, figure=lambda *args: None,
        max_seconds=lambda params: 60.0,
    )  # fmt: skip
    monkeypatch.setattr(runner, "get_lab", lambda slug: lab)
    monkeypatch.setattr(runner, "_host_facts", lambda lab: {})
    monkeypatch.setattr(reaper, "reap", lambda *, only: reaper.ReapReport())
    swept = LabRun.objects.create(lab=lab.slug)
    runner.execute_run(swept.pk)
    swept.refresh_from_db()
    assert swept.status == "failed" and swept.error == "swept"
    assert swept.results == {"samples": [{"n": 1}]}


def test_a_lab_whose_clean_up_fails_is_still_reaped(db, monkeypatch):
    from labs import runner
    from labs.experiments.base import Lab, Sample

    def run_then_break_on_close(params, ctx):
        try:
            yield Sample({"n": 1})
            yield Sample({"n": 2})
        finally:
            raise OSError("clean-up failed")

    lab = Lab(
        slug="broken-cleanup", title="Broken", summary="", explanation="",
        params=(), needs=(), columns=(), run=run_then_break_on_close,
        summarize=lambda samples, params: {}, figure=lambda *args: None,
        max_seconds=lambda params: 0.0,  # past its deadline at the first sample
    )  # fmt: skip
    monkeypatch.setattr(runner, "get_lab", lambda slug: lab)
    monkeypatch.setattr(runner, "_host_facts", lambda lab: {})
    reaped = []
    monkeypatch.setattr(
        reaper, "reap", lambda *, only: reaped.append(set(only)) or reaper.ReapReport()
    )
    run = LabRun.objects.create(lab=lab.slug)
    runner.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "limit" in run.error
    assert reaped == [{run.sandbox_id}]


def test_the_sweeper_leaves_other_databases_sandboxes_alone(db, monkeypatch, settings):
    """Another database on this host (a class server beside a test run) has sandbox ids
    outside this one's range: they are never ours to reap."""
    mine = LabRun.objects.create(lab="boot-race", status="failed")
    foreign_id = settings.VIRTLAB_SANDBOX_ID_BASE + settings.VIRTLAB_SANDBOX_ID_SPAN + 5
    listing = [f"runc:vl{mine.sandbox_id}-c0", f"runc:vl{foreign_id}-c0", "runc:vl3-c0"]
    reaped = []
    monkeypatch.setattr(reaper, "inventory", lambda *, keep: {"containers": listing})
    monkeypatch.setattr(reaper, "reap", lambda *, only: reaped.append(set(only)))
    stale.reap_leftovers()
    assert reaped == [{mine.sandbox_id}]


def test_a_running_runs_pid_reused_by_a_newer_process_counts_as_dead(db):
    """A restarted container numbers its processes as before: the new worker often has
    the dead worker's pid. A process that started after the run did is not its worker."""
    from django.utils import timezone

    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reused = LabRun.objects.create(
            lab="boot-race",
            status="running",
            worker_pid=newer.pid,
            started_at=timezone.now() - timedelta(minutes=1),
            deadline_at=timezone.now() + timedelta(minutes=10),
        )
        # This test process started before this run did: still its worker.
        ours = LabRun.objects.create(
            lab="boot-race",
            status="running",
            worker_pid=os.getpid(),
            started_at=timezone.now(),
            deadline_at=timezone.now() + timedelta(minutes=10),
        )
        assert stale.fail_stale_runs() == [reused.pk]
        assert "lab worker stopped" in LabRun.objects.get(pk=reused.pk).error
        assert LabRun.objects.get(pk=ours.pk).status == "running"
    finally:
        newer.kill()
        newer.wait()
