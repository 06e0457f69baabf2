"""The VM control channel is its own serial port: a guest flooding its console cannot
break commands, and a kernel panic is reported as one, at boot or while running."""

from __future__ import annotations

import time

import pytest

from labs.sandbox import vms
from labs.sandbox.naming import adhoc_run_id
from labs.sandbox.vm_process import CONSOLE_KEEP_LINES

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


def test_commands_work_while_the_guest_floods_its_console(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    with vms.start_vm(run_id, vms.VMOptions(timeout=60)) as vm:
        # A background writer that never stops, without newlines and with them.
        rc, _ = vm.run(
            "(while :; do echo flood-line-flood-line-flood-line; done > /dev/console &);"
            "(cat /dev/zero | tr '\\0' x > /dev/console &); echo started"
        )
        assert rc == 0
        deadline = time.monotonic() + 20
        while vm.process.console_bytes < 256 * 1024 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert vm.process.console_bytes >= 256 * 1024  # it really is flooding
        for index in range(3):
            assert vm.run(f"echo answer-{index}") == (0, f"answer-{index}\n")
        # What people see of the console is bounded, however much the guest printed.
        assert len(vm.process.console) <= CONSOLE_KEEP_LINES
        assert any("flood-line" in line for line in vm.process.console)
    assert_vm_left_nothing(run_id)


def test_a_panic_while_running_is_reported_with_its_line(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    with vms.start_vm(run_id, vms.VMOptions(timeout=60)) as vm:
        with pytest.raises(vms.VMGuestPanic, match="the guest kernel panicked: Kernel panic"):
            vm.run("echo c > /proc/sysrq-trigger", timeout=20)
        assert "sysrq" in vm.process.panic_line.lower()
    assert_vm_left_nothing(run_id)


def test_a_panic_at_boot_is_reported_with_its_line(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    # No init anywhere: the kernel gives up and panics before the marker.
    with pytest.raises(vms.VMGuestPanic, match="the guest kernel panicked: Kernel panic"):
        vms.boot_vm(
            run_id, vms.VMOptions(timeout=60, extra_cmdline="rdinit=/nonexistent init=/nonexistent")
        )
    assert_vm_left_nothing(run_id)
