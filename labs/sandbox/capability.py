"""A probed host capability, as the doctor and the lab pages report it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Capability:
    name: str  # stable key, e.g. "oci-runtime", "kvm", "tcg", "qemu-user", "netns"
    ok: bool
    detail: str  # what was found, or why it is not usable, in one sentence
    install: str = ""  # the command that fixes it when not ok ("" when nothing to install)

    def as_dict(self) -> dict:
        return asdict(self)
