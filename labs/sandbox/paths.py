"""Where the sandbox layer keeps its files.

Everything lives under one runtime directory (``var/`` at the repository root unless
``VIRTLAB_VAR`` says otherwise) so a fresh clone never writes outside itself and the
reaper knows the only places it has to look.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    return Path(os.environ.get("VIRTLAB_VAR") or REPO_ROOT / "var").resolve()


def assets_dir() -> Path:
    """Built guest assets: kernel, initramfs, container rootfs, aarch64 busybox."""
    return var_dir() / "guest"


def scratch_root() -> Path:
    """Parent of every run's scratch directory (``vl<run id>-…``)."""
    return var_dir() / "runs"
