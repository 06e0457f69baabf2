"""The lab catalogue: one module per lab, registered here in teaching order."""

from __future__ import annotations

from importlib import import_module

from .base import Lab

LAB_MODULES = [
    "boot_race",
    "footprint",
    "isolation",
    "limits",
    "emulation",
    "vm_features",
    "networking",
]


def _load() -> dict[str, Lab]:
    registry: dict[str, Lab] = {}
    for module_name in LAB_MODULES:
        try:
            module = import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module_name}":
                raise
            continue  # not written yet
        registry[module.LAB.slug] = module.LAB
    return registry


REGISTRY: dict[str, Lab] = _load()


def get_lab(slug: str) -> Lab | None:
    return REGISTRY.get(slug)


def all_labs() -> list[Lab]:
    return list(REGISTRY.values())
