"""Helpers for labs that keep sandboxes alive while they measure them.

Shared by footprint, isolation, emulation and limits: starting a kept-running guest
(restored from a snapshot by default, retried once because a TCG boot occasionally
hangs), reading a host process's memory, and
stopping a set of sandboxes so that one failing stop never leaves the others running.
"""

from __future__ import annotations

import contextlib
import logging

from labs.sandbox import vms
from labs.sandbox.vm_process import VMBootTimeout

from .base import Progress

VM_BOOT_TIMEOUT = 30.0
MIN_GUEST_MIB = vms.MIN_MEMORY_MIB  # below it the guest kernel cannot unpack its initramfs
MIB = 2**20
# What a lab says when its guest is restored rather than booted (boot_kept_vm).
RESTORED_NOTE = (
    "The guest is restored from a snapshot of an already booted one (the boot-race lab "
    "times both ways of starting): this lab needs a running guest, not a boot."
)
log = logging.getLogger(__name__)


def boot_with_retry(
    run_id: int, name: str, *, keep_running: bool = False, oneshot: bool = False, **options
) -> tuple:
    """A running ``vms.VMHandle`` (``keep_running``) or a ``vms.VMBootResult``, and how
    many boots it took (1 or 2). ``options`` are ``vms.VMOptions`` fields.

    A TCG boot occasionally hangs, so a hung boot is retried once under a new name.
    The attempt count goes into the lab's samples: a retry is reported, never hidden,
    and the figures shown are the successful boot's own.
    """
    for attempt in (1, 2):
        settings = vms.VMOptions(name=f"{name}a{attempt}", timeout=VM_BOOT_TIMEOUT, **options)
        try:
            if keep_running:
                return vms.start_vm(run_id, settings), attempt
            return vms.boot_vm(run_id, settings, oneshot=oneshot), attempt
        except VMBootTimeout:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def boot_kept_vm(
    run_id: int, name: str, *, memory_mib: int = 128, vcpus: int = 1, start: str = "snapshot"
) -> tuple[vms.VMHandle, int]:
    """A running guest (the caller must stop it) and how many boots that took.

    Restored from a snapshot unless ``start="cold"``: a lab that needs a running guest,
    not a boot, should not spend two seconds of the student's wait on one (the first
    run of a guest shape boots the snapshot's template once; vm_snapshots.py)."""
    try:
        return boot_with_retry(
            run_id, name, memory_mib=memory_mib, vcpus=vcpus, keep_running=True, start=start
        )
    except vms.VMError as error:
        if start != "snapshot" or isinstance(error, VMBootTimeout):
            raise
        # A QEMU that cannot restore (too old for x-ignore-shared, say) must not stop a
        # lab that only needs a running guest: boot one, and keep why in its figures.
        log.warning("restoring a guest failed, booting it instead: %s", error)
        handle, attempts = boot_with_retry(
            run_id, f"{name}b", memory_mib=memory_mib, vcpus=vcpus, keep_running=True
        )
        handle.boot.extra["restore_failed"] = str(error)[:300]
        return handle, attempts


def process_memory(pid: int) -> dict[str, int]:
    """RSS and PSS of one host process in bytes (zeros when it has gone)."""
    found = {"rss_bytes": 0, "pss_bytes": 0}
    for path, key, name in (
        (f"/proc/{pid}/status", "VmRSS:", "rss_bytes"),
        (f"/proc/{pid}/smaps_rollup", "Pss:", "pss_bytes"),
    ):
        try:
            with open(path) as handle:
                for line in handle:
                    parts = line.split()
                    if parts and parts[0] == key:
                        found[name] = int(parts[1]) * 1024
                        break
        except OSError:  # exited between listing and reading: it uses nothing now
            pass
    return found


def stop_all(handles: list) -> None:
    """Stop every handle (containers or VMs), newest first.

    Never raises: this runs in ``finally`` blocks, also while the runner closes a
    cancelled lab, and the runner's reaper removes by name whatever a failed stop left.
    """
    while handles:
        handle = handles.pop()
        try:
            handle.stop()
        except Exception:  # keep stopping the rest
            log.warning("stopping %r failed", handle, exc_info=True)


@contextlib.contextmanager
def kept_alive():
    """A list to put started sandboxes in; all are stopped on the way out, whatever happens
    (including GeneratorExit when the runner closes a cancelled lab)."""
    handles: list = []
    try:
        yield handles
    finally:
        stop_all(handles)


def stopping():
    """Yield once when the run should stop, then the lab returns.

    A lab that simply returned would be recorded as a success; yielding lets the runner
    see the stop itself and record the cancellation (or the deadline).
    """
    yield Progress("stopping", 1.0)
