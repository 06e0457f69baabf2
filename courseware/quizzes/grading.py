"""Grading quiz answers: the shared, pure parts (no Django).

Each question type (``courseware.quizzes.types``) parses and grades its own answers
with these helpers; ``types.parse_answer`` and ``types.grade`` pick the type.

Rules, per type:

- single, true/false, numeric, text: 1 or 0.
- multiple: ``max(0, (right picks − wrong picks) / number of correct choices)``.
- ordering: the fraction of item pairs whose relative order is right (Kendall-style),
  so one item misplaced costs little and a reversed list scores 0.
- matching: the fraction of left items matched to their right item.
- numeric tolerance is inclusive: absolute ``|x − a| ≤ t``; relative
  ``|x − a| ≤ t·|a|`` (t = 0.5 means within 50 %). A tiny epsilon absorbs float
  rounding so the stated bound itself counts as right.
- predict-then-measure numerics are graded like numerics against the student's own
  measured value; without a measurement the score is None (pending).

An answer is ``correct`` only when its score is 1.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_NUMBER_LENGTH = 40
FLOAT_EPSILON = 1e-9
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")

FormData = Mapping[str, Sequence[str]]


class AnswerError(ValueError):
    """The submission cannot be graded; the message says what to fix."""


@dataclass(frozen=True)
class Grade:
    score: float | None  # None: a prediction waiting for the student's measurement
    correct: bool
    feedback: tuple[str, ...] = ()  # Markdown feedback for the choices picked
    detail: dict[str, Any] = field(default_factory=dict)


def is_prediction(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "numeric" and "measure" in spec


def item_key(qid: str, text: str) -> str:
    """A short stable token for an ordering item or matching side (not its position)."""
    return hashlib.sha256(f"{qid}\0{text}".encode()).hexdigest()[:10]


def shuffled(qid: str, texts: Sequence[str], seed: int | str) -> list[str]:
    """A per-student order that depends only on the texts, never on the correct order."""
    return sorted(texts, key=lambda t: hashlib.sha256(f"{seed}\0{qid}\0{t}".encode()).digest())


THOUSANDS_RE = re.compile(r"^[+-]?[1-9]\d{0,2},\d{3}$")  # 0,125 is only a decimal
SMALL_INT_RE = re.compile(r"[0-9]{1,6}")


def small_int(raw: str) -> int | None:
    """``raw`` as a small non-negative integer, or None. Not ``str.isdigit``: it accepts
    "²", which ``int`` then refuses, and any length, which ``int`` refuses past 4300."""
    return int(raw) if SMALL_INT_RE.fullmatch(raw) else None


def normalise_text(text: str) -> str:
    return " ".join(text.split())


def parse_number(raw: str, units: str = "") -> float:
    text = raw.strip()
    if units and text.lower().endswith(units.lower()):
        text = text[: -len(units)].strip()
    text = text.replace(" ", "").replace("\u202f", "")
    if len(text) > MAX_NUMBER_LENGTH or not NUMBER_RE.match(text):
        raise AnswerError("Enter a number, for example 2.5 or 1e3.")
    if THOUSANDS_RE.match(text):
        # A decimal comma is accepted (2,5), but 1,500 could be 1.5 or 1500.
        raise AnswerError(
            f"{raw.strip()} could mean two numbers: write it without the comma "
            "(for example 1500), or with a decimal point (1.5)."
        )
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise AnswerError("Enter a finite number.")
    return value


def within_tolerance(value: float, target: float, tolerance: float, mode: str) -> bool:
    allowed = tolerance * abs(target) if mode == "relative" else tolerance
    # Only rounding noise is forgiven, relative to the numbers' own size, so that
    # tiny quantities (nanoseconds as seconds) are not all "equal".
    slack = FLOAT_EPSILON * max(abs(target), abs(value))
    return abs(value - target) <= allowed + slack


def scored(score: float, feedback: Sequence[str] = (), **detail: Any) -> Grade:
    """A grade for ``score`` clipped to 0…1; correct only at 1."""
    score = min(1.0, max(0.0, score))
    return Grade(
        score=score, correct=score >= 1.0 - FLOAT_EPSILON, feedback=tuple(feedback), detail=detail
    )


def tolerance_range(spec: Mapping[str, Any], target: float) -> tuple[float, float]:
    tolerance = float(spec.get("tolerance", 0))
    allowed = tolerance * abs(target) if spec.get("tolerance_mode") == "relative" else tolerance
    return target - allowed, target + allowed
