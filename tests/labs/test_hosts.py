"""Several lab hosts on one database: which host ran a run, heartbeats, and sweeping
across hosts (docs/architecture.md, "Several lab hosts").

Database-agnostic: the PostgreSQL run of the suite runs this module too. Other hosts
are rows and runs this test writes; the sweepers are this process posing as each
host in turn (VIRTLAB_HOST_ID), which is all a host is to the database.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from labs import hosts, runner, slots
from labs.experiments.base import Lab, Sample
from labs.models import LabHost, LabRun
from labs.sandbox import reaper
from tests.labs.test_stale import dead_pid


def make_lab(run, slug: str = "hosted") -> Lab:
    return Lab(
        slug=slug, title="Hosted", summary="", explanation="",
        params=(), needs=(), columns=(), run=run,
        summarize=lambda samples, params: {"n": len(samples)}, figure=lambda *args: None,
        max_seconds=lambda params: 60.0,
    )  # fmt: skip


@pytest.fixture
def no_sandboxes(monkeypatch):
    """The runner's database side alone: no host facts probed, nothing to reap."""
    monkeypatch.setattr(runner, "_host_facts", lambda lab: {})
    monkeypatch.setattr(reaper, "reap", lambda *, only: reaper.ReapReport())


@pytest.fixture
def own_slots(monkeypatch, tmp_path):
    """Slots in a var/ of this test's own, so other processes' slots are not counted."""
    monkeypatch.setattr(slots, "var_dir", lambda: tmp_path)
    return tmp_path


def host_row(host_id: str, *, seen_ago: float, hostname: str = "") -> LabHost:
    return LabHost.objects.create(
        host_id=host_id,
        hostname=hostname or host_id,
        last_heartbeat=timezone.now() - timedelta(seconds=seen_ago),
    )


def running_on(host_id: str, **values) -> LabRun:
    now = timezone.now()
    return LabRun.objects.create(
        lab="boot-race", status="running", host=host_id, worker_pid=dead_pid(),
        started_at=now, deadline_at=now + timedelta(minutes=5), **values,
    )  # fmt: skip


# --- which host ran a run --------------------------------------------------------


def test_the_host_is_recorded_when_the_run_starts(db, monkeypatch, no_sandboxes, settings):
    settings.VIRTLAB_HOST_ID = "lab-a"
    seen_while_running = []

    def run(params, ctx):
        seen_while_running.append(LabRun.objects.values("status", "host", "worker_pid").get())
        yield Sample({"n": 1})

    monkeypatch.setattr(runner, "get_lab", lambda slug: make_lab(run))
    created = LabRun.objects.create(lab="hosted")
    assert created.host == ""
    done = runner.execute_run(created.pk)
    done.refresh_from_db()
    assert done.status == "succeeded", done.error
    assert done.host == "lab-a" and done.worker_pid == os.getpid()
    # Set with the pid when it became running, not afterwards.
    assert seen_while_running == [{"status": "running", "host": "lab-a", "worker_pid": os.getpid()}]
    # Every host that ran a run has a row, even one without a worker (run_lab).
    assert LabHost.objects.filter(host_id="lab-a").exists()


def test_the_host_id_defaults_to_the_instance(settings):
    from labs.sandbox import ownership

    settings.VIRTLAB_HOST_ID = None
    assert hosts.this_host_id() == ownership.instance().id
    settings.VIRTLAB_HOST_ID = "rack-3"
    assert hosts.this_host_id() == "rack-3"


# --- heartbeats ------------------------------------------------------------------


def test_a_heartbeat_moves_the_hosts_clock_and_counts_the_slots_held(db, settings, own_slots):
    settings.VIRTLAB_HOST_ID = "lab-a"
    settings.VIRTLAB_MAX_RUNNING_SANDBOXES = 3
    long_ago = timezone.now() - timedelta(hours=1)
    LabHost.objects.create(host_id="lab-a", last_heartbeat=long_ago)
    with slots.sandbox_slot(wait_seconds=0):
        hosts.touch()
        row = LabHost.objects.get(host_id="lab-a")
        assert row.last_heartbeat > long_ago
        assert (row.slots_in_use, row.slots_total) == (1, 3)
    hosts.touch()
    assert LabHost.objects.get(host_id="lab-a").slots_in_use == 0


def test_the_heartbeat_thread_keeps_the_row_fresh(transactional_db, settings):
    settings.VIRTLAB_HOST_ID = "lab-a"
    long_ago = timezone.now() - timedelta(hours=1)
    LabHost.objects.create(host_id="lab-a", last_heartbeat=long_ago)
    stop = threading.Event()
    beating = threading.Thread(target=hosts.heartbeat_forever, args=(stop, 0.05))
    beating.start()
    try:
        deadline = time.monotonic() + 30
        while LabHost.objects.get(host_id="lab-a").last_heartbeat == long_ago:
            assert time.monotonic() < deadline, "the heartbeat thread never touched the row"
            time.sleep(0.05)
    finally:
        stop.set()
        beating.join()
    assert hosts.live_hosts().filter(host_id="lab-a").exists()


def test_registering_records_capabilities_and_refuses_a_live_hosts_id(db, settings):
    from labs.sandbox.capability import Capability

    settings.VIRTLAB_HOST_ID = "lab-a"
    hosts.register([Capability("kvm", True, "a probe guest booted")])
    row = LabHost.objects.get(host_id="lab-a")
    assert row.capabilities == [
        {"name": "kvm", "ok": True, "detail": "a probe guest booted", "install": ""}
    ]
    assert row.facts["kernel"] and row.facts["cores"] and row.started_at
    # The same id used from another var/ directory while the first host lives: refused.
    LabHost.objects.filter(pk=row.pk).update(instance_id="another-instance")
    with pytest.raises(hosts.HostIdTaken, match="VIRTLAB_HOST_ID"):
        hosts.register([])
