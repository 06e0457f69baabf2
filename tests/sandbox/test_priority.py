"""Sandboxes run below the web server's CPU priority: a low cgroup CPU share for all of
them together, and a positive nice for every process, read from the kernel for real
sandboxes (no timings)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from labs.sandbox import cgroups, containers, proc, vms
from labs.sandbox.limits import Limits
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox

LIMITS = Limits(wall_seconds=20, memory_mib=64, pids=32)


def nice_of(pid: int) -> int:
    # Field 19 of /proc/<pid>/stat; the command name (field 2) may hold spaces.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def cpu_share_above(pid: int) -> int:
    """The CPU share of the ``virtlab`` group ``pid`` runs under (read from the kernel)."""
    if cgroups.mode() == "v2":
        top, knob = cgroups.CGROUP_ROOT, "cpu.weight"
        wanted = next(line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())
        path = wanted.split(":", 2)[2]
    else:
        top, knob = cgroups.v1_mountpoints()["cpu"], "cpu.shares"
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        path = next(
            line.split(":", 2)[2] for line in lines if "cpu" in line.split(":")[1].split(",")
        )
    parts = path.strip("/").split("/")
    assert parts[0] == cgroups.PARENT, f"{pid} runs in {path}, not below {cgroups.PARENT}"
    return int((top / cgroups.PARENT / knob).read_text())


def assert_below_the_web_server(pids: set[int]) -> None:
    assert pids
    web_nice = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in pids:
        assert nice_of(pid) >= proc.SANDBOX_NICE > web_nice
        assert cpu_share_above(pid) == cgroups.value_wanted() < cgroups.sandbox_cpu_share()[1]


@pytest.fixture
def cpu_controller():
    if os.geteuid() != 0:
        pytest.skip("cgroups need root")
    if cgroups.sandbox_cpu_share() is None and "cpu" not in cgroups.v1_mountpoints():
        pytest.skip("no cpu cgroup controller here")


def test_a_started_container_runs_below_the_web_server(
    run_id, runtime, cpu_controller, no_leftovers
):
    # runc starts detached without a hook; bwrap with one: both paths are covered.
    with containers.start_container(run_id, ["sleep", "30"], LIMITS, runtime=runtime) as handle:
        assert_below_the_web_server(handle.group.pids())
    no_leftovers(run_id)


def test_a_run_container_sees_its_own_nice_inside(run_id, runtime, cpu_controller, no_leftovers):
    result = containers.run_container(run_id, ["cat", "/proc/self/stat"], LIMITS, runtime=runtime)
    assert result.exit_code == 0, result.stderr
    inside_nice = int(result.stdout.decode().rsplit(")", 1)[1].split()[16])
    assert inside_nice >= proc.SANDBOX_NICE
    no_leftovers(run_id)


def test_a_process_in_its_own_cgroup_runs_below_the_web_server(
    run_id, cpu_controller, no_leftovers
):
    # The way the emulation loops run (emulation._timed): a run-named group, joined
    # before exec by proc.run's hook.
    group = cgroups.create(f"vl{run_id}-prio", pids=8)
    try:
        result = proc.run(
            ["sh", "-c", "cat /proc/self/stat; cat /proc/self/cgroup"],
            run_id=run_id,
            wall_seconds=10,
            cgroup=group,
        )
    finally:
        group.remove()
    stat, *cgroup_lines = result.stdout.decode().splitlines()
    assert int(stat.rsplit(")", 1)[1].split()[16]) >= proc.SANDBOX_NICE
    assert any(f"/{cgroups.PARENT}/vl{run_id}-prio" in line for line in cgroup_lines)
    share, web_share = cgroups.sandbox_cpu_share()
    assert share < web_share
    no_leftovers(run_id)


def test_qemu_runs_below_the_web_server(qemu, cpu_controller):  # noqa: F811
    """QEMU is spawned with proc.make_preexec into a run-named group: both apply."""
    run_id = adhoc_run_id()
    with vms.start_vm(run_id, vms.VMOptions(timeout=60)) as vm:
        assert_below_the_web_server({vm.pid})
    assert_vm_left_nothing(run_id)


def test_spawning_leaves_the_callers_priority_alone(run_id):
    """The caller (the lab worker) keeps its own nice on every thread."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    result = proc.run(["cat", "/proc/self/stat"], run_id=run_id, wall_seconds=10)
    assert int(result.stdout.decode().rsplit(")", 1)[1].split()[16]) >= proc.SANDBOX_NICE
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    seen: list[int] = []
    other = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0)))
    other.start()
    other.join()
    assert seen == [before]


def test_the_preexec_hook_lowers_priority_where_threads_cannot(run_id, monkeypatch):
    """Without a way to restore a thread's nice, a spawn gets the hook instead."""
    monkeypatch.setattr(proc, "_thread_nice_returns", lambda: False)
    assert proc.priority_hook() is not None
    result = proc.run(["cat", "/proc/self/stat"], run_id=run_id, wall_seconds=10)
    assert int(result.stdout.decode().rsplit(")", 1)[1].split()[16]) >= proc.SANDBOX_NICE


def test_the_doctor_says_what_priority_sandboxes_get(cpu_controller):
    found = {capability.name: capability for capability in cgroups.capabilities()}
    priority = found["sandbox-priority"]
    assert priority.ok
    assert f"nice {proc.SANDBOX_NICE}" in priority.detail
    assert str(cgroups.value_wanted()) in priority.detail
