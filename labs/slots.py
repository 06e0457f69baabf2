"""Host-wide sandbox slots: at most VIRTLAB_MAX_RUNNING_SANDBOXES runs execute at once,
however many workers there are. A slot is an flock on a file in var/, so a worker
that dies releases its slot with its file descriptors — no stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings

from labs.sandbox.paths import var_dir


class NoSlot(Exception):
    pass


@contextmanager
def sandbox_slot(
    *, wait_seconds: float, should_give_up: Callable[[], bool] = lambda: False
) -> Iterator[int]:
    """Hold one slot for the duration of the block; raise NoSlot if none frees in time."""
    directory = var_dir() / "slots"
    directory.mkdir(parents=True, exist_ok=True)
    count = slots_total()
    deadline = time.monotonic() + wait_seconds
    while True:
        for index in range(count):
            fd = os.open(directory / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield index
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() > deadline or should_give_up():
            raise NoSlot(f"all {count} sandbox slots stayed busy for {wait_seconds:.0f} s")
        time.sleep(0.25)


def slots_total() -> int:
    return max(1, settings.VIRTLAB_MAX_RUNNING_SANDBOXES)


def slots_in_use() -> int:
    """How many of this host's slots are held now, by any process: the kernel's list of
    flocks (/proc/locks) names each held lock's file by device and inode. Read-only, so
    unlike trying each lock it never makes a worker miss a free slot."""
    directory = var_dir() / "slots"
    files = set()
    for index in range(slots_total()):
        try:
            info = os.stat(directory / f"slot-{index}.lock", follow_symlinks=False)
        except OSError:
            continue  # never taken yet
        files.add(f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}")
    try:
        with open("/proc/locks") as locks:
            held = {
                fields[5]
                for line in locks  # a waiter's line reads "2: -> FLOCK …"
                if len(fields := line.split()) > 5 and fields[1] == "FLOCK"
            }
    except OSError:
        return 0
    return len(files & held)
