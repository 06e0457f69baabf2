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
from django.db import connection
from django.utils import timezone

from labs import hosts, runner, slots, stale
from labs.experiments.base import Lab, Sample
from labs.models import LabHost, LabRun
from labs.sandbox import ownership, reaper
from labs.sandbox.paths import scratch_root
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
    values = {"started_at": now, "deadline_at": now + timedelta(minutes=5), **values}
    return LabRun.objects.create(
        lab="boot-race", status="running", host=host_id, worker_pid=dead_pid(), **values
    )


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


# --- nothing runs twice ----------------------------------------------------------


@pytest.fixture
def counted_lab(monkeypatch, no_sandboxes):
    """A lab that counts how often it is started."""
    started = []

    def run(params, ctx):
        started.append(ctx.run_id)
        yield Sample({"n": 1})

    monkeypatch.setattr(runner, "get_lab", lambda slug: make_lab(run))
    return started


def test_a_task_handed_out_twice_runs_once(db, settings, counted_lab):
    settings.VIRTLAB_HOST_ID = "lab-a"
    run = LabRun.objects.create(lab="hosted")
    assert runner.execute_run(run.pk).status == "succeeded"
    again = runner.execute_run(run.pk)  # the task retried, on this or another worker
    assert again.status == "succeeded" and len(counted_lab) == 1


def test_a_run_another_worker_took_is_not_started(db, settings, counted_lab):
    settings.VIRTLAB_HOST_ID = "lab-a"
    waiting_elsewhere = LabRun.objects.create(
        lab="hosted", host="lab-b", worker_pid=4242, progress_step="waiting for a free sandbox slot"
    )
    result = runner.execute_run(waiting_elsewhere.pk)
    assert counted_lab == []
    assert (result.status, result.host, result.worker_pid) == ("queued", "lab-b", 4242)


def test_a_run_taken_over_while_waiting_for_a_slot_is_not_started(
    db, settings, monkeypatch, counted_lab
):
    """Between taking the run and claiming it (queued → running) another worker claims
    it: the claim is conditional on the run still being queued and ours, so this
    worker never starts the lab."""
    from contextlib import contextmanager

    settings.VIRTLAB_HOST_ID = "lab-a"
    run = LabRun.objects.create(lab="hosted")

    @contextmanager
    def slot_after_another_worker_claimed(**kwargs):
        LabRun.objects.filter(pk=run.pk).update(status="running", host="lab-b", worker_pid=4242)
        yield 0

    monkeypatch.setattr(runner, "sandbox_slot", slot_after_another_worker_claimed)
    result = runner.execute_run(run.pk)
    assert counted_lab == []
    assert (result.status, result.host, result.worker_pid) == ("running", "lab-b", 4242)


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


# --- sweeping across hosts -------------------------------------------------------


def test_a_dead_hosts_runs_are_failed_by_another_host_after_the_timeout(db, settings):
    settings.VIRTLAB_HOST_ID = "lab-a"
    settings.VIRTLAB_HOST_DEAD_AFTER = 90
    host_row("lab-a", seen_ago=0)
    quiet = host_row("lab-b", seen_ago=60)  # silent for less than the timeout
    running = running_on("lab-b")
    waiting = LabRun.objects.create(
        lab="boot-race", status="queued", host="lab-b", worker_pid=dead_pid()
    )
    assert stale.fail_stale_runs() == []
    assert LabRun.objects.get(pk=running.pk).status == "running"
    assert LabRun.objects.get(pk=waiting.pk).status == "queued"

    LabHost.objects.filter(pk=quiet.pk).update(
        last_heartbeat=timezone.now() - timedelta(seconds=120)
    )
    assert sorted(stale.fail_stale_runs()) == [running.pk, waiting.pk]
    running.refresh_from_db()
    waiting.refresh_from_db()
    assert running.status == "failed" and running.error == stale.DEAD_HOST_RUNNING
    assert running.finished_at is not None
    assert waiting.status == "failed" and waiting.error == stale.DEAD_HOST_WAITING
    assert stale.fail_stale_runs() == []  # failed once, never rewritten


def test_a_run_whose_host_has_no_row_at_all_counts_as_a_dead_hosts(db, settings):
    settings.VIRTLAB_HOST_ID = "lab-a"
    orphan = running_on("removed-host")
    assert stale.fail_stale_runs() == [orphan.pk]


def test_a_live_hosts_run_is_never_failed_by_another_hosts_sweep(db, settings):
    """Its worker pid means nothing here (it is dead on this machine) and it is past its
    deadline: only its own host may judge those; it is alive, so the run stays."""
    settings.VIRTLAB_HOST_ID = "lab-a"
    host_row("lab-b", seen_ago=1)
    long_ago = timezone.now() - timedelta(hours=2)
    overran = running_on("lab-b", started_at=long_ago, deadline_at=long_ago)
    waiting = LabRun.objects.create(
        lab="boot-race", status="queued", host="lab-b", worker_pid=dead_pid()
    )
    assert stale.fail_stale_runs() == []
    assert LabRun.objects.get(pk=overran.pk).status == "running"
    assert LabRun.objects.get(pk=waiting.pk).status == "queued"
    # Its own host's sweeper does check the pid.
    settings.VIRTLAB_HOST_ID = "lab-b"
    assert sorted(stale.fail_stale_runs()) == [overran.pk, waiting.pk]


def test_a_host_that_comes_back_while_being_swept_keeps_its_run(db, settings, monkeypatch):
    settings.VIRTLAB_HOST_ID = "lab-a"
    returning = host_row("lab-b", seen_ago=600)
    run = running_on("lab-b")
    found = stale._taken_runs

    def found_then_host_returns():
        taken = found()
        assert [r.pk for r in taken[1]] == [run.pk]  # it looked dead when read
        LabHost.objects.filter(pk=returning.pk).update(last_heartbeat=timezone.now())
        return taken

    monkeypatch.setattr(stale, "_taken_runs", found_then_host_returns)
    assert stale.fail_stale_runs() == []
    assert LabRun.objects.get(pk=run.pk).status == "running"


def test_two_sweepers_that_both_saw_a_dead_hosts_run_fail_it_once(db, settings, monkeypatch):
    """Host a reads the dead host's run; host b sweeps in full before a writes; a's
    conditional update then finds the run already failed and leaves it alone."""
    host_row("lab-c", seen_ago=600)
    run = running_on("lab-c")
    found = stale._taken_runs
    failed_by = {}

    def a_reads_then_b_sweeps():
        taken = found()
        if settings.VIRTLAB_HOST_ID == "lab-a":
            settings.VIRTLAB_HOST_ID = "lab-b"
            failed_by["lab-b"] = stale.fail_stale_runs()
            LabRun.objects.filter(pk=run.pk).update(error="failed by b")
            settings.VIRTLAB_HOST_ID = "lab-a"
        return taken

    monkeypatch.setattr(stale, "_taken_runs", a_reads_then_b_sweeps)
    settings.VIRTLAB_HOST_ID = "lab-a"
    failed_by["lab-a"] = stale.fail_stale_runs()
    assert failed_by == {"lab-a": [], "lab-b": [run.pk]}
    assert LabRun.objects.get(pk=run.pk).error == "failed by b"  # a wrote nothing


def test_sweepers_racing_in_threads_fail_each_run_once(transactional_db, settings, monkeypatch):
    settings.VIRTLAB_HOST_ID = "lab-a"  # two workers of one live host, sweeping at once
    host_row("lab-c", seen_ago=600)
    runs = {running_on("lab-c").pk for _ in range(5)}
    both_have_read = threading.Barrier(2, timeout=60)
    found = stale._taken_runs

    def read_then_wait_for_the_other():
        taken = found()
        both_have_read.wait()
        return taken

    monkeypatch.setattr(stale, "_taken_runs", read_then_wait_for_the_other)
    results = []

    def sweeper():
        try:
            results.append(stale.fail_stale_runs())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert sorted(results[0] + results[1]) == sorted(runs)  # each run failed by one
    assert set(LabRun.objects.filter(pk__in=runs).values_list("status", flat=True)) == {"failed"}


@pytest.mark.sandbox
def test_the_sweep_reaps_only_this_instances_sandboxes(db, settings):
    """Two hosts on one machine (two var/ directories, as in a test posing as two):
    host a's sweep removes its own finished run's leftovers and never host b's,
    although b's sandbox id is in a's range and b's run is finished too."""
    settings.VIRTLAB_HOST_ID = "lab-a"
    ours = LabRun.objects.create(lab="boot-race", status="failed", host="lab-a")
    theirs = LabRun.objects.create(lab="boot-race", status="failed", host="lab-b")
    ownership.claim(ours.sandbox_id)
    ownership.claim(theirs.sandbox_id, owner="instance-of-lab-b")
    left = {}
    for run in (ours, theirs):
        left[run.pk] = scratch_root() / f"vl{run.sandbox_id}-hosts-test"
        left[run.pk].mkdir(parents=True)
    try:
        stale.sweep()
        assert not left[ours.pk].exists()
        assert left[theirs.pk].is_dir()
        assert ownership.claimant(theirs.sandbox_id) == "instance-of-lab-b"
    finally:
        reaper.remove_scratch_dir(left[theirs.pk])
        ownership.drop_claim(theirs.sandbox_id)
        ownership.release(ours.sandbox_id)


# --- the doctor, per host --------------------------------------------------------


@pytest.mark.sandbox
def test_sandbox_doctor_json_names_this_host(db, settings):
    import io
    import json

    from django.core.management import call_command

    settings.VIRTLAB_HOST_ID = "lab-a"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("sandbox_doctor", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert exited.value.code == (0 if report["ready"] else 1)
    assert report["host"]["id"] == "lab-a" and report["host"]["hostname"]
    assert {"container-runtime", "cgroups"} <= {cap["name"] for cap in report["capabilities"]}
    assert report["facts"]["kernel"] == os.uname().release
    assert report["slots"]["total"] == settings.VIRTLAB_MAX_RUNNING_SANDBOXES


# --- the lab servers page --------------------------------------------------------


def test_instructors_see_the_lab_servers_and_the_queue(instructor_client, settings):
    from django.urls import reverse

    settings.VIRTLAB_HOST_DEAD_AFTER = 90
    working = host_row("lab-a", seen_ago=3, hostname="lab-node-1")
    LabHost.objects.filter(pk=working.pk).update(
        slots_total=4,
        slots_in_use=1,
        capabilities=[
            {"name": "netns", "ok": True, "detail": "ip netns works", "install": ""},
            {"name": "nftables-netns", "ok": True, "detail": "nft works", "install": ""},
            {"name": "tcg", "ok": False, "detail": "no QEMU here", "install": "apt-get install"},
        ],
        facts={"cpu_model": "Test CPU 9000", "cores": 8, "kernel": "6.1.0-test"},
    )
    host_row("lab-b", seen_ago=3600 * 3, hostname="lab-node-2")
    running_on("lab-a")
    LabRun.objects.create(lab="boot-race")  # waiting for any worker
    LabRun.objects.create(lab="boot-race", host="lab-a", worker_pid=os.getpid())  # for a slot

    response = instructor_client.get(reverse("labs:hosts"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "lab-node-1" in page and "lab-node-2" in page
    assert "1 of 4 slots in use" in page and "1 run running there" in page
    assert "Test CPU 9000, 8 cores" in page and "Linux 6.1.0-test" in page
    assert "Not seen for 3 hours" in page
    assert "2 runs waiting" in page and "1 already picked up by a server" in page
    # What it can run, by lab title, and why not the others.
    can, cannot = page.split("Labs it can run (1)")[1].split("Labs it cannot run")
    assert "Networking modes: who can reach whom?" in can and "Boot race" not in can
    assert "Boot race" in cannot and "no QEMU here" in cannot
    # Linked from the instructor overview.
    assert (
        reverse("labs:hosts") in instructor_client.get(reverse("courseware:teach")).content.decode()
    )


def test_students_and_visitors_do_not_see_the_lab_servers(student_client, client):
    from django.urls import reverse

    assert student_client.get(reverse("labs:hosts")).status_code == 403
    assert client.get(reverse("labs:hosts")).status_code == 302  # to the login page
    host_row("lab-b", seen_ago=3600)
    forget = reverse("labs:host-forget", args=["lab-b"])
    assert student_client.post(forget).status_code == 403
    assert client.post(forget).status_code == 302
    assert LabHost.objects.filter(host_id="lab-b").exists()


def test_a_silent_server_can_be_removed_from_the_list_and_a_working_one_cannot(
    instructor_client, settings
):
    from django.urls import reverse

    settings.VIRTLAB_HOST_DEAD_AFTER = 90
    host_row("lab-a", seen_ago=3, hostname="lab-node-1")
    host_row("lab-b", seen_ago=3600, hostname="lab-node-2")
    run = LabRun.objects.create(lab="boot-race", host="lab-b", status="succeeded")
    page = instructor_client.get(reverse("labs:hosts")).content.decode()
    # Only the silent one offers the button.
    assert "Remove lab-node-2 from this list" in page
    assert "Remove lab-node-1 from this list" not in page
    assert instructor_client.get(reverse("labs:host-forget", args=["lab-b"])).status_code == 405

    response = instructor_client.post(reverse("labs:host-forget", args=["lab-a"]), follow=True)
    assert "lab-a is answering again, so it stays" in response.content.decode()
    assert LabHost.objects.filter(host_id="lab-a").exists()

    response = instructor_client.post(reverse("labs:host-forget", args=["lab-b"]), follow=True)
    assert "Removed lab-b from the lab servers" in response.content.decode()
    assert "lab-node-2" not in response.content.decode()
    assert not LabHost.objects.filter(host_id="lab-b").exists()
    run.refresh_from_db()
    assert run.host == "lab-b"  # its runs keep the name of the machine they ran on
    # A second click (another tab) is told so, and changes nothing.
    response = instructor_client.post(reverse("labs:host-forget", args=["lab-b"]), follow=True)
    assert "lab-b is no longer listed" in response.content.decode()
    assert LabHost.objects.count() == 1


def test_a_server_that_answers_again_before_the_delete_is_kept(db, settings):
    settings.VIRTLAB_HOST_DEAD_AFTER = 90
    host_row("lab-b", seen_ago=3600)
    LabHost.objects.filter(host_id="lab-b").update(last_heartbeat=timezone.now())  # it is back
    assert not hosts.forget("lab-b")
    assert LabHost.objects.filter(host_id="lab-b").exists()


# --- the class spread, by host ---------------------------------------------------


def spread_runs(hosts_by_user: dict[str, str], value: float = 70.0) -> dict[str, LabRun]:
    """A finished boot-race run per student, each on the given host."""
    from django.contrib.auth import get_user_model

    from tests.conftest import PASSWORD
    from tests.labs.test_views import make_run

    runs = {}
    for username, host in hosts_by_user.items():
        user = get_user_model().objects.filter(username=username).first()
        user = user or get_user_model().objects.create_user(username, password=PASSWORD)
        runs[username] = make_run(user)
        LabRun.objects.filter(pk=runs[username].pk).update(host=host)
    return runs


@pytest.fixture
def boot_race_ready(monkeypatch):
    from labs import capabilities
    from labs.experiments import get_lab
    from labs.sandbox.capability import Capability

    caps = {name: Capability(name, True, "ok") for name in get_lab("boot-race").needs}
    monkeypatch.setattr(capabilities, "cached", lambda: (caps, "2026-01-01T00:00:00"))


def test_the_spread_has_a_row_per_host_when_runs_came_from_several(db):
    from labs.distribution import distribution_figure, latest_values
    from labs.experiments import get_lab

    host_row("lab-a", seen_ago=0, hostname="lab-node-1")
    host_row("lab-b", seen_ago=0, hostname="lab-node-2")
    spread_runs({"a1": "lab-a", "a2": "lab-a", "b1": "lab-b"})
    lab = get_lab("boot-race")
    key = lab.predict_keys[0]
    values = latest_values(lab, key)
    fig = distribution_figure(lab, key, values, mine=None, names=True)
    rows = {trace.name: list(trace.text) for trace in fig.data}
    assert rows == {"lab-node-1": ["a1", "a2"], "lab-node-2": ["b1"]}
    assert {trace.y[0] for trace in fig.data} == {"lab-node-1 (2)", "lab-node-2 (1)"}
    assert fig.layout.yaxis.showticklabels and "on 2 lab servers" in fig.layout.title.text
    # One host: one box, no host rows, the title as before.
    LabRun.objects.update(host="lab-a")
    one = distribution_figure(lab, key, latest_values(lab, key), mine=None, names=True)
    assert len(one.data) == 1 and not one.layout.yaxis.showticklabels
    assert "lab server" not in one.layout.title.text


def test_the_pages_say_figures_from_different_hosts_are_not_comparable(
    student, student_client, instructor, instructor_client, boot_race_ready
):
    from django.urls import reverse

    from tests.labs.test_views import enrol

    host_row("lab-a", seen_ago=0, hostname="lab-node-1")
    host_row("lab-b", seen_ago=0, hostname="lab-node-2")
    from courseware.classes.services import class_join

    runs = spread_runs({"stu": "lab-a", "a1": "lab-a", "a2": "lab-a"})
    classroom = enrol(student, instructor)
    class_join(user=runs["a1"].user, code=classroom.join_code)
    lab_url = reverse("labs:detail", args=["boot-race"])
    students_url = reverse("labs:instructor_runs", args=["boot-race"])
    assert "not comparable" not in student_client.get(lab_url).content.decode()
    assert ">Server<" not in instructor_client.get(students_url).content.decode()

    LabRun.objects.filter(pk=runs["a2"].pk).update(host="lab-b")
    body = student_client.get(lab_url).content.decode()
    assert "measured on 2 different lab servers" in body and "not comparable" in body
    LabRun.objects.filter(pk=runs["stu"].pk).update(host="lab-b")
    body = instructor_client.get(students_url).content.decode()
    assert "not comparable" in body and ">Server<" in body and "lab-node-2" in body


# --- what the web tier offers ----------------------------------------------------


def test_labs_are_offered_only_when_every_live_host_can_run_them(db, settings, monkeypatch):
    """The web tier may have no doctor of its own: it reads the live hosts' findings.
    The queue hands a run to any host, so each must be able to run it."""
    from labs import capabilities
    from labs.experiments import get_lab

    monkeypatch.setattr(capabilities, "cache_path", lambda: settings.BASE_DIR / "no-such-file")
    boot_race, networking = get_lab("boot-race"), get_lab("networking")
    assert capabilities.lab_status(boot_race).never_probed  # no host, no file

    everything = [{"name": n, "ok": True, "detail": "fine", "install": ""} for n in boot_race.needs]
    without_qemu = [c for c in everything if c["name"] != "tcg"] + [
        {"name": "tcg", "ok": False, "detail": "QEMU missing", "install": "apt-get install qemu"}
    ]
    netns = [{"name": n, "ok": True, "detail": "fine", "install": ""} for n in networking.needs]
    for host_id, caps in (("lab-a", everything + netns), ("lab-b", without_qemu + netns)):
        LabHost.objects.filter(
            pk=host_row(host_id, seen_ago=1, hostname=f"{host_id}.school").pk
        ).update(capabilities=caps, started_at=timezone.now())
    status = capabilities.lab_status(boot_race)
    assert not status.ready
    assert [(c.name, c.detail) for c in status.missing] == [
        ("tcg", "QEMU missing (on lab-b.school)")
    ]
    assert capabilities.lab_status(networking).ready

    # A dead host takes no runs, so it no longer holds the others back.
    LabHost.objects.filter(host_id="lab-b").update(
        last_heartbeat=timezone.now() - timedelta(hours=1)
    )
    assert capabilities.lab_status(boot_race).ready


def test_a_runs_chart_names_the_machine_it_was_measured_on(student, student_client):
    from tests.labs.test_views import HOST, make_run

    run = make_run(student)
    LabRun.objects.filter(pk=run.pk).update(
        host="lab-b", host_facts={**HOST, "hostname": "lab-node-2"}
    )
    body = student_client.get(run.get_absolute_url()).content.decode()
    assert "Measured on this server (lab-node-2): Test CPU" in body


# --- a host that dies, end to end ------------------------------------------------


@pytest.mark.sandbox
def test_a_killed_hosts_run_is_failed_by_another_host_and_reaped_by_its_own(
    transactional_db, settings, host_capabilities, student, tmp_path
):
    """Host b (a real worker with a var/ instance of its own) is killed mid-run. Host
    a's sweep fails the run once b has been silent past the timeout, and leaves b's
    sandboxes alone; b's next worker reaps them when it starts."""
    import signal

    from labs.experiments import get_lab
    from labs.services import run_create
    from tests.conftest import DATABASE_BACKEND_TASKS, start_lab_worker, stop_lab_worker
    from tests.labs.leftovers import leftovers, nothing_left
    from tests.labs.test_worker import wait_for

    settings.TASKS = DATABASE_BACKEND_TASKS
    # "test-…" like the session's own, so a later session reaps it if this test dies.
    host_b = {"VIRTLAB_HOST_ID": "lab-b", "VIRTLAB_INSTANCE": f"{ownership.instance().id}-b"}
    first_log = tmp_path / "lab-b-first.log"
    worker = start_lab_worker(log=first_log, **host_b)

    def registered() -> bool:
        if worker.poll() is not None:
            pytest.fail(f"host b's worker exited at start:\n{first_log.read_text()[-3000:]}")
        return LabHost.objects.filter(host_id="lab-b", capabilities__isnull=False).exists()

    try:
        wait_for(registered, 120, "host b to register")
        run = run_create(user=student, lab=get_lab("networking"), params={"probes": 1})

        def measuring():
            run.refresh_from_db()
            if run.status in ("failed", "succeeded", "cancelled"):
                pytest.fail(f"the run ended before it was killed: {run.status} {run.error}")
            return run.status == "running" and run.samples

        wait_for(measuring, 180, "host b to record a sample")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_lab_worker(worker)
    assert run.host == "lab-b"
    assert any(leftovers(run.sandbox_id).values())  # b's servers and namespaces

    settings.VIRTLAB_HOST_ID = "lab-a"  # this process sweeps as host a
    settings.VIRTLAB_HOST_DEAD_AFTER = 3
    wait_for(lambda: run.pk in stale.fail_stale_runs(), 60, "host a to fail host b's run")
    run.refresh_from_db()
    assert run.status == "failed" and run.error == stale.DEAD_HOST_RUNNING
    assert run.samples  # what b measured is kept
    stale.sweep()  # host a's reaper: b's sandboxes are not its own
    assert any(leftovers(run.sandbox_id).values())

    log = tmp_path / "lab-b.log"

    def started_lines() -> list[str]:
        return [line for line in log.read_text().splitlines() if "lab worker on host lab-b" in line]

    worker = start_lab_worker(log=log, **host_b)  # b comes back and sweeps first thing
    try:
        wait_for(lambda: nothing_left(run.sandbox_id), 120, "host b to reap what it left")
        # The worker says what its sweep removed only once the sweep is over.
        wait_for(started_lines, 60, "host b to report its start")
    finally:
        stop_lab_worker(worker)
    assert "leftovers: nothing to remove" not in started_lines()[0]  # b's reaper did it
