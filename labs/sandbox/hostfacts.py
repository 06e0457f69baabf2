"""The facts of the host every measurement is stamped with (docs/architecture.md, sandbox rule 4)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from functools import cache

from . import cgroups

# Tool → the command that prints its version on the first line.
VERSION_COMMANDS = {
    "runc": ["runc", "--version"],
    "crun": ["crun", "--version"],
    "bwrap": ["bwrap", "--version"],
    "qemu": ["qemu-system-x86_64", "--version"],
    "qemu-user": ["qemu-aarch64-static", "--version"],
}


@cache
def tool_version(tool: str) -> str | None:
    """First line of ``<tool> --version``, or None when it is not installed (cached)."""
    command = VERSION_COMMANDS[tool]
    if not shutil.which(command[0]):
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


@cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def collect(accelerator: str | None = None) -> dict:
    """Kernel, CPU, memory, cgroup mode, tool versions and Python — plain JSON-able data."""
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_total_bytes": memory_total_bytes(),
        "cgroup_mode": cgroups.mode(),
        "accelerator": accelerator,
        "versions": {tool: tool_version(tool) for tool in VERSION_COMMANDS},
        "python": platform.python_version(),
    }
