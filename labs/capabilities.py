"""The sandbox doctor's findings, cached for the web process.

The web process never starts a sandbox, and some probes do (a trivial container, a
probe guest). So the doctor runs in `make run`/`make test` setup, in
`manage.py sandbox_doctor` and when a lab worker starts, and writes its findings to
``var/capabilities.json``. A lab worker also records them on its host's row
(``LabHost``), so that with several lab hosts the web tier, which may run on a machine
with no doctor of its own, knows what the hosts that take the runs can do; pages read
those rows, or the file when no worker has registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from labs.sandbox import doctor
from labs.sandbox.capability import Capability
from labs.sandbox.paths import var_dir
from virtlab.files import replace_file

from .experiments.base import Lab
from .hosts import live_hosts


def cache_path() -> Path:
    return var_dir() / "capabilities.json"


def refresh() -> list[Capability]:
    found = doctor.probe_all()
    payload = {
        "probed_at": timezone.now().isoformat(),
        "capabilities": [cap.as_dict() for cap in found],
    }
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(payload, indent=2).encode())
    return found


def cached() -> tuple[dict[str, Capability], str | None]:
    """Capabilities by name and when they were probed ({} and None if never)."""
    if from_hosts := _live_hosts():
        return from_hosts
    try:
        payload = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}, None
    caps = {item["name"]: Capability(**item) for item in payload.get("capabilities", [])}
    return caps, payload.get("probed_at")


_MISSING = Capability("", False, "not probed")


def _live_hosts() -> tuple[dict[str, Capability], str] | None:
    """What every live lab host that has probed itself can do, or None if none has.

    Every one, not any: the queue hands a run to whichever worker asks first, so a lab
    is offered only when each host could run it (what a host lacks is reported with
    that host's name)."""
    rows = list(
        live_hosts()
        .filter(capabilities__isnull=False)
        .values_list("hostname", "host_id", "capabilities", "started_at")
    )
    if not rows:
        return None
    hosts = [
        (hostname or host_id, {item["name"]: Capability(**item) for item in found})
        for hostname, host_id, found, _ in rows
    ]
    merged: dict[str, Capability] = {}
    for name in {name for _, found in hosts for name in found}:
        lacking = [
            (host, found.get(name)) for host, found in hosts if not found.get(name, _MISSING).ok
        ]
        if not lacking:
            merged[name] = hosts[0][1][name]
            continue
        host, cap = lacking[0]
        detail = (cap or _MISSING).detail
        if len(hosts) > 1:
            detail += f" (on {host})"
        merged[name] = Capability(name, False, detail, (cap or _MISSING).install)
    probed_at = min((started for *_, started in rows if started), default=None)
    return merged, probed_at.isoformat() if probed_at else ""


@dataclass
class LabStatus:
    ready: bool
    missing: list[Capability]  # not ok, with install commands
    probed_at: str | None

    @property
    def never_probed(self) -> bool:
        return self.probed_at is None


def lab_status(
    lab: Lab, caps: dict[str, Capability] | None = None, probed_at: str | None = None
) -> LabStatus:
    """Whether this server can run the lab; ``caps`` and ``probed_at`` from one
    ``cached()`` call when asking for many labs (it reads the database)."""
    if caps is None:
        caps, probed_at = cached()
    missing = []
    for name in lab.needs:
        cap = caps.get(name)
        if cap is None:
            missing.append(
                Capability(name, False, "not probed yet", "python manage.py sandbox_doctor")
            )
        elif not cap.ok:
            missing.append(cap)
    return LabStatus(ready=not missing, missing=missing, probed_at=probed_at)
