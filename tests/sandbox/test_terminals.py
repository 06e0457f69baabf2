"""Interactive shells in real containers (labs/sandbox/terminals.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from labs.sandbox import terminals
from labs.sandbox.limits import Limits
from tests.labs.leftovers import leftovers, nothing_left

pytestmark = pytest.mark.sandbox

LIMITS = Limits(wall_seconds=60, memory_mib=64, pids=32)
PROMPT = b"/ # "


def read_until(terminal, pattern: bytes, timeout: float = 20.0) -> bytes:
    """What the terminal printed up to and including ``pattern``."""
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} in {seen[-300:]!r}")
        chunk = terminal.read()
        if chunk is None:
            raise AssertionError(f"the shell ended; it printed {seen[-300:]!r}")
        if not chunk:
            time.sleep(0.01)
        seen += chunk
    return seen


@pytest.fixture
def terminal(run_id, runc):
    with terminals.start_terminal(run_id, LIMITS) as shell:
        read_until(shell, PROMPT)
        yield shell
    assert nothing_left(run_id), leftovers(run_id)


def test_a_shell_answers_on_its_own_terminal_in_its_own_namespaces(terminal):
    # Counting /proc entries with a glob starts no process: the shell is alone.
    terminal.write(b"tty; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo pids $n; id -u\n")
    output = read_until(terminal, PROMPT).decode()
    assert re.search(r"/dev/pts/\d+", output)  # a terminal inside the container
    assert "pids 1\r\n" in output  # no host process is visible
    assert "\r\n0\r\n" in output  # root inside (an unprivileged uid on the host)


def test_ctrl_c_interrupts_the_foreground_command_and_the_shell_stays(terminal):
    terminal.write(b"yes > /dev/null\n")
    time.sleep(0.5)
    terminal.write(b"\x03")
    read_until(terminal, PROMPT)
    terminal.write(b"echo still-$((40 + 2))\n")
    assert b"still-42" in read_until(terminal, PROMPT)


def test_a_resize_reaches_the_shells_terminal(terminal):
    terminal.resize(33, 101)
    time.sleep(0.2)  # the runtime copies the size over on the signal (the shell redraws)
    terminal.write(b"stty size; echo done-$((1 + 1))\n")
    assert b"33 101" in read_until(terminal, b"done-2")


def test_unread_output_waits_in_the_kernel_not_in_our_memory(terminal):
    # Nothing is read while `yes` runs: it blocks on the full pty, so what is waiting
    # when reading resumes is at most the kernel's buffers, not everything it "printed".
    terminal.write(b"yes 0123456789\n")
    time.sleep(1.0)
    waiting = 0
    while (chunk := terminal.read()) and waiting < (8 << 20):
        waiting += len(chunk)
    assert 0 < waiting < (1 << 20)
    terminal.write(b"\x03")
    read_until(terminal, PROMPT)


def test_exiting_the_shell_ends_the_terminal(run_id, runc):
    with terminals.start_terminal(run_id, LIMITS) as shell:
        read_until(shell, PROMPT)
        shell.write(b"exit\n")
        deadline = time.monotonic() + 20
        while shell.read() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert shell.read() is None
    assert nothing_left(run_id), leftovers(run_id)


def test_the_lifetime_stops_a_terminal_however_busy(run_id, runc):
    shell = terminals.start_terminal(run_id, Limits(wall_seconds=2, memory_mib=64, pids=32))
    read_until(shell, PROMPT)
    shell.write(b"while :; do :; done\n")
    deadline = time.monotonic() + 20
    while shell.alive() and time.monotonic() < deadline:
        shell.read()
        time.sleep(0.05)
    assert not shell.alive()
    assert shell.read() is None
    shell.stop()  # a second stop is harmless
    assert nothing_left(run_id), leftovers(run_id)


def test_the_shell_runs_below_the_web_servers_cpu_priority(terminal):
    pids = {*terminal.prepared.group.pids(), terminal.process.pid}
    assert pids
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) > 0, pid  # field 19 of stat: the nice value


def test_a_check_sees_the_students_work_out_of_band(terminal):
    terminal.write(b"echo hello > /tmp/work; echo typed-$((2 + 2))\n")
    read_until(terminal, b"typed-4")
    assert terminal.check("test -f /tmp/work && cat /tmp/work") == (0, "hello\n")
    assert terminal.check("test -f /tmp/missing")[0] == 1
    # The check is not typed into the shell: nothing of it shows on the terminal.
    time.sleep(0.3)
    assert b"missing" not in (terminal.read() or b"")


def test_a_check_that_hangs_is_stopped_at_its_limit(terminal):
    status, _output = terminal.check("sleep 30", timeout=1)
    assert status is None
    terminal.write(b"echo alive-$((1 + 1))\n")
    read_until(terminal, b"alive-2")
