"""Probe everything the labs need and say how to install what is missing.

``manage.py sandbox_doctor [--json]`` calls ``probe_all`` and ``render``. The VM,
emulation and network modules are written separately and may be absent or broken
on a host: each is imported lazily and any failure becomes a not-ok Capability
instead of a crash.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

from .capability import Capability

# Modules whose capabilities() the doctor collects, in report order.
PROBED_MODULES = (
    "containers",
    "container_assets",
    "userns",
    "cgroups",
    "vms",
    "guest_assets",
    "emulation",
    "netns",
    "images",
)
# What a module's probe needs installed: the fix we print when its import or probe fails.
MODULE_PACKAGES = {
    "containers": "runc bubblewrap",
    "container_assets": "busybox-static",
    "userns": "bubblewrap",
    "cgroups": "",
    "vms": "qemu-system-x86 qemu-utils",
    "guest_assets": "qemu-system-x86 qemu-utils busybox-static",
    "emulation": "qemu-user-static busybox-static",
    "netns": "iproute2 nftables",
    "images": "podman docker-registry",
}
# Capability names without which no lab can run at all.
REQUIRED = ("container-runtime", "container-rootfs", "cgroups")
# Capabilities with a fallback: when one is missing but its fallback works, nothing is
# broken and nothing needs installing, so the report reads as information, not as a
# failure (KVM under nested virtualization often fails its probe boot; TCG then runs
# every VM, only slower, and every chart says which accelerator was used).
FALLBACKS = {"kvm": ("tcg", "KVM not usable here: using TCG")}


def _probe_module(module_name: str) -> list[Capability]:
    try:
        module = importlib.import_module(f"{__package__}.{module_name}")
        probe: Callable[[], list[Capability]] = module.capabilities
        found = list(probe())
    except Exception as error:  # a broken probe is itself a finding
        packages = MODULE_PACKAGES.get(module_name) or "runc bubblewrap busybox-static"
        fix = f"apt-get install -y {packages}  (and check labs/sandbox/{module_name}.py is present)"
        return [
            Capability(module_name, False, f"probe failed: {type(error).__name__}: {error}", fix)
        ]
    return [cap for cap in found if isinstance(cap, Capability)]


def probe_all() -> list[Capability]:
    capabilities: list[Capability] = []
    for module_name in PROBED_MODULES:
        capabilities += _probe_module(module_name)
    return capabilities


def labs_ready(capabilities: list[Capability]) -> bool:
    """True when the required capabilities are present and ok (other labs degrade alone)."""
    by_name = {cap.name: cap for cap in capabilities}
    return all(name in by_name and by_name[name].ok for name in REQUIRED)


def render(capabilities: list[Capability], *, as_json: bool = False) -> str:
    ready = labs_ready(capabilities)
    if as_json:
        return json.dumps(
            {"ready": ready, "capabilities": [cap.as_dict() for cap in capabilities]}, indent=2
        )
    width = max((len(cap.name) for cap in capabilities), default=10)
    working = {cap.name for cap in capabilities if cap.ok}
    lines = []
    for cap in capabilities:
        mark, detail = ("ok  " if cap.ok else "MISS"), cap.detail
        fallback, note = FALLBACKS.get(cap.name, (None, ""))
        if not cap.ok and fallback in working:
            mark, detail = "info", f"{note} ({cap.detail})"
        lines.append(f"{mark} {cap.name:<{width}}  {detail}")
        if not cap.ok and cap.install:
            lines.append(f"     {'':<{width}}  fix: {cap.install}")
    lines.append("labs ready" if ready else "labs NOT ready")
    return "\n".join(lines)


def main(as_json: bool = False) -> int:
    """Print the report; exit status 0 when labs can run."""
    capabilities = probe_all()
    print(render(capabilities, as_json=as_json))
    return 0 if labs_ready(capabilities) else 1
