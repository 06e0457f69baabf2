"""Two lab workers posing as two lab hosts drain one shared queue: ten real runs,
each executed exactly once, each with the host that ran it recorded (issue 15).

PostgreSQL only: several hosts rely on django-tasks-db handing each task to one
worker with ``SELECT … FOR UPDATE SKIP LOCKED``, which SQLite has no equivalent of
(it serialises whole transactions instead). `make test` runs this module on a
throwaway cluster (scripts/test-postgres). The two workers share this machine's var/
(its guest assets and slots) and differ only in their host id, which is all a host
is to the database.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from labs.experiments import get_lab
from labs.models import LabHost, LabRun
from labs.services import run_create
from tests.conftest import DATABASE_BACKEND_TASKS, start_lab_worker, stop_lab_worker
from tests.labs.leftovers import nothing_left
from tests.labs.test_worker import wait_for

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="needs PostgreSQL: several hosts share a queue through SELECT … FOR UPDATE "
        "SKIP LOCKED (make test runs it on scripts/test-postgres's cluster)",
    ),
]

HOSTS = ("lab-host-a", "lab-host-b")
RUNS = 10
# A cheap real run that boots no VM (a guest booting under TCG on a busy machine may
# time out): four small networks of namespaces, each pair probed once (seconds).
LAB, PARAMS = "networking", {"probes": 1, "port_forward": 0}
# What django-tasks-db's worker logs as its loop starts, and as it starts a task.
WORKER_STARTED = "Starting worker worker_id="
TASK_STARTED = re.compile(r"Task id=(\S+) path=labs\.tasks\.run_lab_task state=RUNNING")


@pytest.fixture
def two_hosts(settings, transactional_db, host_capabilities, tmp_path):
    """A lab worker per host id, each logging to a file of its own."""
    settings.TASKS = DATABASE_BACKEND_TASKS
    workers = {}
    try:
        for host in HOSTS:
            workers[host] = start_lab_worker(log=tmp_path / f"{host}.log", VIRTLAB_HOST_ID=host)
        yield workers
    finally:
        for process in workers.values():
            stop_lab_worker(process)


def started_tasks(log: Path) -> list[str]:
    return TASK_STARTED.findall(log.read_text(errors="replace"))


def test_two_hosts_drain_the_queue_running_each_run_once(two_hosts, tmp_path):
    logs = {host: tmp_path / f"{host}.log" for host in HOSTS}

    def both_taking_tasks():
        for host, process in two_hosts.items():
            if process.poll() is not None:
                pytest.fail(f"the {host} worker exited:\n{logs[host].read_text()[-3000:]}")
        # Logged by each worker as its queue loop starts: after it registered its host
        # and swept, so neither can drain the queue before the other has joined.
        return all(WORKER_STARTED in logs[host].read_text() for host in HOSTS)

    wait_for(both_taking_tasks, 300, "both lab workers to start taking tasks")
    registered = LabHost.objects.filter(host_id__in=HOSTS, capabilities__isnull=False)
    assert registered.count() == len(HOSTS)
    # A class pressing Run at once: one run per student (each has a quota of their own).
    users = get_user_model().objects
    runs = [
        run_create(user=users.create_user(f"student{index}"), lab=get_lab(LAB), params=PARAMS)
        for index in range(RUNS)
    ]
    assert all(run.status == "queued" for run in runs)
    ids = [run.pk for run in runs]

    def all_finished():
        return not LabRun.objects.filter(pk__in=ids, status__in=LabRun.ACTIVE).exists()

    wait_for(all_finished, 900, f"the two hosts to finish {RUNS} runs")
    for process in two_hosts.values():
        assert process.poll() is None, "a lab worker exited while draining the queue"

    runs = list(LabRun.objects.filter(pk__in=ids).order_by("pk"))
    for run in runs:
        assert run.status == "succeeded", (run.pk, run.host, run.error)
        assert run.samples, run.pk  # measured, not just marked done
        # The host recorded is the one whose worker process ran it.
        assert run.host in HOSTS, (run.pk, run.host)
        assert run.worker_pid == two_hosts[run.host].pid, (run.pk, run.host, run.worker_pid)
        assert nothing_left(run.sandbox_id)

    # Each run's task was handed out once, to one worker, and that worker is the
    # same one for every run of a host: the queue's record agrees with the runs'.
    tasks = {str(task.id): task for task in DBTaskResult.objects.all()}
    worker_of_host: dict[str, set[str]] = {host: set() for host in HOSTS}
    for run in runs:
        task = tasks[run.task_id]
        assert task.status == TaskResultStatus.SUCCESSFUL, (run.pk, task.traceback)
        assert task.return_value == "succeeded"
        assert len(task.worker_ids) == 1, (run.pk, task.worker_ids)  # claimed once
        worker_of_host[run.host].add(task.worker_ids[0])
    # Each worker's own log: every task started exactly once, in all, by the worker
    # of the host its run records.
    started = {host: started_tasks(logs[host]) for host in HOSTS}
    counts = Counter(task_id for host in HOSTS for task_id in started[host])
    assert counts == Counter({run.task_id: 1 for run in runs}), counts
    for run in runs:
        assert run.task_id in started[run.host], (run.pk, run.host)

    # Both hosts did work: each polls the queue every 0.1 s and a run takes seconds, so
    # one host taking all ten would mean the queue handed tasks out one at a time.
    done_by = Counter(run.host for run in runs)
    assert set(done_by) == set(HOSTS), done_by
    assert all(len(worker_ids) == 1 for worker_ids in worker_of_host.values()), worker_of_host
    assert worker_of_host[HOSTS[0]] != worker_of_host[HOSTS[1]]
