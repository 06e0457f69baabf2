"""An interactive shell on a real guest's third serial port (vm_terminals.py), for a
booted guest and one restored from a snapshot."""

from __future__ import annotations

import time

import pytest

from labs.sandbox import guest_assets, vms
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401
from .test_terminals import read_until

pytestmark = pytest.mark.sandbox
PROMPT = b"/ # "


@pytest.fixture(scope="module", params=["cold", "snapshot"])
def vm(request, qemu):  # noqa: F811
    run_id = adhoc_run_id()
    handle = vms.start_vm(
        run_id, vms.VMOptions(timeout=60, start=request.param, terminal=True, name="term")
    )
    yield handle
    handle.stop()
    assert_vm_left_nothing(run_id)


def test_the_shell_runs_on_the_guest_kernel_and_the_protocol_is_untouched(vm):
    with vm.open_terminal() as terminal:
        read_until(terminal, PROMPT, timeout=60)
        terminal.write(b"uname -r; tty; echo VIRTLAB-END fake rc=0\n")
        output = read_until(terminal, PROMPT, timeout=60).decode()
        assert guest_assets.kernel_version() in output and "/dev/ttyS2" in output
        # What the student prints never reaches the control channel.
        assert vm.run("echo control-ok") == (0, "control-ok\n")


def test_ctrl_c_and_resize_reach_the_guest_shell(vm):
    with vm.open_terminal() as terminal:
        read_until(terminal, PROMPT, timeout=60)
        terminal.write(b"yes > /dev/null\n")
        time.sleep(0.5)
        terminal.write(b"\x03")
        read_until(terminal, PROMPT, timeout=60)
        terminal.resize(30, 90)
        terminal.write(b"stty size; echo done-$((1 + 1))\n")
        assert b"30 90" in read_until(terminal, b"done-2", timeout=60)


def test_a_stopped_terminal_ends_its_shell_and_a_new_one_can_open(vm):
    first = vm.open_terminal()
    read_until(first, PROMPT, timeout=60)
    first.write(b"sleep 1000 &\n")
    read_until(first, PROMPT, timeout=60)
    first.stop()
    assert first.read() is None
    rc, output = vm.run("ps | grep -c '[s]leep 1000'")
    assert output.strip() == "0"
    with vm.open_terminal() as second:
        read_until(second, PROMPT, timeout=60)


def test_a_vm_without_the_port_says_so(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    options = vms.VMOptions(timeout=60, start="snapshot")
    with vms.start_vm(run_id, options) as handle, pytest.raises(vms.VMError, match="no terminal"):
        handle.open_terminal()
    assert_vm_left_nothing(run_id)


def test_a_check_sees_the_students_work_out_of_band(vm):
    with vm.open_terminal() as terminal:
        read_until(terminal, PROMPT, timeout=60)
        terminal.write(b"echo hello > /tmp/work; echo typed-$((2 + 2))\n")
        read_until(terminal, b"typed-4", timeout=60)
        assert terminal.check("cat /tmp/work") == (0, "hello\n")
        assert terminal.check("test -f /tmp/missing")[0] == 1


def test_exiting_the_shell_ends_the_terminal_but_not_the_guest(vm):
    terminal = vm.open_terminal()
    read_until(terminal, PROMPT, timeout=60)
    terminal.write(b"exit\n")
    deadline = time.monotonic() + 60
    while (chunk := terminal.read()) is not None:
        assert b"VIRTLAB-SHELL-EXITED" not in chunk  # the marker is ours, not shown
        assert time.monotonic() < deadline, "the terminal never said the shell exited"
        time.sleep(0.01)
    assert not terminal.alive() and vm.alive()
    terminal.stop()
    assert vm.run("echo still-here") == (0, "still-here\n")


def test_a_check_that_overruns_its_timeout_says_so_like_a_containers(vm):
    with vm.open_terminal() as terminal:
        read_until(terminal, PROMPT, timeout=60)
        assert terminal.check("sleep 30", timeout=1)[0] is None
        assert terminal.check("kill -KILL $$", timeout=10)[0] == 137  # killed, not late
        assert terminal.check("echo quick", timeout=10) == (0, "quick\n")
