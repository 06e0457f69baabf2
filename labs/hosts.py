"""Which lab host this process is, and the heartbeat that tells the others it lives.

A lab host is one var/ directory on one machine: its sandbox claims, slots and reaper
are its own, and a worker's pid means something only there. Several hosts share one
database and one queue; each keeps a ``LabHost`` row fresh, and a host whose row has
not been touched for ``VIRTLAB_HOST_DEAD_AFTER`` seconds counts as dead, so another
host's sweeper may fail its runs (docs/architecture.md, "Several lab hosts").
"""

from __future__ import annotations

import logging
import platform
import socket
import subprocess
import threading
from datetime import timedelta
from functools import cache

import django
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now

from labs.sandbox import hostfacts, ownership
from labs.sandbox.capability import Capability

from .models import LabHost
from .slots import slots_in_use, slots_total

log = logging.getLogger(__name__)
# Far below the dead-after timeout (90 s by default): a few missed beats (a busy
# database, a paused VM) never make a live host look dead.
HEARTBEAT_SECONDS = 5


class HostIdTaken(RuntimeError):
    """Another live host, on another var/ directory, uses this host id."""


def this_host_id() -> str:
    """``VIRTLAB_HOST_ID`` when set, else this instance's id (var/instance.json).

    The instance id, not the hostname: an instance is exactly what a host's claims,
    slots and pids belong to, and it stays the same however the machine is renamed;
    two virtlabs on one machine are two hosts. The hostname is kept beside it for
    people to read."""
    return (settings.VIRTLAB_HOST_ID or ownership.instance().id)[:100]


def dead_since():
    """The oldest heartbeat a live host can have, in the database's own clock."""
    return Now() - timedelta(seconds=settings.VIRTLAB_HOST_DEAD_AFTER)


def live_hosts():
    return LabHost.objects.filter(last_heartbeat__gte=dead_since())


def forget(host_id: str) -> bool:
    """Remove a silent host's row (a machine retired for good) from the lab servers
    page. One conditional DELETE: a host whose heartbeat came back in the meantime is
    kept. Its runs keep the host's name; any still marked as running are failed by the
    next sweep, as they would have been anyway. A worker that starts there again
    registers afresh."""
    deleted, _ = LabHost.objects.filter(host_id=host_id, last_heartbeat__lt=dead_since()).delete()
    return bool(deleted)


def run_host_is_dead() -> Q:
    """For LabRun querysets: the run's host has no live row (it stopped heartbeating,
    or its row is gone). Evaluated inside the UPDATE that fails the run, so a host
    that came back a moment ago is never taken for dead."""
    return ~Exists(live_hosts().filter(host_id=OuterRef("host")))


@cache
def code_revision() -> str | None:
    """The commit this copy of virtlab runs (None outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def facts() -> dict:
    """What the hosts page shows about a host: its hardware and the software it runs
    (two hosts on different commits or kernels do not measure alike)."""
    return {
        **hostfacts.collect(),
        "virtlab": code_revision(),
        "django": django.get_version(),
        "platform": platform.platform(terse=True),
    }


def _slots() -> dict:
    return {"slots_total": slots_total(), "slots_in_use": slots_in_use()}


def touch() -> None:
    """Heartbeat: this host is alive, with so many slots in use. Makes the row if the
    host never registered (a foreground ``run_lab``), so every run's host has one."""
    host_id = this_host_id()
    values = {"last_heartbeat": Now(), **_slots()}
    if LabHost.objects.filter(host_id=host_id).update(**values):
        return
    try:
        with transaction.atomic():
            LabHost.objects.create(
                host_id=host_id,
                hostname=socket.gethostname(),
                instance_id=ownership.instance().id,
                started_at=Now(),
                **values,
            )
    except IntegrityError:  # another process of this host made it first
        LabHost.objects.filter(host_id=host_id).update(**values)


def register(found: list[Capability]) -> None:
    """A worker starting: record what this host can run and its facts.

    Refuses a host id that a live host of another instance is using: two machines
    under one id would each check the other's worker pids as their own and fail its
    runs."""
    host_id = this_host_id()
    instance_id = ownership.instance().id
    other = live_hosts().filter(host_id=host_id).exclude(instance_id=instance_id).first()
    if other is not None:
        raise HostIdTaken(
            f"host id {host_id!r} is in use by a live lab host on {other.hostname or '?'} "
            f"(another var/ directory); give each host its own VIRTLAB_HOST_ID"
        )
    touch()
    LabHost.objects.filter(host_id=host_id).update(
        hostname=socket.gethostname(),
        instance_id=instance_id,
        capabilities=[cap.as_dict() for cap in found],
        facts=facts(),
        started_at=Now(),
    )


def record_capabilities(found: list[Capability]) -> bool:
    """The doctor ran again (``manage.py sandbox_doctor`` after installing something):
    update this host's row, if it has one, so the pages see the change at once."""
    rows = LabHost.objects.filter(host_id=this_host_id())
    return bool(rows.update(capabilities=[cap.as_dict() for cap in found]))


def heartbeat_forever(stop: threading.Event, every: float = HEARTBEAT_SECONDS) -> None:
    """The worker's heartbeat thread: touch the row until ``stop`` is set."""
    while not stop.wait(every):
        try:
            close_old_connections()
            touch()
        except Exception:  # a missed beat is logged; the next one may get through
            log.exception("lab host heartbeat failed")
        finally:
            connection.close()  # this thread's own connection, never left open
