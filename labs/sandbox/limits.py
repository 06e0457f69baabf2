"""Limits every sandbox runs under (docs/architecture.md, sandbox rule 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 30.0  # killed after this, whatever it is doing
    cpu_percent: int = 100  # CPU quota, percent of one core
    memory_mib: int = 128  # cgroup memory limit (containers) / guest RAM ceiling (VMs)
    pids: int = 64  # cgroup pids.max
    open_files: int = 256  # RLIMIT_NOFILE
    file_size_mib: int = 16  # RLIMIT_FSIZE
    tmpfs_mib: int = 16  # size of the writable tmpfs inside a container
    output_bytes: int = 64 * 1024  # stdout+stderr kept; the rest is dropped and noted

    def __post_init__(self) -> None:
        for field, value in asdict(self).items():
            if value <= 0:
                raise ValueError(f"limit {field} must be positive, got {value}")
        if self.cpu_percent > 400:
            raise ValueError("cpu_percent above 400 is not a limit")

    def as_dict(self) -> dict:
        return asdict(self)
