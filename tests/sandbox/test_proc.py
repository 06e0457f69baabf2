"""The shared process runner: limits, output cap, timing, and nothing outliving a run."""

from __future__ import annotations

import os
import time

import pytest

from labs.sandbox import cgroups, proc, reaper
from labs.sandbox.naming import name_for, run_prefix

pytestmark = pytest.mark.sandbox


def test_runs_a_command_and_reports_timing(run_id):
    result = proc.run(
        ["sh", "-c", "echo hello; echo oops >&2; exit 3"], run_id=run_id, wall_seconds=10
    )
    assert result.returncode == 3
    assert result.stdout == b"hello\n"
    assert result.stderr == b"oops\n"
    assert not result.truncated and not result.timed_out
    assert result.first_output_seconds is not None
    assert 0 <= result.first_output_seconds <= result.wall_seconds


def test_first_output_is_none_without_stdout(run_id):
    result = proc.run(["sh", "-c", "echo only-errors >&2"], run_id=run_id, wall_seconds=10)
    assert result.first_output_seconds is None
    assert result.stderr == b"only-errors\n"


def test_marks_the_environment_with_the_run(run_id):
    result = proc.run(
        ["sh", "-c", 'echo "$VIRTLAB_RUN"; echo "${HOME:-unset}"'], run_id=run_id, wall_seconds=10
    )
    assert result.stdout.decode().split() == [run_prefix(run_id), "unset"]  # host env not inherited


def test_rlimits_apply_in_the_child(run_id):
    result = proc.run(
        ["sh", "-c", "ulimit -n; ulimit -f"],
        run_id=run_id,
        wall_seconds=10,
        open_files=77,
        file_size_bytes=1024 * 1024,
    )
    open_files, file_blocks = result.stdout.decode().split()
    assert open_files == "77"
    assert int(file_blocks) == 1024 * 1024 // 512  # ulimit -f counts 512-byte blocks


def test_file_size_limit_stops_a_big_write(run_id, tmp_path):
    target = tmp_path / "big"
    result = proc.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=65536", "count=64"],
        run_id=run_id,
        wall_seconds=10,
        file_size_bytes=65536,
    )
    assert result.returncode != 0
    assert target.stat().st_size <= 65536


@pytest.mark.parametrize("command", [["yes"], ["cat", "/dev/zero"]], ids=["lines", "no-newlines"])
def test_endless_output_is_capped(run_id, command):
    result = proc.run(
        command, run_id=run_id, wall_seconds=20, output_bytes=1000, kill_after_output_bytes=200_000
    )
    assert result.truncated
    assert len(result.stdout) + len(result.stderr) == 1000
    assert result.killed_for_output and not result.timed_out
    assert result.output_bytes_seen > 1000


def test_endless_output_without_kill_is_drained_until_the_wall(run_id):
    result = proc.run(["cat", "/dev/zero"], run_id=run_id, wall_seconds=0.5, output_bytes=100)
    assert result.timed_out and result.truncated
    assert len(result.stdout) == 100


def test_wall_limit_kills_the_whole_group(run_id):
    result = proc.run(
        ["sh", "-c", "sleep 30 & sleep 30 & echo started; wait"], run_id=run_id, wall_seconds=0.5
    )
    assert result.timed_out
    assert result.returncode == -9
    assert result.stdout == b"started\n"
    assert reaper.find_processes(only={run_id}) == {}


def test_stdin_is_fed_without_deadlock(run_id):
    payload = os.urandom(300_000)
    result = proc.run(
        ["cat"], run_id=run_id, wall_seconds=10, stdin=payload, output_bytes=len(payload)
    )
    assert result.stdout == payload


def test_streaming_hook_sees_stdout(run_id):
    chunks: list[bytes] = []
    proc.run(
        ["sh", "-c", "echo one; sleep 0.05; echo two"],
        run_id=run_id,
        wall_seconds=10,
        on_stdout=chunks.append,
    )
    assert b"".join(chunks) == b"one\ntwo\n"


# The escapee says "escaped" only once it has its own session, and the parent waits
# for that line, so the runner's kill of the process group cannot beat the setsid.
ESCAPE = "(setsid sh -c 'echo escaped; exec sleep 60 >/dev/null 2>&1' &) | head -n 1; echo bye"


def test_a_setsid_escapee_is_found_by_its_marker(run_id):
    # Without a cgroup the runner cannot see a child that left the session; the
    # reaper can, through the VIRTLAB_RUN marker it inherited.
    result = proc.run(["sh", "-c", ESCAPE], run_id=run_id, wall_seconds=10)
    assert result.stdout == b"escaped\nbye\n"
    assert len(reaper.find_processes(only={run_id})) == 1
    report = reaper.reap(only={run_id})
    assert len(report.processes) == 1
    assert reaper.find_processes(only={run_id}) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_a_cgroup_catches_setsid_escapees(run_id, no_leftovers):
    group = cgroups.create(name_for(run_id, "proc"), pids=16, memory_bytes=64 << 20)
    try:
        result = proc.run(["sh", "-c", ESCAPE], run_id=run_id, wall_seconds=10, cgroup=group)
        assert result.stdout == b"escaped\nbye\n"
        deadline = time.monotonic() + 5
        while group.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.pids() == set()
        assert reaper.find_processes(only={run_id}) == {}
    finally:
        group.remove()
    no_leftovers(run_id)
