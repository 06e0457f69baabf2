"""Grading quiz answers: pure functions, no Django.

``parse_answer`` turns submitted form fields into the answer stored with an attempt
(or raises AnswerError with a message for the student); ``grade`` scores it.

Rules (also in the README of the quiz feature):

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

import regex

MAX_TEXT_ANSWER = 200
REGEX_TIMEOUT_SECONDS = 0.25
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


def _values(form: FormData, name: str) -> list[str]:
    values = form.get(name) or []
    return [values] if isinstance(values, str) else [str(v) for v in values]


def _first(form: FormData, name: str) -> str:
    values = _values(form, name)
    return values[0].strip() if values else ""


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


def parse_answer(spec: Mapping[str, Any], form: FormData) -> dict[str, Any]:
    """Form fields → the answer JSON stored with the attempt."""
    qtype, qid = spec["type"], spec["id"]
    if qtype == "single":
        choice = _first(form, "choice")
        if not choice:
            raise AnswerError("Choose an answer.")
        if choice not in {str(c["id"]) for c in spec["choices"]}:
            raise AnswerError("That choice is not one of this question's options.")
        return {"choice": choice}
    if qtype == "multiple":
        picked = {v for v in _values(form, "choice") if v.strip()}
        valid = [str(c["id"]) for c in spec["choices"]]
        if not picked:
            raise AnswerError("Select at least one answer.")
        if picked - set(valid):
            raise AnswerError("One of the selected choices is not one of this question's options.")
        return {"choices": [cid for cid in valid if cid in picked]}
    if qtype == "true_false":
        value = _first(form, "choice")
        if value not in {"true", "false"}:
            raise AnswerError("Choose True or False.")
        return {"value": value == "true"}
    if qtype == "numeric":
        raw = _first(form, "value")
        if not raw:
            raise AnswerError("Enter a number.")
        return {"value": parse_number(raw, spec.get("units", "")), "raw": raw[:MAX_NUMBER_LENGTH]}
    if qtype == "text":
        text = normalise_text(_first(form, "value"))
        if not text:
            raise AnswerError("Type an answer.")
        if len(text) > MAX_TEXT_ANSWER:
            raise AnswerError(f"Keep the answer under {MAX_TEXT_ANSWER} characters.")
        return {"text": text}
    if qtype == "ordering":
        items = spec["items"]
        positions: dict[str, int] = {}
        for text in items:
            raw = _first(form, f"pos-{item_key(qid, text)}")
            if not raw:
                raise AnswerError("Give every step a position.")
            position = small_int(raw)
            if position is None or not 1 <= position <= len(items):
                raise AnswerError(f"Positions go from 1 to {len(items)}.")
            positions[text] = position
        if len(set(positions.values())) != len(items):
            raise AnswerError("Give each step a different position.")
        return {"order": sorted(positions, key=positions.__getitem__)}
    if qtype == "matching":
        rights = {item_key(qid, p["right"]): p["right"] for p in spec["pairs"]}
        pairs: dict[str, str] = {}
        for pair in spec["pairs"]:
            raw = _first(form, f"match-{item_key(qid, pair['left'])}")
            if not raw:
                raise AnswerError("Choose a match for every item.")
            if raw not in rights:
                raise AnswerError("One of the matches is not one of this question's options.")
            pairs[pair["left"]] = rights[raw]
        return {"pairs": pairs}
    raise AnswerError(f"Unknown question type {qtype!r}.")


def within_tolerance(value: float, target: float, tolerance: float, mode: str) -> bool:
    allowed = tolerance * abs(target) if mode == "relative" else tolerance
    # Only rounding noise is forgiven, relative to the numbers' own size, so that
    # tiny quantities (nanoseconds as seconds) are not all "equal".
    slack = FLOAT_EPSILON * max(abs(target), abs(value))
    return abs(value - target) <= allowed + slack


def _text_matches(text: str, answers: Sequence[str], mode: str) -> bool:
    if len(text) > MAX_TEXT_ANSWER:  # bounds the work any regex can do
        return False
    if mode == "regex":
        return any(_regex_fullmatch(pattern, text) for pattern in answers)
    if mode == "nocase":
        return any(text.casefold() == normalise_text(a).casefold() for a in answers)
    return any(text == normalise_text(a) for a in answers)


def _regex_fullmatch(pattern: str, text: str) -> bool:
    # The import check refuses patterns known to backtrack badly; the timeout is the
    # backstop, so no pattern can hold a web worker whatever it is.
    try:
        return regex.fullmatch(pattern, text, timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        return False


def ordering_score(answer: Sequence[str], correct: Sequence[str]) -> float:
    rank = {text: i for i, text in enumerate(correct)}
    placed = [rank[t] for t in answer if t in rank]
    if len(placed) != len(correct) or len(correct) < 2:
        return 0.0
    pairs = len(placed) * (len(placed) - 1) // 2
    right = sum(
        1 for i in range(len(placed)) for j in range(i + 1, len(placed)) if placed[i] < placed[j]
    )
    return right / pairs


def _result(score: float, feedback: Sequence[str] = (), **detail: Any) -> Grade:
    score = min(1.0, max(0.0, score))
    return Grade(
        score=score, correct=score >= 1.0 - FLOAT_EPSILON, feedback=tuple(feedback), detail=detail
    )


def grade(
    spec: Mapping[str, Any], answer: Mapping[str, Any], *, measured: float | None = None
) -> Grade:
    """Score a parsed answer. ``measured`` is the student's own value for predictions."""
    qtype = spec["type"]
    if qtype in ("single", "multiple"):
        choices = {str(c["id"]): c for c in spec["choices"]}
        picked = [answer["choice"]] if qtype == "single" else list(answer.get("choices", []))
        feedback = [
            choices[c]["feedback"] for c in picked if c in choices and choices[c].get("feedback")
        ]
        correct_ids = {cid for cid, c in choices.items() if c.get("correct")}
        if qtype == "single":
            return _result(1.0 if picked[0] in correct_ids else 0.0, feedback)
        hits = len(correct_ids.intersection(picked))
        misses = len(set(picked) - correct_ids)
        return _result((hits - misses) / len(correct_ids), feedback)
    if qtype == "true_false":
        return _result(1.0 if answer.get("value") is spec["answer"] else 0.0)
    if qtype == "numeric":
        target = measured if is_prediction(spec) else spec["answer"]
        if target is None:
            return Grade(score=None, correct=False, detail={"pending": True})
        ok = within_tolerance(
            float(answer["value"]),
            float(target),
            float(spec.get("tolerance", 0)),
            spec.get("tolerance_mode", "absolute"),
        )
        return _result(1.0 if ok else 0.0, target=target)
    if qtype == "text":
        ok = _text_matches(str(answer.get("text", "")), spec["answers"], spec.get("match", "exact"))
        return _result(1.0 if ok else 0.0)
    if qtype == "ordering":
        return _result(ordering_score(answer.get("order", []), spec["items"]))
    if qtype == "matching":
        given = answer.get("pairs", {})
        right = [given.get(p["left"]) == p["right"] for p in spec["pairs"]]
        return _result(sum(right) / len(right), right=right)
    raise ValueError(f"unknown question type {qtype!r}")


def tolerance_range(spec: Mapping[str, Any], target: float) -> tuple[float, float]:
    tolerance = float(spec.get("tolerance", 0))
    allowed = tolerance * abs(target) if spec.get("tolerance_mode") == "relative" else tolerance
    return target - allowed, target + allowed
