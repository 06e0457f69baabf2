"""Which virtlab a sandbox id belongs to, so that two of them on one host never
touch each other's sandboxes.

Names alone cannot say it: ``vl800001-c0`` may be run 800001 of one server or run 1
of another whose ids start at 800000. So every sandbox id is *claimed* before
anything is named after it: a file ``<CLAIMS_DIR>/vl<id>`` created exclusively,
holding the claiming instance's id. The claim is host-wide (under /run, gone at
reboot like every sandbox), so

- two instances can never use one id at once: the second claim fails with a message
  naming the setting that separates them (``VIRTLAB_SANDBOX_ID_BASE``);
- the reaper removes only what carries a claim of its own instance; what it cannot
  prove is its own it leaves alone, however stale it looks.

An instance is one virtlab deployment: its id is made once and kept in its var/
directory (``instance.json``), or given by ``VIRTLAB_INSTANCE`` (the test suite sets
one per session, since it shares var/ with a developer's server). Each instance also
gets its own default range of sandbox ids, so two servers started with default
settings do not even compete for ids.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .paths import var_dir

CLAIMS_DIR = Path(os.environ.get("VIRTLAB_CLAIMS_DIR", "/run/virtlab/sandboxes"))
# Default id ranges: one of 898 blocks of a million ids, below the ad-hoc ids
# (naming.adhoc_run_id, from 900,000,000), so every id has at most nine digits and
# names still fit the kernel's 15-byte interface names.
ID_BLOCK = 1_000_000
ID_BLOCKS = range(1, 899)


class SandboxIdTaken(RuntimeError):
    """Another virtlab on this host holds the id."""


@dataclass(frozen=True)
class Instance:
    id: str
    id_base: int  # the default first sandbox id of this instance's runs


@cache
def instance() -> Instance:
    """This process's instance: from ``VIRTLAB_INSTANCE`` or var/instance.json (made once)."""
    if given := os.environ.get("VIRTLAB_INSTANCE"):
        return Instance(given, ID_BLOCK * (1 + int.from_bytes(given.encode()) % len(ID_BLOCKS)))
    path = var_dir() / "instance.json"
    with contextlib.suppress(FileNotFoundError):
        data = json.loads(path.read_text())
        return Instance(str(data["id"]), int(data["id_base"]))
    made = Instance(secrets.token_hex(8), ID_BLOCK * secrets.choice(ID_BLOCKS))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process of this instance made it first
        data = json.loads(path.read_text())
        return Instance(str(data["id"]), int(data["id_base"]))
    with os.fdopen(fd, "w") as handle:
        json.dump({"id": made.id, "id_base": made.id_base}, handle)
    return made


def _claim_path(sandbox_id: int) -> Path:
    return CLAIMS_DIR / f"vl{sandbox_id}"


def claim(sandbox_id: int, *, owner: str | None = None) -> None:
    """Claim ``sandbox_id`` for this instance (a no-op if it already holds it)."""
    owner = owner or instance().id
    CLAIMS_DIR.mkdir(parents=True, exist_ok=True, mode=0o755)
    record = json.dumps({"owner": owner, "pid": os.getpid(), "at": time.time()})
    try:
        fd = os.open(
            _claim_path(sandbox_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644
        )
    except FileExistsError:
        holder = claimant(sandbox_id)
        if holder == owner:
            return
        raise SandboxIdTaken(
            f"sandbox id vl{sandbox_id} belongs to another virtlab on this host "
            f"(instance {holder}); give each server its own VIRTLAB_SANDBOX_ID_BASE"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(record)


def try_claim(sandbox_id: int) -> bool:
    try:
        claim(sandbox_id)
    except SandboxIdTaken:
        return False
    return True


def _record(sandbox_id: int) -> dict | None:
    try:
        fd = os.open(_claim_path(sandbox_id), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd) as handle:
        try:
            return json.loads(handle.read() or "null")
        except ValueError:
            return None


def claimant(sandbox_id: int) -> str | None:
    record = _record(sandbox_id)
    return record.get("owner") if isinstance(record, dict) else None


def owns(sandbox_id: int) -> bool:
    """True only when this instance's claim on the id is there to prove it."""
    return claimant(sandbox_id) == instance().id


def release(sandbox_id: int) -> None:
    """Give the id up (only our own claim; call once nothing named after it is left)."""
    if owns(sandbox_id):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_claim_path(sandbox_id))


def claimed_ids() -> list[int]:
    try:
        names = os.listdir(CLAIMS_DIR)
    except OSError:
        return []
    return [int(name[2:]) for name in names if name.startswith("vl") and name[2:].isdigit()]


def abandoned(sandbox_id: int) -> bool:
    """A claim whose claiming process is gone: it protects nothing once its sandboxes
    are gone too (the caller checks that), whoever made it."""
    record = _record(sandbox_id)
    if not isinstance(record, dict):
        return False
    try:
        os.kill(int(record["pid"]), 0)
    except (KeyError, TypeError, ValueError):
        return False
    except OSError as error:
        return error.errno == errno.ESRCH
    return False


def drop_claim(sandbox_id: int) -> None:
    """Remove a claim whatever its owner (only for abandoned, empty claims)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_claim_path(sandbox_id))


def adopt_abandoned(sandbox_id: int, *, owner_prefix: str) -> bool:
    """Take over the claim on ``sandbox_id`` when its claimant's process is gone and
    its owner's name starts with ``owner_prefix``, so that this instance's reaper may
    remove what was left (True when taken). Used only for test sessions' ids
    (``test-<pid>-…``): a test session killed mid-run has nobody to come back for its
    sandboxes, unlike a server, whose instance id outlives its processes."""
    record = _record(sandbox_id)
    if not isinstance(record, dict) or not str(record.get("owner", "")).startswith(owner_prefix):
        return False
    if not abandoned(sandbox_id):
        return False
    record = json.dumps({"owner": instance().id, "pid": os.getpid(), "at": time.time()})
    replacement = _claim_path(sandbox_id).with_name(f".vl{sandbox_id}.{os.getpid()}")
    fd = os.open(replacement, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(record)
    os.replace(replacement, _claim_path(sandbox_id))  # atomic: never no claim at all
    return True
