"""Choose the VM accelerator by booting a probe guest, never by looking at /dev/kvm.

On hosts where nested virtualization is broken ``/dev/kvm`` exists and opens, yet a
KVM guest hangs (or QEMU dies setting MSRs). So: boot a oneshot probe guest under KVM
with a short deadline; if it prints its boot marker, use KVM, else TCG. The decision
is cached in ``var/accel.json`` keyed by what could change it (host kernel, QEMU
version, guest kernel) and re-probed when any of those changes.

This module decides; it does not boot. The VM driver hands it ``boot_probe``, a
function that boots one oneshot guest under a given accelerator (``vms.probe_boot``),
so the dependency runs one way: vms uses accel, never the reverse.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import time
from collections.abc import Callable
from contextlib import contextmanager

from .capability import Capability
from .paths import var_dir

# Boots one oneshot guest under the accelerator, within the timeout; returns
# {"booted": bool, "why": str, …} (see vms.probe_boot).
BootProbe = Callable[[str, float], dict]

KVM_PROBE_TIMEOUT = 8.0
TCG_PROBE_TIMEOUT = 30.0
KVM_DEVICE = "/dev/kvm"
INSTALL_QEMU = "apt-get install -y qemu-system-x86"


def _cache_path():
    return var_dir() / "accel.json"


def _cache_key() -> dict:
    from . import guest_assets, vm_process

    return {
        "host_kernel": platform.release(),
        "qemu_version": vm_process.qemu_version(),
        "guest_kernel": guest_assets.kernel_version(),
    }


def _kvm_usable_device() -> str | None:
    """Why KVM cannot even be tried, or None when the device can be opened."""
    if not os.path.exists(KVM_DEVICE):
        return f"{KVM_DEVICE} is absent (no hardware virtualization exposed to this host)"
    try:
        os.close(os.open(KVM_DEVICE, os.O_RDWR))
    except OSError as error:
        return f"{KVM_DEVICE} cannot be opened: {error.strerror}"
    return None


@contextmanager
def _probe_lock():
    # Two workers starting at once must not both spend a probe (or race on the file).
    var_dir().mkdir(parents=True, exist_ok=True)
    with open(var_dir() / "accel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def probe(boot_probe: BootProbe, kvm_timeout: float = KVM_PROBE_TIMEOUT) -> dict:
    """Probe both accelerators now and write the cache; returns the decision record."""
    no_device = _kvm_usable_device()
    if no_device:
        kvm = {"booted": False, "why": no_device}
    else:
        kvm = boot_probe("kvm", kvm_timeout)
        kvm["why"] = f"{KVM_DEVICE} present but {kvm['why']}" if not kvm["booted"] else kvm["why"]
    tcg = boot_probe("tcg", TCG_PROBE_TIMEOUT)
    if not tcg["booted"]:
        tcg = boot_probe("tcg", TCG_PROBE_TIMEOUT)  # a TCG boot occasionally hangs: once more
    accelerator = "kvm" if kvm["booted"] else "tcg"
    reason = f"kvm: {kvm['why']}" if kvm["booted"] else f"tcg because kvm: {kvm['why']}"
    record = {
        **_cache_key(),
        "accelerator": accelerator,
        "reason": reason,
        "kvm": kvm,
        "tcg": tcg,
        "probed_at": time.time(),
    }
    _cache_path().write_text(json.dumps(record, indent=2) + "\n")
    return record


def decide(
    boot_probe: BootProbe, kvm_timeout: float = KVM_PROBE_TIMEOUT, refresh: bool = False
) -> dict:
    """The cached decision when still valid, else a fresh probe (at most ~kvm_timeout + TCG)."""
    with _probe_lock():
        if not refresh:
            try:
                record = json.loads(_cache_path().read_text())
            except (OSError, ValueError):
                record = {}
            # A TCG probe that failed is not kept: on a host busy enough (a test run, a
            # class's labs) a probe guest can miss its deadline, and a kept failure
            # would refuse every VM lab until the assets or QEMU changed.
            tcg_booted = record.get("tcg", {}).get("booted", False) if record else False
            if tcg_booted and all(record.get(k) == v for k, v in _cache_key().items()):
                return record
        return probe(boot_probe, kvm_timeout)


def capabilities(boot_probe: BootProbe) -> list[Capability]:
    try:
        record = decide(boot_probe)
    except OSError as error:  # QEMU missing, var not writable…
        reason = f"could not probe: {error}"
        return [
            Capability("kvm", False, reason, INSTALL_QEMU),
            Capability("tcg", False, reason, INSTALL_QEMU),
        ]
    kvm, tcg = record["kvm"], record["tcg"]
    return [
        # A broken KVM is a fact of the host, not something a package fixes.
        Capability("kvm", kvm["booted"], kvm["why"]),
        Capability(
            "tcg",
            tcg["booted"],
            f"TCG: {tcg['why']} (QEMU {record['qemu_version']})",
            "" if tcg["booted"] else INSTALL_QEMU,
        ),
    ]
