"""The VM driver against real QEMU guests (TCG here: KVM hangs on this host)."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from labs.sandbox import cgroups, guest_assets, vms
from labs.sandbox.naming import adhoc_run_id, run_prefix

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module", params=["cold", "snapshot"])
def vm(request, qemu):  # noqa: F811
    """A booted guest, and one restored from a snapshot: both must pass every test."""
    run_id = adhoc_run_id()
    handle = vms.start_vm(run_id, vms.VMOptions(timeout=60, start=request.param))
    assert handle.boot.extra["start"] == request.param
    yield handle
    handle.stop()
    assert_vm_left_nothing(run_id)


def test_command_runs_in_the_guest_kernel_not_the_hosts(vm):
    rc, output = vm.run("uname -r")
    assert rc == 0
    assert output.strip() == guest_assets.kernel_version()
    assert output.strip() != platform.release()


def test_exit_status_stderr_and_exact_output_come_back(vm):
    assert vm.run("echo out; echo err >&2; exit 3") == (3, "out\nerr\n")
    assert vm.run("printf 'no newline'") == (0, "no newline")
    assert vm.run("true") == (0, "")


def test_a_command_past_its_limit_is_killed_in_the_guest(vm):
    rc, _ = vm.run("sleep 30", timeout=1)
    assert rc == 137  # SIGKILL from the guest's timeout
    assert vm.run("echo still-serving") == (0, "still-serving\n")


def test_memory_and_qmp_of_a_running_vm(vm):
    memory = vm.memory()
    assert memory["rss_bytes"] > 32 << 20
    assert memory["pss_bytes"] > 0
    assert memory["peak_rss_bytes"] >= memory["rss_bytes"]
    assert vm.qmp("query-status")["status"] == "running"
    assert vm.boot.accelerator in ("kvm", "tcg")
    assert vm.boot.guest_uptime_seconds > 0


def _limit(group: cgroups.Cgroup, controller: str, v1_file: str, v2_file: str) -> str:
    directory = group.dirs.get("unified") or group.dirs[controller]
    return (directory / (v2_file if group.unified else v1_file)).read_text().strip()


def test_qemu_runs_confined_in_its_cgroup(vm):
    """Memory, pids and CPU are capped for QEMU as for containers, and it is the OOM
    killer's first choice."""
    group = vm.process.cgroup
    expected = vms.QemuLimits.for_guest(vm.boot.memory_mib, vm.boot.vcpus)
    assert vm.process.pid in group.pids()
    assert expected.memory_bytes == (vm.boot.memory_mib + vms.QEMU_OVERHEAD_MIB) << 20
    assert _limit(group, "memory", "memory.limit_in_bytes", "memory.max") == str(
        expected.memory_bytes
    )
    assert _limit(group, "pids", "pids.max", "pids.max") == str(expected.pids)
    quota = _limit(group, "cpu", "cpu.cfs_quota_us", "cpu.max").split()[0]
    assert int(quota) == cgroups.CFS_PERIOD_US * (vm.boot.vcpus * 100 + 50) // 100
    oom_score_adj = Path(f"/proc/{vm.process.pid}/oom_score_adj").read_text()
    assert oom_score_adj.strip() == "1000"
    limits = Path(f"/proc/{vm.process.pid}/limits").read_text().splitlines()
    soft = {line[:26].strip(): line[26:].split()[0] for line in limits[1:]}
    assert soft["Max core file size"] == "0"
    assert soft["Max open files"] == str(expected.open_files)
    assert soft["Max file size"] == str(expected.file_size_bytes)


def test_boot_result_records_figures_and_the_cgroup_goes_away(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    result = vms.boot_vm(run_id, vms.VMOptions(memory_mib=96, timeout=60))
    assert result.memory_mib == 96 and result.vcpus == 1
    assert result.machine == "microvm"
    assert result.accelerator == vms.decide_accelerator()["accelerator"]
    assert result.accelerator_reason
    assert result.qemu_version[0].isdigit()
    assert result.kernel_release == guest_assets.kernel_version()
    assert 0 < result.boot_wall_seconds <= result.total_wall_seconds
    assert result.poweroff_seconds is not None
    assert result.peak_rss_bytes >= result.rss_bytes_at_boot > 0
    assert result.cgroup_memory_bytes == (96 + vms.QEMU_OVERHEAD_MIB) << 20
    assert not [p for p in cgroups.list_run_groups() if p.name.startswith(run_prefix(run_id))]
    assert_vm_left_nothing(run_id)


def test_a_guest_whose_init_hangs_times_out_and_leaves_nothing(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    # /bin/sh as init waits on the console forever and never prints the boot marker.
    with pytest.raises(vms.VMBootTimeout, match=r"boot timeout after 4 s"):
        vms.boot_vm(run_id, vms.VMOptions(extra_cmdline="rdinit=/bin/sh", timeout=4, accel="tcg"))
    assert_vm_left_nothing(run_id)


def test_a_bogus_kernel_fails_clearly_and_leaves_nothing(qemu, tmp_path, monkeypatch):  # noqa: F811
    bogus = tmp_path / "vmlinuz"
    bogus.write_bytes(b"\x00not a kernel" * 4096)
    monkeypatch.setattr(guest_assets, "kernel_path", lambda: bogus)
    run_id = adhoc_run_id()
    with pytest.raises(vms.VMError, match=r"boot timeout after 4 s|QEMU exited"):
        vms.boot_vm(run_id, vms.VMOptions(timeout=4, accel="tcg", machine="microvm"))
    assert_vm_left_nothing(run_id)


@pytest.mark.parametrize(
    ("memory_mib", "vcpus", "why"),
    [
        (10 << 20, 1, "outside"),  # ten TiB
        (16, 1, "outside"),
        (128, 4096, "cores"),
        (128, 0, "cores"),
    ],
)
def test_requests_beyond_the_host_are_refused_before_anything_starts(memory_mib, vcpus, why):
    run_id = adhoc_run_id()
    with pytest.raises(vms.VMRequestError, match=why):
        vms.boot_vm(run_id, vms.VMOptions(memory_mib=memory_mib, vcpus=vcpus, accel="tcg"))
    assert_vm_left_nothing(run_id)


def test_accelerator_capabilities_say_why():
    capabilities = {c.name: c for c in vms.capabilities()}
    assert set(capabilities) == {"kvm", "tcg"}
    assert capabilities["kvm"].detail
    if not capabilities["kvm"].ok:
        assert vms.decide_accelerator()["accelerator"] == "tcg"
        assert capabilities["tcg"].ok
