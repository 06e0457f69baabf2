"""Kernel modules the guest may load: virtio devices (block, network, console),
vsock and veth, taken from the same Debian kernel package as the guest kernel.

Debian's cloud kernel builds these as modules, and a busybox initramfs has no
``modprobe`` database, so we pick the files out of the unpacked package, work out
each module's dependencies from its own ``.modinfo`` section (the package ships no
``modules.dep``; ``depmod`` makes that at install time, which we never do), and put
them in the initramfs with one load list per module. A guest loads only what its
kernel command line names (``virtlab.modules=virtio_blk,…``), so a plain boot costs
nothing extra.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# What labs attach to guests, and veth for the network-namespace exercise in VM
# terminals; their dependencies come along.
WANTED = (
    "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "vmw_vsock_virtio_transport",
    "veth",
)  # fmt: skip
MODULES_DIR = "lib/modules"  # inside the initramfs


class ModuleError(RuntimeError):
    pass


def _depends(ko: bytes) -> list[str]:
    """The ``depends=`` entry of a module's .modinfo strings (NUL-separated)."""
    for field in ko.split(b"\0"):
        if field.startswith(b"depends="):
            names = field.removeprefix(b"depends=").decode()
            return [name.replace("-", "_") for name in names.split(",") if name]
    return []


def collect(kernel_tree: Path, release: str) -> dict[str, bytes]:
    """``{module name: .ko bytes}`` for WANTED and everything they depend on."""
    root = kernel_tree / "lib" / "modules" / release / "kernel"
    by_name = {path.stem.replace("-", "_"): path for path in root.rglob("*.ko")}
    found: dict[str, bytes] = {}
    pending = list(WANTED)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        if name not in by_name:
            raise ModuleError(f"module {name} is not in the kernel package ({root})")
        found[name] = by_name[name].read_bytes()
        pending += _depends(found[name])
    return found


def load_lists(modules: dict[str, bytes]) -> dict[str, list[str]]:
    """For each module, the modules to insmod, dependencies first, itself last."""
    lists: dict[str, list[str]] = {}

    def order(name: str, seen: tuple[str, ...] = ()) -> list[str]:
        if name in seen:
            raise ModuleError(f"dependency cycle: {' -> '.join((*seen, name))}")
        result: list[str] = []
        for dep in _depends(modules[name]):
            for item in order(dep, (*seen, name)):
                if item not in result:
                    result.append(item)
        return [*result, name]

    for name in modules:
        lists[name] = order(name)
    return lists


def digest(modules: dict[str, bytes]) -> str:
    total = hashlib.sha256()
    for name in sorted(modules):
        total.update(name.encode() + b"\0" + hashlib.sha256(modules[name]).digest())
    return total.hexdigest()
