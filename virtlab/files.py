"""Replacing a file that other processes read (the standard library only: the sandbox
layer uses it too, and it never imports Django)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Make ``data`` the content of ``path`` in one step: a reader sees the old file
    or the new one, never half of one. The temporary file beside it has a name of this
    writer's own, so two writers at once (two lab workers probing, a test process
    beside a server) never write into, or rename, each other's; it is removed when
    writing fails."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only left when writing failed
