"""Names for everything a run creates.

Every process title, cgroup, network namespace, interface, socket and scratch
directory a run makes starts with ``vl<run id>-`` so the reaper can find leftovers
after a crash by name alone. Interface names are limited to 15 bytes by the kernel,
which is why ``short`` exists.
"""

from __future__ import annotations

import itertools
import os
import re
import time

from . import ownership

PREFIX_RE = re.compile(r"^vl(\d+)-")
IFNAMSIZ_MAX = 15

_adhoc_counter = itertools.count()


def run_prefix(run_id: int) -> str:
    if run_id < 0:
        raise ValueError("run id must be non-negative")
    return f"vl{run_id}-"


def name_for(run_id: int, what: str) -> str:
    """A name for a resource of run ``run_id``; ``what`` says which (``c0``, ``vm1``…)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", what):
        raise ValueError(f"bad resource name part: {what!r}")
    return run_prefix(run_id) + what


def short_name(run_id: int, what: str) -> str:
    """A name that fits an interface name (15 bytes); raises when it cannot."""
    name = name_for(run_id, what)
    if len(name) > IFNAMSIZ_MAX:
        raise ValueError(f"{name!r} is longer than {IFNAMSIZ_MAX} bytes")
    return name


def run_id_of(name: str) -> int | None:
    """The run id a resource name belongs to, or None when it is not one of ours."""
    match = PREFIX_RE.match(name)
    return int(match.group(1)) if match else None


ADHOC_FIRST_ID = 900_000_000
ADHOC_ID_COUNT = 99_999_999


def adhoc_run_id() -> int:
    """A run id, claimed for this instance, for work that has no LabRun row (tests,
    benchmarks, the doctor's probes).

    Runs' ids stay below ``ADHOC_FIRST_ID`` (ownership.py); these are 9 decimal digits
    from there, so the two never collide while still fitting interface names. The
    claim makes the id ours alone on this host; ``reaper.reap(only={id})`` releases
    it once nothing named after it is left.
    """
    while True:
        seed = (int(time.time() * 1000) + os.getpid() * 7919 + next(_adhoc_counter)) % (
            ADHOC_ID_COUNT
        )
        candidate = ADHOC_FIRST_ID + seed
        if ownership.try_claim(candidate):
            return candidate
