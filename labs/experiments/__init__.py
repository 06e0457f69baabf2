"""The lab catalogue: one module per lab, registered here in teaching order.

Like the question types' registry (``courseware.quizzes.types``); CONTRIBUTING.md
shows the two side by side."""

from __future__ import annotations

from importlib import import_module

from .base import Lab

LAB_MODULES = [
    "boot_race",
    "footprint",
    "isolation",
    "limits",
    "images",
    "emulation",
    "vm_features",
    "networking",
    "vm_disks",
    "desktop_capacity",
    "orchestration",
    "sandboxed_containers",
]


def _load() -> dict[str, Lab]:
    registry: dict[str, Lab] = {}
    for module_name in LAB_MODULES:
        # A listed module that is missing is an error at start-up, never skipped: a
        # lesson or a prediction naming its lab would otherwise break quietly.
        module = import_module(f"{__name__}.{module_name}")
        if module.LAB.slug in registry:
            raise ImportError(f"lab {module.LAB.slug!r} is registered twice")
        registry[module.LAB.slug] = module.LAB
    return registry


REGISTRY: dict[str, Lab] = _load()


def get_lab(slug: str) -> Lab | None:
    return REGISTRY.get(slug)


def all_labs() -> list[Lab]:
    return list(REGISTRY.values())
