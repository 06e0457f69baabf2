"""What a lab is: parameters with bounds, the capabilities it needs, a run that
yields progress and samples, a summary and a figure.

Labs live in this package, one module each, and are registered in ``REGISTRY``
(``labs.experiments``). They may use the sandbox package but never Django models:
the runner (``labs.runner``) owns the database side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Number = int | float

# Capability names (as the sandbox doctor reports them) that labs list in ``needs``.
NEEDS_CONTAINERS = ("container-runtime", "container-rootfs", "cgroups")
NEEDS_VMS = ("tcg", "guest-kernel", "guest-initramfs", "cgroups")  # QEMU runs in one


class ParamError(ValueError):
    """A parameter value is out of bounds or not a number; the message says why."""


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    default: Number
    minimum: Number
    # The upper bound may depend on the host (e.g. guest memory): a callable is
    # asked at validation time, so the form never offers what the host lacks.
    maximum: Number | Callable[[], Number]
    help: str = ""
    unit: str = ""
    kind: type = int

    def upper(self) -> Number:
        return self.maximum() if callable(self.maximum) else self.maximum

    @property
    def is_switch(self) -> bool:
        """A whole number that can only be 0 or 1 is a yes/no question (a checkbox)."""
        return self.kind is int and self.minimum == 0 and self.upper() == 1

    def clean(self, raw: Any) -> Number:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise ParamError("This value is required.")
        try:
            value = self.kind(raw)
            if self.kind is int and isinstance(raw, float) and raw != int(raw):
                raise ValueError
        except (TypeError, ValueError):
            kind = "a whole number" if self.kind is int else "a number"
            raise ParamError(f"Enter {kind}.") from None
        upper = self.upper()
        if not (self.minimum <= value <= upper):
            unit = f" {self.unit}" if self.unit else ""
            raise ParamError(f"Must be between {self.minimum} and {upper}{unit}.")
        return value


@dataclass(frozen=True)
class Progress:
    step: str
    fraction: float  # 0..1 of the whole run


@dataclass(frozen=True)
class Sample:
    values: dict[str, Any]


Event = Progress | Sample


@dataclass
class RunContext:
    """What a running lab may know about its run."""

    run_id: int
    should_stop: Callable[[], bool] = lambda: False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = ""


@dataclass(frozen=True)
class Lab:
    slug: str
    title: str
    summary: str  # one sentence for the catalogue
    explanation: str  # Markdown: what the lab shows and why
    params: tuple[Param, ...]
    needs: tuple[str, ...]  # capability names from the sandbox doctor
    columns: tuple[Column, ...]  # the data table and CSV, in order
    run: Callable[[dict, RunContext], Iterator[Event]]
    summarize: Callable[[list[dict], dict], dict]
    figure: Callable[[list[dict], dict, dict], Any]  # -> plotly Figure
    # Seconds the run may take at most for these parameters (the wall deadline).
    max_seconds: Callable[[dict], float] = lambda params: 300.0
    predict_keys: tuple[str, ...] = ()  # summary keys quizzes may score against
    summary_labels: dict[str, str] = field(default_factory=dict)
    # Terminal kinds ("container", "vm", "vm-container") the lab page offers, so a
    # student can look inside what the lab measured (terminals/).
    terminals: tuple[str, ...] = ()

    # Which lessons go with a lab is said once, by each lesson's front matter ``labs:``
    # (courseware.quizzes.predictions.lessons_for_lab), not here.

    @property
    def summary_keys(self) -> frozenset[str]:
        """The summary keys this lab declares it reports: the ones it labels and the
        ones quizzes score predictions against. A prediction naming any other key is
        refused at import (courseware.quizzes.predictions.measure_problem)."""
        return frozenset(self.summary_labels) | frozenset(self.predict_keys)

    def validate(self, raw: dict[str, Any]) -> tuple[dict[str, Number], dict[str, str]]:
        """Cleaned parameters (defaults filled in) and errors by parameter name."""
        unknown = sorted(set(raw) - {p.name for p in self.params})
        errors = {name: "This lab has no such parameter." for name in unknown}
        cleaned: dict[str, Number] = {}
        for param in self.params:
            try:
                cleaned[param.name] = param.clean(raw.get(param.name, param.default))
            except ParamError as exc:
                errors[param.name] = str(exc)
        return cleaned, errors

    def defaults(self) -> dict[str, Number]:
        return {p.name: p.default for p in self.params}
