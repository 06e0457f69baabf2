"""The sandbox doctor's findings, cached for the web process.

The web process never starts a sandbox, and some probes do (a trivial container, a
probe guest). So the doctor runs in `make run`/`make test` setup, in
`manage.py sandbox_doctor` and when a lab worker starts, and writes its findings to
``var/capabilities.json``; pages read that file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from labs.sandbox import doctor
from labs.sandbox.capability import Capability
from labs.sandbox.paths import var_dir

from .experiments.base import Lab


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
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)  # readers never see half a file
    return found


def cached() -> tuple[dict[str, Capability], str | None]:
    """Capabilities by name and when they were probed ({} and None if never)."""
    try:
        payload = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}, None
    caps = {item["name"]: Capability(**item) for item in payload.get("capabilities", [])}
    return caps, payload.get("probed_at")


@dataclass
class LabStatus:
    ready: bool
    missing: list[Capability]  # not ok, with install commands
    probed_at: str | None

    @property
    def never_probed(self) -> bool:
        return self.probed_at is None


def lab_status(lab: Lab, caps: dict[str, Capability] | None = None) -> LabStatus:
    probed_at = None
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
