"""The terminal host as `manage.py terminal_host`: stopping it, or killing it, leaves
no sandbox behind (the second case once the next host starts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from terminals.models import TerminalSession
from terminals.records import RESTARTED
from terminals.services import start_session

from ..conftest import worker_env
from ..sandbox.guest_fixtures import built_assets, qemu  # noqa: F401
from .conftest import HostClient
from .test_host import nothing_left

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parents[2]


def host_process(path: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "terminal_host", "--socket", path],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert process.poll() is None and time.monotonic() < deadline, "the host did not start"
        time.sleep(0.05)
    return process


def live_session(path: str, user, kind="container") -> tuple[TerminalSession, HostClient]:
    session = start_session(user, kind, replace=True)
    client = HostClient(path, session.public_id)
    client.wait_state("live", timeout=120)
    session.refresh_from_db()
    return session, client


def test_stopping_the_host_ends_every_session_and_reaps_its_sandbox(
    transactional_db, student, instructor, runc
):
    path = f"/run/virtlab/test-term-process-{os.getpid()}.sock"
    process = host_process(path)
    try:
        first, first_client = live_session(path, student)
        second, _ = live_session(path, instructor)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert first_client.wait_state("ended")["reason"] == "The terminal server stopped."
    finally:
        if process.poll() is None:
            process.kill()
    for session in (first, second):
        session.refresh_from_db()
        assert session.status == "ended" and nothing_left(session.sandbox_id)
    assert not os.path.exists(path)


def test_a_killed_host_leaves_nothing_once_the_next_one_starts(
    transactional_db,
    student,
    runc,
    qemu,  # noqa: F811
):
    path = f"/run/virtlab/test-term-killed-{os.getpid()}.sock"
    process = host_process(path)
    try:
        session, _ = live_session(path, student, "vm")
    finally:
        process.kill()  # SIGKILL: no clean-up of its own at all
        process.wait()
    following = host_process(path)
    try:
        session.refresh_from_db()
        deadline = time.monotonic() + 30
        while session.status != "ended" and time.monotonic() < deadline:
            time.sleep(0.1)
            session.refresh_from_db()
        assert session.status == "ended" and session.end_reason == RESTARTED
        assert nothing_left(session.sandbox_id)
    finally:
        following.send_signal(signal.SIGTERM)
        following.wait(timeout=60)
