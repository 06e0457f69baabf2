"""The terminal host with real sandboxes: sessions, clocks, queue, output, checks."""

from __future__ import annotations

import os
import re
import time

import pytest

from labs.sandbox import guest_assets, reaper
from terminals import host as host_module
from terminals.models import TerminalSession
from terminals.services import run_check, start_session

from ..sandbox.guest_fixtures import built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox
MARK = "__marker__"


def marked(client, command: str) -> str:
    """Type ``command`` and return what it printed (up to a marker it echoes)."""
    client.type(f"{command}; echo {MARK}$((6*7))\n")
    return client.read_until(f"{MARK}42".encode()).decode(errors="replace")


def cgroup_value(group, controller: str, v1_file: str, v2_file: str) -> int:
    directory = group.dirs.get(controller) or group.dirs.get("unified")
    path = directory / (v2_file if group.unified else v1_file)
    return int(path.read_text())


def pids_in(group) -> int:
    directory = group.dirs.get("pids") or group.dirs.get("unified")
    return int((directory / "pids.current").read_text())


def nothing_left(sandbox_id: int, timeout: float = 30.0) -> bool:
    """True once nothing is named after the sandbox id (removal follows the "ended"
    message, so it may take a moment)."""
    deadline = time.monotonic() + timeout
    while any(reaper.inventory(only={sandbox_id}).values()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def live(start_host, attach, student, runc):
    """A live container terminal of the student's and its host client."""
    running = start_host()
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("live")
    return running, session, client


def test_a_container_shell_runs_on_the_host_kernel_and_a_vm_shell_on_its_own(
    start_host,
    attach,
    student,
    runc,
    qemu,  # noqa: F811
):
    start_host()
    container = start_session(student, "container")
    client = attach(container.public_id)
    client.wait_state("live")
    assert os.uname().release in marked(client, "uname -r")
    vm = start_session(student, "vm", replace=True)
    container.refresh_from_db()
    assert container.status == "ended" and container.end_reason == "Replaced by a new terminal."
    assert nothing_left(container.sandbox_id)
    guest = attach(vm.public_id)
    guest.wait_state("live", timeout=120)
    output = marked(guest, "uname -r")
    assert guest_assets.kernel_version() in output and os.uname().release not in output


def test_a_reconnect_within_the_grace_period_finds_the_same_shell(live, attach):
    running, session, client = live
    client.type("export REMEMBERED=yes-$((20+3))\n")
    first_pid = marked(client, "echo pid=$$").split("pid=")[-1].split()[0]
    client.close()
    again = attach(session.public_id)
    again.wait_state("live")
    # The last screenful is replayed to the new window.
    again.wait_for(lambda: f"pid={first_pid}".encode() in again.output, what="the replay")
    output = marked(again, "echo pid=$$ $REMEMBERED")
    assert f"pid={first_pid} yes-23" in output


def test_a_second_window_takes_over_and_the_first_is_told(live, attach):
    running, session, client = live
    second = attach(session.public_id)
    second.wait_state("live")
    client.wait_for(lambda: client.state() == "moved", what="first window detached")
    # Told it moved, not that it ended: the shell lives on in the other window.
    assert client.states[-1] == {"state": "moved", "reason": "Opened in another window."}
    assert "pid=" in marked(second, "echo pid=$$")


def test_nobody_connected_past_the_grace_period_ends_it_and_reaps_everything(
    start_host, attach, student, runc
):
    start_host(grace=1)
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("live")
    client.close()
    for _ in range(300):
        session.refresh_from_db()
        if session.status == "ended":
            break
        time.sleep(0.1)
    assert session.status == "ended" and "Nobody was connected" in session.end_reason
    assert nothing_left(session.sandbox_id)


@pytest.mark.parametrize(
    ("clocks", "reason"),
    [({"idle": 1}, "Idle for"), ({"lifetime": 2, "idle": 600}, "lifetime")],
)
def test_the_idle_timeout_and_the_lifetime_end_a_session(
    start_host, attach, student, runc, clocks, reason
):
    start_host(**clocks)
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("live")
    ended = client.wait_state("ended", timeout=30)
    assert reason in ended["reason"]
    session.refresh_from_db()
    assert session.status == "ended" and reason in session.end_reason
    assert nothing_left(session.sandbox_id)


def test_a_full_host_queues_sessions_and_starts_them_in_turn(
    start_host, attach, student, instructor, runc
):
    start_host(capacity=1)
    first = start_session(student, "container")
    first_client = attach(first.public_id)
    first_client.wait_state("live")
    second = start_session(instructor, "container")
    second_client = attach(second.public_id)
    queued = second_client.wait_state("queued")
    assert queued["position"] == 1 and queued["capacity"] == 1
    first_client.send({"op": "end"})
    first_client.wait_state("ended")
    second_client.wait_state("live")
    assert "pid=" in marked(second_client, "echo pid=$$")


def test_bulk_output_is_paced_and_never_piles_up_in_the_host(live):
    running, session, client = live
    client.type("yes | head -c 50000000 | wc -c\n")
    # The client reads nothing for a while: the host must stop reading the shell
    # rather than keep its output. Look at what waits to go out, several times.
    waiting = []
    for _ in range(10):
        time.sleep(0.2)
        waiting.append(
            running.call(
                lambda: sum(
                    s.client.transport.get_write_buffer_size()
                    for s in running.host.sessions.values()
                    if s.client is not None
                )
            )
        )
    limit = host_module.CLIENT_HIGH_WATER + host_module.READ_CHUNK + 64
    assert max(waiting) <= limit, waiting
    scrollback = running.call(lambda: len(running.host.sessions[str(session.public_id)].scrollback))
    assert scrollback <= host_module.SCROLLBACK_BYTES
    client.type("\x03")  # Ctrl-C: the shell is still the student's
    assert "pid=" in marked(client, "echo pid=$$")


def test_a_check_runs_out_of_band_and_the_students_shell_cannot_fool_it(live, student):
    running, session, client = live
    # Everything a student might try from the shell: a fake `check` and `sh` first on
    # PATH, a shell function and an alias named like the tools the check uses.
    marked(
        client,
        "mkdir -p /tmp/bin; printf '#!/bin/sh\\necho FAKE; exit 0\\n' > /tmp/bin/check; "
        "cp /tmp/bin/check /tmp/bin/sh; cp /tmp/bin/check /tmp/bin/cat; "
        "chmod +x /tmp/bin/*; export PATH=/tmp/bin:$PATH; "
        "cat() { echo FAKE; }; alias test='echo FAKE'; ln -sf /tmp/bin/sh /bin/sh 2>/dev/null",
    )
    script = 'command -v check || echo "no check"; [ "$(cat /tmp/answer 2>&1)" = "42" ]'
    status, output = run_check(student, "container", script, 10)
    assert status != 0 and "FAKE" not in output and "no check" in output
    marked(client, "echo 42 > /tmp/answer")
    assert run_check(student, "container", script, 10)[0] == 0
    # The check never appeared in the student's terminal.
    assert "/tmp/answer 2>&1" not in client.output.decode(errors="replace")


def test_a_check_waits_for_nothing_the_student_left_running_and_has_a_timeout(live, student):
    running, session, client = live
    status, output = run_check(student, "container", "sleep 60", 1)
    assert status is None, output  # killed at its timeout
    assert "pid=" in marked(client, "echo pid=$$")


def test_ten_sessions_at_once_each_stay_within_their_limits(start_host, attach, runc):
    from django.contrib.auth import get_user_model

    from terminals import sandboxes

    running = start_host(capacity=10)
    users = [get_user_model().objects.create_user(f"ten-{n}", password="x") for n in range(11)]
    sessions = [start_session(user, "container") for user in users]
    clients = [attach(session.public_id) for session in sessions[:10]]
    for client in clients:
        client.wait_state("live", timeout=120)
    clients.append(attach(sessions[10].public_id))
    assert clients[10].wait_state("queued")["position"] == 1
    limits = sandboxes.terminal_limits()
    groups = running.call(lambda: [s.sandbox.prepared.group for s in running.host.sessions.values()
                                   if s.state == "live"])  # fmt: skip
    assert len(groups) == 10
    for group in groups:
        # The ceilings on each container's cgroup, as the kernel holds them.
        assert cgroup_value(group, "memory", "memory.limit_in_bytes", "memory.max") == (
            limits.memory_mib * 1024 * 1024
        )
        assert cgroup_value(group, "pids", "pids.max", "pids.max") == limits.pids
    # A fork bomb in one of them stops at its own pids limit; the others carry on.
    clients[0].type("bomb() { bomb | bomb & }; bomb 2>/dev/null\n")
    bombed = running.call(
        lambda: running.host.sessions[str(sessions[0].public_id)].sandbox.prepared.group
    )
    seen = [pids_in(bombed)]
    deadline = time.monotonic() + 30
    while max(seen) < limits.pids - 4 and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(pids_in(bombed))
    for _ in range(20):  # and while it keeps trying
        time.sleep(0.05)
        seen.append(pids_in(bombed))
    # It (nearly: processes die and are forked again between samples) filled its
    # group, and went no further.
    assert limits.pids - 4 <= max(seen) <= limits.pids, seen
    assert "pid=" in marked(clients[1], "echo pid=$$")
    clients[0].send({"op": "end"})
    clients[0].wait_state("ended")
    clients[10].wait_state("live", timeout=120)
    session = TerminalSession.objects.get(pk=sessions[0].pk)
    assert session.status == "ended" and nothing_left(session.sandbox_id)


def test_a_container_in_a_vm_runs_on_the_guest_kernel_in_namespaces_of_its_own(
    start_host,
    attach,
    student,
    qemu,  # noqa: F811
):
    start_host()
    session = start_session(student, "vm-container")
    client = attach(session.public_id)
    client.wait_state("live", timeout=120)
    output = marked(client, 'echo "H=$(hostname) P=$$ K=$(uname -r) N=$(ps | wc -l)"')
    hostname, pid, kernel, processes = re.findall(r"H=(\S+) P=(\S+) K=(\S+) N=\s*(\d+)", output)[
        -1
    ]  # the answer, not the echoed command line
    found = {"H": hostname, "P": pid, "K": kernel, "N": processes}
    assert found["H"] == "term" and found["P"] == "1"  # its own UTS and PID namespaces
    assert found["K"] == guest_assets.kernel_version()
    assert int(found["N"]) < 10  # the guest's own processes are out of sight
    # A check enters the same container, not the guest around it.
    status, checked = run_check(student, "vm-container", 'echo "$(hostname) $(ps | wc -l)"', 20)
    assert status == 0 and checked.split()[0] == "term" and int(checked.split()[1]) < 10


@pytest.mark.parametrize("kind", ["container", "vm"])
def test_exiting_the_shell_ends_the_session(start_host, attach, student, runc, qemu, kind):  # noqa: F811
    start_host()
    session = start_session(student, kind)
    client = attach(session.public_id)
    client.wait_state("live", timeout=120)
    client.type("exit\n")
    assert client.wait_state("ended", timeout=60)["reason"] == "The shell exited."
    session.refresh_from_db()
    assert session.status == "ended" and nothing_left(session.sandbox_id)
