"""Run-named cgroups on whatever cgroup layout this host has."""

from __future__ import annotations

import os
import subprocess

import pytest

from labs.sandbox import cgroups
from labs.sandbox.naming import name_for

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or cgroups.mode() == "none", reason="cgroups need root"),
]


def test_mode_is_detected():
    assert cgroups.mode() in {"v1", "hybrid", "v2"}


def test_create_limit_measure_kill_remove(run_id):
    group = cgroups.create(name_for(run_id, "g"), memory_bytes=64 << 20, pids=8, cpu_percent=50)
    try:
        assert all(
            path.name == name_for(run_id, "g") and path.parent.name == "virtlab"
            for path in group.dirs.values()
        )
        sleeper = subprocess.Popen(["sleep", "60"])
        group.add_pid(sleeper.pid)
        assert sleeper.pid in group.pids()
        assert group.memory_current() is not None
        assert group.cpu_seconds() is not None
        assert group.oom_kills() == 0
        assert group.kill_all() >= 1
        assert sleeper.wait(timeout=10) == -9
    finally:
        assert group.remove()
    assert not any(path.exists() for path in group.dirs.values())


def test_pids_limit_is_enforced_and_counted(run_id):
    group = cgroups.create(name_for(run_id, "g"), pids=4)
    try:
        shell = subprocess.Popen(
            ["sh", "-c", "read go; for i in 1 2 3 4 5 6; do sleep 0.3 & done; wait"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        group.add_pid(shell.pid)
        _, errors = shell.communicate(b"go\n", timeout=30)
        assert b"fork" in errors.lower() or b"resource" in errors.lower()
        assert group.pids_limit_hits() >= 1
    finally:
        group.remove()


def test_names_without_a_run_id_are_refused():
    with pytest.raises(ValueError):
        cgroups.create("not-a-run")
    with pytest.raises(ValueError):
        cgroups.remove_named("system.slice")


def test_capability_reports_controllers():
    capability, priority = cgroups.capabilities()
    assert capability.name == "cgroups" and priority.name == "sandbox-priority"
    assert capability.ok
    assert "memory" in capability.detail and "pids" in capability.detail
