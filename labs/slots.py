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
    count = max(1, settings.VIRTLAB_MAX_RUNNING_SANDBOXES)
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
