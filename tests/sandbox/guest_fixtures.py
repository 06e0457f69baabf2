"""Shared fixtures and checks for the VM, emulation and guest-asset tests.

Import the fixtures into a test module (``from .guest_fixtures import built_assets``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labs.sandbox import guest_assets
from labs.sandbox.naming import run_prefix
from labs.sandbox.paths import scratch_root


@pytest.fixture(scope="session")
def built_assets() -> str:
    """Guest assets built exactly as ``manage.py build_guest_assets`` does."""
    for tool in ("apt-get", "dpkg", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing: the guest assets come from apt")
    if not Path("/bin/busybox").exists():
        pytest.skip("/bin/busybox is missing: apt-get install busybox-static")
    return guest_assets.build()


@pytest.fixture(scope="session")
def qemu(built_assets: str) -> str:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    return built_assets


def run_processes(run_id: int) -> list[str]:
    """Processes whose name, command line or environment carries the run's prefix."""
    prefix = run_prefix(run_id).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if prefix in comm or prefix in cmdline or b"VIRTLAB_RUN=" + prefix in environ:
            found.append(f"{entry} {comm.decode().strip()}")
    return found


def assert_vm_left_nothing(run_id: int) -> None:
    assert run_processes(run_id) == []
    root = scratch_root()
    leftovers = [p.name for p in root.iterdir()] if root.exists() else []
    assert [name for name in leftovers if name.startswith(run_prefix(run_id))] == []
