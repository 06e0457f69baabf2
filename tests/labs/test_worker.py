"""The background path: django-tasks-db's worker runs lab runs; a killed worker's
run is failed with a clear reason and leaves nothing behind once the reaper runs."""

import os
import signal
import socket
import time

import pytest

from labs.experiments import get_lab
from labs.hosts import this_host_id
from labs.models import LabRun
from labs.sandbox import reaper
from labs.services import run_create
from labs.stale import sweep
from tests.labs.leftovers import leftovers, nothing_left

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_worker_executes_a_queued_run(lab_worker, student):
    run = run_create(user=student, lab=get_lab("boot-race"), params={"repeats": 1})
    assert run.status == "queued"

    def finished():
        run.refresh_from_db()
        return run.status in LabRun.FINISHED

    wait_for(finished, 120, "the worker to finish the run")
    assert run.status == "succeeded", run.error
    assert {s["series"] for s in run.samples} >= {"container", "vm"}
    assert run.worker_pid == lab_worker.pid
    assert run.host == this_host_id()  # the worker is this test's instance
    assert run.host_facts["hostname"] == socket.gethostname()  # named under its chart
    assert nothing_left(run.sandbox_id)


def test_the_worker_registers_its_host_and_heartbeats(lab_worker):
    from labs.models import LabHost

    def registered():
        return LabHost.objects.filter(host_id=this_host_id(), capabilities__isnull=False).first()

    row = wait_for(registered, 120, "the worker to register its host")
    assert row.started_at and row.hostname and row.facts["kernel"]
    assert "container-runtime" in {cap["name"] for cap in row.capabilities}
    first = row.last_heartbeat
    wait_for(lambda: LabHost.objects.get(pk=row.pk).last_heartbeat > first, 60, "a heartbeat")


def test_killed_worker_leaves_nothing_after_the_sweep(lab_worker, student):
    run = run_create(user=student, lab=get_lab("boot-race"), params={"repeats": 4})

    def booting_a_vm():
        run.refresh_from_db()
        return run.status == "running" and run.progress_step.startswith("VM boot")

    wait_for(booting_a_vm, 120, "the run to start booting a VM")
    time.sleep(0.5)  # let QEMU get going
    os.kill(lab_worker.pid, signal.SIGKILL)
    lab_worker.wait(timeout=10)

    failed, _report = sweep()
    run.refresh_from_db()
    assert run.pk in failed
    assert run.status == "failed" and "lab worker stopped" in run.error
    assert run.samples  # what was measured before the crash is kept
    assert nothing_left(run.sandbox_id), reaper.inventory(only={run.sandbox_id})
    # The failed run no longer counts against the student's quota: they can run again.
    again = run_create(user=student, lab=get_lab("boot-race"), params={"repeats": 1})
    assert again.status == "queued"


# The VM-side labs, with small parameters: each is killed once it has recorded a sample,
# so its guests, disks or namespaces are up and part of the run is measured.
KILLED_MID_RUN = {
    "vm-disks": {"virtual_gib": 1, "write_mib": 8, "chain_length": 1, "read_repeats": 1,
                 "clones": 1, "full_disk_mib": 16},
    "desktop-capacity": {"max_users": 2, "session_mib": 4, "rds_memory_mib": 192,
                         "vdi_memory_mib": 128, "idle_seconds": 0.5, "busy_iterations": 2000},
    "networking": {"probes": 1},
    "orchestration": {"scenario": 3, "replicas": 2, "rate": 10, "window_seconds": 6},
    "images": {"variant": 1, "deps_mib": 1},
    "sandboxed-containers": {"repeats": 5},
}  # fmt: skip
# What the dead worker must have left for the sweep to remove, by lab.
LEFT_BY_THE_DEAD_WORKER = {
    "vm-disks": {"processes", "mounts", "scratch_dirs"},  # QEMU, the small tmpfs, the images
    "desktop-capacity": {"processes", "scratch_dirs"},  # the session host's QEMU
    "networking": {"processes", "netns"},  # the TCP servers and the namespaces
    # the client, the pods' namespaces, their runc containers and cgroups
    "orchestration": {"processes", "netns", "containers", "cgroups"},
    # the registry (and podman, building), its namespaces, cgroups and the podman store
    "images": {"processes", "netns", "cgroups", "scratch_dirs"},
    "sandboxed-containers": {"processes", "scratch_dirs"},  # the shared VM's QEMU
}
# Labs whose first sample comes before anything is left running: killed at a later step.
KILL_AT_STEP = {"sandboxed-containers": "container in the running VM"}


@pytest.mark.parametrize("slug", list(KILLED_MID_RUN))
def test_a_vm_side_lab_killed_mid_run_leaves_nothing_after_the_sweep(lab_worker, student, slug):
    run = run_create(user=student, lab=get_lab(slug), params=KILLED_MID_RUN[slug])

    def measuring():
        run.refresh_from_db()
        at_step = run.progress_step.startswith(KILL_AT_STEP.get(slug, ""))
        return run.status == "running" and run.samples and at_step

    wait_for(measuring, 180, f"the {slug} run to record a sample")
    os.kill(lab_worker.pid, signal.SIGKILL)
    lab_worker.wait(timeout=10)
    run.refresh_from_db()
    assert run.status == "running", run.error  # killed mid-run, not after it ended
    left = leftovers(run.sandbox_id)
    assert {kind for kind, names in left.items() if names} >= LEFT_BY_THE_DEAD_WORKER[slug], left

    failed, _report = sweep()
    run.refresh_from_db()
    assert run.pk in failed
    assert run.status == "failed" and "lab worker stopped" in run.error
    assert run.samples  # what was measured before the crash is kept
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)
