"""Virtual disk images for the vm-disks lab: create, clone, chain, measure, contain.

Everything lives in one run-named scratch directory (``vl<id>-disks``), so the reaper
removes it after a crash like any other; the only mount is a size-limited tmpfs inside
it, which is how a lab fills "the host's disk" without ever filling the host's disk.
Sizes on the host are measured, never computed: the blocks a file really has
(``st_blocks``) and what ``qemu-img info`` reports.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .naming import name_for
from .paths import scratch_root
from .reaper import remove_scratch_dir

QEMU_IMG_TIMEOUT = 60
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
_libc = ctypes.CDLL(None, use_errno=True)


class DiskError(RuntimeError):
    pass


def _qemu_img(*args: str, timeout: float = QEMU_IMG_TIMEOUT) -> str:
    result = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise DiskError(f"qemu-img {args[0]} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def _qemu_io(image: Path, command: str, image_format: str = "qcow2") -> None:
    result = subprocess.run(
        ["qemu-io", "-f", image_format, "-c", command, str(image)],
        capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0 or "error" in result.stdout.lower():
        raise DiskError(f"qemu-io {command!r} failed: {(result.stderr or result.stdout)[:300]}")


@dataclass(frozen=True)
class Made:
    path: Path
    seconds: float  # how long creating it took


class DiskWorkspace:
    """The run's disk scratch directory; a context manager that removes it all."""

    def __init__(self, run_id: int) -> None:
        self.root = scratch_root() / name_for(run_id, "disks")
        self.full_dir = self.root / "full"

    def __enter__(self) -> DiskWorkspace:
        scratch_root().mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.root):
            remove_scratch_dir(self.root)  # a crashed attempt's leftover
        self.root.mkdir(mode=0o700)
        return self

    def __exit__(self, *exc: object) -> None:
        remove_scratch_dir(self.root)  # unmounts the tmpfs first, follows no symlink

    def free_bytes(self) -> int:
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    # -- images ------------------------------------------------------------------------

    def create(self, name: str, size: str, *, image_format: str = "qcow2",
               preallocate: bool = False, backing: Path | None = None,
               directory: Path | None = None) -> Made:  # fmt: skip
        path = (directory or self.root) / name
        args = ["create", "-q", "-f", image_format]
        if preallocate:
            args += ["-o", "preallocation=falloc"]
        if backing is not None:
            args += ["-b", str(backing), "-F", "qcow2"]
        started = time.monotonic()
        _qemu_img(*args, str(path), *([size] if size else []))
        return Made(path, time.monotonic() - started)

    def full_copy(self, source: Path, name: str) -> Made:
        """A full clone: every allocated block copied into a new, independent image."""
        path = self.root / name
        started = time.monotonic()
        _qemu_img("convert", "-f", "qcow2", "-O", "qcow2", str(source), str(path))
        return Made(path, time.monotonic() - started)

    def fill(self, image: Path, *, offset_mib: int, length_mib: int, pattern: int) -> None:
        """Write a byte pattern through QEMU's own block layer, as a guest write would."""
        _qemu_io(image, f"write -q -P {pattern} {offset_mib}M {length_mib}M")

    # -- the small filesystem that runs out --------------------------------------------

    def mount_small_filesystem(self, size_mib: int) -> Path:
        """A tmpfs of ``size_mib`` inside the run's scratch: the host disk that fills up."""
        self.full_dir.mkdir(mode=0o700)
        options = f"size={size_mib}m,mode=0700".encode()
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        target = os.fsencode(str(self.full_dir))
        if _libc.mount(b"tmpfs", target, b"tmpfs", flags, options) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"mount tmpfs on {self.full_dir}: {os.strerror(error)}")
        return self.full_dir


def allocated_bytes(path: Path) -> int:
    """Bytes the file really occupies on the host (its blocks), not its apparent size."""
    return os.lstat(path).st_blocks * 512


def image_info(path: Path) -> dict:
    """``qemu-img info`` (shared lock: the image may be in use by a running guest)."""
    data = json.loads(_qemu_img("info", "-U", "--output=json", str(path)))
    return {
        "virtual_bytes": int(data.get("virtual-size", 0)),
        "actual_bytes": int(data.get("actual-size", 0)),
        "backing": data.get("backing-filename"),
        "format": data.get("format"),
    }


def chain_depth(path: Path) -> int:
    """How many images a read may have to look through (the image and its backings)."""
    data = json.loads(_qemu_img("info", "-U", "--backing-chain", "--output=json", str(path)))
    return len(data) if isinstance(data, list) else 1


def tools_present() -> bool:
    return all(shutil.which(tool) for tool in ("qemu-img", "qemu-io"))
