"""Numbers, with a tolerance (absolute or relative, inclusive) and units.

A numeric question with ``measure: {lab, key}`` instead of ``answer`` is a
prediction: it is graded like any number, against the student's own measurement
(``measured``), and is pending (score None) until there is one. Which run that is
and whether the lab reports the key is decided in ``courseware.quizzes.predictions``.
"""

from __future__ import annotations

from ..grading import (
    MAX_NUMBER_LENGTH,
    AnswerError,
    Grade,
    is_prediction,
    parse_number,
    scored,
    tolerance_range,
    within_tolerance,
)
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts

TOLERANCE_MODES = ("absolute", "relative")


def format_number(value: float) -> str:
    """A number as a student would type it back: no thousands commas (a comma reads as
    a decimal point here), and no digits an author wrote rounded away; twelve
    significant digits drop only float noise such as 0.30000000000000004."""
    return f"{value:.12g}"


def format_measured(value: float) -> str:
    """A measured figure to four significant digits (the rest is noise of one run),
    without an exponent or thousands commas."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


class Numeric(QuestionType):
    name = "numeric"
    label = "Number"
    fields = frozenset({"answer", "tolerance", "tolerance_mode", "units", "measure"})
    form_fields = "value"

    def check(self, q: Spec, fail: base.Fail) -> None:
        measure = q.get("measure")
        if measure is not None:
            if "answer" in q:
                fail("give either 'answer' or 'measure', not both", "answer")
            if (
                not isinstance(measure, dict)
                or set(measure) != {"lab", "key"}
                or not all(base.is_text(v) for v in measure.values())
            ):
                fail("'measure' must be {lab: <lab slug>, key: <summary key>}", "measure")
        elif not base.is_number(q.get("answer")):
            fail("'answer' must be a number (or give 'measure' for a prediction)", "answer")
        tolerance = q.get("tolerance", 0)
        if not base.is_number(tolerance) or tolerance < 0:
            fail("'tolerance' must be a number ≥ 0", "tolerance")
        mode = q.get("tolerance_mode", "absolute")
        if mode not in TOLERANCE_MODES:
            fail(f"'tolerance_mode' must be one of {', '.join(TOLERANCE_MODES)}", "tolerance_mode")
        if "units" in q and not isinstance(q["units"], str):
            fail("'units' must be text", "units")

    def parse(self, spec: Spec, form) -> dict:
        raw = base.first_value(form, "value")
        if not raw:
            raise AnswerError("Enter a number.")
        return {"value": parse_number(raw, spec.get("units", "")), "raw": raw[:MAX_NUMBER_LENGTH]}

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        target = measured if is_prediction(spec) else spec["answer"]
        if target is None:
            return Grade(score=None, correct=False, detail={"pending": True})
        ok = within_tolerance(
            float(answer["value"]),
            float(target),
            float(spec.get("tolerance", 0)),
            spec.get("tolerance_mode", "absolute"),
        )
        return scored(1.0 if ok else 0.0, target=target)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        return {"value": answer.get("raw", "")}

    def submitted_values(self, spec: Spec, form) -> dict:
        return {"value": form.get("value", "")[:500]}

    def view(self, given: ViewInput) -> ViewParts:
        spec, shown = given.spec, ViewParts()
        if is_prediction(spec):
            # The measurement is the student's own, so it is shown whatever the policy.
            if given.measured is not None:
                low, high = tolerance_range(spec, given.measured)
                shown.correct_answer = {
                    "measured": format_measured(given.measured),
                    "low": format_measured(low),
                    "high": format_measured(high),
                }
        elif given.reveal:
            low, high = tolerance_range(spec, float(spec["answer"]))
            shown.correct_answer = {
                "number": format_number(float(spec["answer"])),
                "low": format_number(low),
                "high": format_number(high),
                "exact": low == high,
            }
        return shown

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        if is_prediction(spec):
            return []
        value = answer.get("value")
        return [f"{value:g}"] if isinstance(value, int | float) else []


QUESTION_TYPES = (Numeric(),)
