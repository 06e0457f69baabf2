"""Native vs qemu-user vs a VM, all running the same busybox loop for real."""

from __future__ import annotations

import shutil

import pytest

from labs.sandbox import emulation
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def qemu_user(built_assets):  # noqa: F811
    if shutil.which(emulation.QEMU_USER) is None:
        pytest.skip(f"{emulation.QEMU_USER} is missing: {emulation.INSTALL_QEMU_USER}")


def test_qemu_user_is_slower_than_native(qemu_user):
    result = emulation.compare(iterations=20_000)
    assert result.native.iterations == result.emulated.iterations == 20_000
    assert result.native.wall_seconds > 0 and result.emulated.wall_seconds > 0
    assert result.native.cpu_seconds is not None and result.emulated.cpu_seconds > 0
    assert result.slowdown_user > 1
    assert result.vm is None
    assert emulation.capabilities()[0].ok


def test_the_loop_runs_inside_a_vm_timed_by_the_guest_clock(qemu, qemu_user):  # noqa: F811
    run_id = adhoc_run_id()
    timing = emulation.run_in_vm(20_000, run_id)
    assert timing.mode.startswith("vm-")
    assert timing.clock == "guest /proc/uptime"
    assert timing.extra["host_wall_seconds"] > 0
    assert_vm_left_nothing(run_id)


def test_iterations_are_bounded():
    with pytest.raises(ValueError, match="iterations"):
        emulation.loop_script(emulation.MAX_ITERATIONS + 1)
