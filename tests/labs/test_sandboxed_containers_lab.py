"""sandboxed-containers through the real sandbox: a runc container on the host, and
containers made of namespaces and a cgroup inside real QEMU guests."""

import pytest

from labs.experiments import get_lab
from labs.experiments.sandboxed_containers import MODES, parse_workload
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox.guest_containers import container_script
from tests.labs.leftovers import leftovers, nothing_left


@pytest.fixture
def finished_run(db, host_capabilities):
    lab = get_lab("sandboxed-containers")
    params, errors = lab.validate({"repeats": 1})
    assert not errors
    run = LabRun.objects.create(lab=lab.slug, params=params)
    return execute_run(run.pk)


@pytest.mark.sandbox
def test_each_way_of_starting_runs_the_workload_and_shows_its_boundary(finished_run):
    run = finished_run
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    by_mode = {sample["mode"]: sample for sample in run.samples}
    assert set(by_mode) == set(MODES)
    host = by_mode["container"]
    # The host container is answered by the host's kernel and sees the host's disks
    # listed; everything in a VM is answered by the guest kernel, which has no disks.
    assert host["host_kernel_answers"] is True
    for mode in ("warm", "restored", "vm", "cold"):
        sample = by_mode[mode]
        assert sample["host_kernel_answers"] is False, mode
        assert sample["kernel"] != host["kernel"], mode
        assert sample["host_disks_listed"] == 0, mode
        assert sample["pss_mib"] > host["pss_mib"], mode  # a QEMU process, not a shell
    # A container (on the host or in a guest) has its own PID namespace: its shell is
    # PID 1 and the only process it sees; the bare guest shows its init and kernel threads.
    for mode in ("container", "warm", "restored", "cold"):
        assert by_mode[mode]["pid1"] == "sh" and by_mode[mode]["processes"] == 1, mode
    assert by_mode["vm"]["pid1"] == "init" and by_mode["vm"]["processes"] > 1
    summary = run.summary
    assert summary["cold_over_container"] == pytest.approx(
        summary["median_cold_seconds"] / summary["median_container_seconds"], rel=0.05
    )
    assert summary["container_sees_host_kernel"] is True
    assert summary["sandboxed_sees_host_kernel"] is False
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)


@pytest.mark.sandbox
def test_the_figure_has_both_panels(finished_run):
    run = finished_run
    lab = get_lab("sandboxed-containers")
    fig = lab.figure(run.samples, run.summary, run.host_facts)
    boxes = [trace for trace in fig.data if trace.type == "box"]
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert len(boxes) == len(MODES) and len(bars) == 1
    assert fig.layout.yaxis.type == "log"


@pytest.mark.parametrize("params", [{"repeats": 0}, {"repeats": 6}, {"repeats": "x"}, {"vms": 2}])
def test_bad_parameters_are_refused(params):
    _cleaned, errors = get_lab("sandboxed-containers").validate(params)
    assert errors


def test_the_in_guest_container_script_limits_and_cleans_up():
    script = container_script("c1", "echo hi", memory_bytes=1 << 25, pids=16)
    assert "echo 33554432 > /sys/fs/cgroup/c1/memory.max" in script
    assert "echo 16 > /sys/fs/cgroup/c1/pids.max" in script
    assert "unshare --fork --pid --mount --uts --ipc --net --mount-proc" in script
    assert script.rstrip().endswith("exit $rc") and "rmdir /sys/fs/cgroup/c1" in script
    for bad in ("C1", "1c", "a/b", "c1; reboot", ""):
        with pytest.raises(ValueError):
            container_script(bad, "true", memory_bytes=1, pids=1)
    with pytest.raises(ValueError):
        container_script("c1", "true", memory_bytes=0, pids=1)


def test_the_workload_output_is_read_after_its_start_line():
    facts = parse_workload("noise\nstarted\nkernel 6.1\npid1 sh\nprocesses 1\nboot_id x\n")
    assert facts == {"kernel": "6.1", "pid1": "sh", "processes": "1", "boot_id": "x"}
    with pytest.raises(RuntimeError, match="did not start"):
        parse_workload("sh: unshare: not found\n")
