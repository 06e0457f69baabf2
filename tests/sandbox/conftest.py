"""Fixtures for the sandbox tests: real runtimes, a fresh run id per test, leak checks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

from labs.sandbox import container_assets, reaper
from labs.sandbox.naming import adhoc_run_id


def _assert_no_leftovers(run_id: int) -> None:
    left = {kind: items for kind, items in reaper.inventory(only={run_id}).items() if items}
    assert not left, f"run {run_id} left behind: {left}"


@pytest.fixture
def no_leftovers() -> Callable[[int], None]:
    """Asserts nothing named after a run remains: process, cgroup, container, mount, dir."""
    return _assert_no_leftovers


@pytest.fixture
def run_id():
    """A fresh run id; whatever the test leaves behind is reaped (this run's only)."""
    value = adhoc_run_id()
    yield value
    reaper.reap(only={value})


def _runtime_works(name: str) -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "containers need root"
    if not os.path.exists(container_assets.HOST_BUSYBOX):
        return False, container_assets.INSTALL_BUSYBOX
    if not shutil.which(name):
        return False, f"{name} not installed"
    from labs.sandbox import containers

    container_assets.build()
    return containers.probe_runtime(name)


@pytest.fixture(scope="session")
def rootfs() -> str:
    """The busybox root filesystem, built once (a no-op when it is up to date)."""
    if not os.path.exists(container_assets.HOST_BUSYBOX):
        pytest.skip(container_assets.INSTALL_BUSYBOX)
    return container_assets.build()


@pytest.fixture(params=["runc", "bwrap"])
def runtime(request) -> str:
    """Each container test runs once per runtime that really works here."""
    ok, why = _runtime_works(request.param)
    if not ok:
        pytest.skip(why)
    return request.param


@pytest.fixture
def runc() -> str:
    ok, why = _runtime_works("runc")
    if not ok:
        pytest.skip(why)
    return "runc"
