"""The terminal host where the web side and the host act at once: a queued session's
row, a row ended while its shell starts, a host stopped while a sandbox starts."""

from __future__ import annotations

import os
import stat
import time

import pytest

from terminals import host as host_module
from terminals.models import TerminalSession
from terminals.services import open_sessions, start_session

from .conftest import run_async
from .test_host import live, marked, nothing_left  # noqa: F401

pytestmark = pytest.mark.sandbox


def test_the_host_socket_is_only_the_servers_own(start_host):
    running = start_host()
    mode = os.stat(running.host.socket_path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_queued_session_is_not_closed_as_a_page_that_never_connected(
    start_host, attach, student, instructor, runc, settings
):
    start_host(capacity=1)
    first = attach(start_session(student, "container").public_id)
    first.wait_state("live")
    second = start_session(instructor, "container")
    client = attach(second.public_id)
    client.wait_state("queued")
    # Long past the grace period for a page that never connected: the instructor
    # reloads a page (which tidies such rows), and their queued terminal stays theirs.
    settings.VIRTLAB_TERMINAL_GRACE_SECONDS = 0
    assert [s.pk for s in open_sessions(instructor)] == [second.pk]
    second.refresh_from_db()
    assert second.status == TerminalSession.Status.QUEUED


def test_a_row_ended_by_the_web_side_before_its_shell_is_up_ends_the_shell(
    start_host, attach, student, instructor, runc
):
    running = start_host(capacity=1)
    first = attach(start_session(student, "container").public_id)
    first.wait_state("live")
    second = start_session(instructor, "container")
    client = attach(second.public_id)
    client.wait_state("queued")
    # The web side closes the row without the host hearing (as end_session does
    # when its request to the host fails): the shell must not start under it.
    TerminalSession.objects.filter(pk=second.pk).update(
        status=TerminalSession.Status.ENDED, end_reason="Ended elsewhere."
    )
    first.send({"op": "end"})
    first.wait_state("ended")
    client.wait_state("ended", timeout=60)
    second.refresh_from_db()
    assert second.status == "ended" and second.end_reason == "Ended elsewhere."
    # Its sandbox is removed (after the "ended" message) and its place freed.
    deadline = time.monotonic() + 30
    while running.call(lambda: len(running.host.held)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running.call(lambda: len(running.host.held)) == 0
    assert running.status()["sessions"] == []
    if second.sandbox_id is not None:
        assert nothing_left(second.sandbox_id)


def test_stopping_the_host_while_a_sandbox_starts_leaves_nothing(
    start_host, attach, student, runc, monkeypatch
):
    opened: list[int] = []
    real_open = host_module.open_sandbox

    def slow_open(kind):
        time.sleep(1.0)  # the host is told to stop meanwhile
        sandbox_id, sandbox = real_open(kind)
        opened.append(sandbox_id)
        return sandbox_id, sandbox

    monkeypatch.setattr(host_module, "open_sandbox", slow_open)
    running = start_host()
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("starting")
    running.stop()
    assert not running.thread.is_alive()
    assert opened, "the sandbox never finished starting"
    assert nothing_left(opened[0], timeout=5)
    session.refresh_from_db()
    assert session.status == "ended"


def test_a_window_attaching_while_a_session_ends_is_told_it_ended(
    start_host, attach, student, runc, monkeypatch
):
    from terminals import records

    real_mark_ended = records.mark_ended

    def slow_mark_ended(public_id, reason):
        time.sleep(1.0)  # a window attaches while the row is being written
        real_mark_ended(public_id, reason)

    monkeypatch.setattr(records, "mark_ended", slow_mark_ended)
    running = start_host()
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("live")
    assert "pid=" in marked(client, "echo pid=$$")
    client.send({"op": "end"})
    time.sleep(0.3)
    again = attach(session.public_id)
    ended = again.wait_state("ended")
    assert ended["reason"] == "Ended by the student."
    # No second shell was started under the ended id.
    assert all(state["state"] != "starting" for state in again.states)
    deadline = time.monotonic() + 30
    while running.status()["sessions"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running.status()["sessions"] == []


def test_a_second_check_at_once_is_refused_and_a_resize_never_holds_up_typing(
    live,  # noqa: F811
    student,
):
    import threading

    from terminals.services import TerminalError, run_check

    running, session, client = live
    first: list = []
    thread = threading.Thread(
        target=lambda: first.append(run_check(student, "container", "sleep 20; true", 25))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while (
        not running.call(lambda: running.host.sessions[str(session.public_id)].checking)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    # A double click on Check: told at once, rather than left waiting past its time.
    with pytest.raises(TerminalError, match="already running"):
        run_check(student, "container", "true", 5)
    # The window resizes while the check holds the control channel: the keystrokes
    # after it still reach the shell long before the check ends.
    client.send({"op": "resize", "rows": 30, "cols": 91})
    client.type("echo typed-$((40+2))\n")
    client.read_until(b"typed-42", timeout=10)
    assert thread.is_alive()  # the check is still running
    thread.join(30)
    assert first and first[0][0] == 0
    assert "30 91" in marked(client, "stty size")


def test_a_second_host_on_the_same_socket_leaves_the_first_alone(start_host, attach, student, runc):
    running = start_host()
    session = start_session(student, "container")
    client = attach(session.public_id)
    client.wait_state("live")
    second = host_module.TerminalHost(running.host.socket_path, running.host.clocks)
    with pytest.raises(host_module.HostRunning):
        run_async(second.serve)
    # The first host's socket, shell and row are untouched.
    session.refresh_from_db()
    assert session.status == "live"
    assert "pid=" in marked(client, "echo pid=$$")
    assert [s["state"] for s in running.status()["sessions"]] == ["live"]
