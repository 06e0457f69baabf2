"""The sandboxes a terminal session runs its shell in, started and removed in full.

Both kinds give the terminal host the same surface (``fileno``, ``read``, ``write``,
``resize``, ``check``, ``alive``, ``stop``): a container's shell on a host pty
(labs/sandbox/terminals.py) or a guest's shell on its third serial port
(labs/sandbox/vm_terminals.py). Each session gets an ad-hoc sandbox id of its own,
claimed for this instance before anything is named after it, and everything named
after it is reaped when it ends — whatever went wrong on the way.

These calls block (a container starts in tens of milliseconds, a guest restores in
a few hundred, a cold boot takes seconds): the host runs them in a thread.
"""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings

from labs.sandbox import naming, reaper, vms
from labs.sandbox.limits import Limits
from labs.sandbox.terminals import Terminal
from labs.sandbox.vm_terminals import in_guest_container

log = logging.getLogger(__name__)

KINDS = ("container", "vm", "vm-container")
# A student's shell gets half a core: two busy shells cannot starve a 2-core host's
# web processes (which also run at a higher priority than any sandbox).
CPU_PERCENT = 50
VM_MEMORY_MIB = 128
GUEST_CONTAINER_MEMORY_MIB = 64  # inside the guest's 128 MiB
# veth: a student builds network namespaces joined by a veth pair in their VM (the
# networking exercise); the snapshot's template loads it, so a restore costs nothing.
GUEST_MODULES = ("veth",)
VM_BOOT_SECONDS = 60


def terminal_limits() -> Limits:
    # The host ends a session at its lifetime; the sandbox's own wall limit is the
    # backstop should the host fail to.
    return Limits(
        wall_seconds=settings.VIRTLAB_TERMINAL_LIFETIME_SECONDS + 60,
        cpu_percent=CPU_PERCENT,
        memory_mib=128,
        pids=64,
        tmpfs_mib=16,
    )


class VMSandbox:
    """A guest kept running for one shell on its terminal port; with
    ``in_container``, the shell runs in a container inside the guest (its own
    namespaces and a cgroup with limits: the Kata shape)."""

    def __init__(self, sandbox_id: int, *, in_container: bool = False) -> None:
        self.handle = _start_guest(sandbox_id)
        try:
            if in_container:
                shell, enter = in_guest_container(
                    "term", memory_bytes=GUEST_CONTAINER_MEMORY_MIB * 1024 * 1024, pids=64
                )
                self.terminal = self.handle.open_terminal(shell, enter)
            else:
                self.terminal = self.handle.open_terminal()
        except BaseException:
            self.handle.stop()
            raise

    def fileno(self) -> int:
        return self.terminal.fileno()

    def read(self, max_bytes: int) -> bytes | None:
        return self.terminal.read(max_bytes)

    def write(self, data: bytes) -> int:
        return self.terminal.write(data)

    def resize(self, rows: int, cols: int) -> None:
        self.terminal.resize(rows, cols)

    def alive(self) -> bool:
        return self.terminal.alive()

    def check(self, script: str, timeout: float) -> tuple[int | None, str]:
        return self.terminal.check(script, timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # the guest goes whatever the shell did
            self.terminal.stop()
        self.handle.stop()


def _start_guest(sandbox_id: int) -> vms.VMHandle:
    options = vms.VMOptions(
        memory_mib=VM_MEMORY_MIB,
        name="term",
        timeout=VM_BOOT_SECONDS,
        start="snapshot",
        terminal=True,
        modules=GUEST_MODULES,
    )
    try:
        return vms.start_vm(sandbox_id, options)
    except vms.VMError as error:
        # A QEMU that cannot restore a snapshot still boots: slower, but a shell.
        log.warning("restoring a terminal guest failed, booting one: %s", error)
        reaper.reap(only={sandbox_id})
        return vms.start_vm(
            sandbox_id,
            vms.VMOptions(
                memory_mib=VM_MEMORY_MIB,
                name="termb",
                timeout=VM_BOOT_SECONDS,
                terminal=True,
                modules=GUEST_MODULES,
            ),
        )


def open_sandbox(kind: str) -> tuple[int, Terminal | VMSandbox]:
    """A fresh sandbox of ``kind`` with a shell waiting on its terminal, and its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown terminal kind {kind!r}")
    sandbox_id = naming.adhoc_run_id()  # claimed for this instance
    try:
        if kind == "container":
            return sandbox_id, Terminal(sandbox_id, "term", terminal_limits())
        return sandbox_id, VMSandbox(sandbox_id, in_container=kind == "vm-container")
    except BaseException:
        remove(sandbox_id)
        raise


def close_sandbox(sandbox_id: int, sandbox) -> None:
    """Stop the shell and its sandbox, then reap anything still named after the id."""
    try:
        sandbox.stop()
    finally:
        remove(sandbox_id)


def remove(sandbox_id: int) -> None:
    """Reap what is named after the id; the reaper releases its claim once clean."""
    report = reaper.reap(only={sandbox_id})
    if report.errors:
        log.warning("reaping terminal sandbox vl%s: %s", sandbox_id, report.errors)
