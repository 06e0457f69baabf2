"""True or false: 1 or 0."""

from __future__ import annotations

from ..grading import AnswerError, Grade, scored
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts


class TrueFalse(QuestionType):
    name = "true_false"
    label = "True or false"
    instruction = "Choose true or false."
    fields = frozenset({"answer"})
    shares_template = "choice"  # two radio buttons, like a choice
    form_fields = "choice"

    def check(self, q: Spec, fail: base.Fail) -> None:
        if not isinstance(q.get("answer"), bool):
            fail("'answer' must be true or false", "answer")

    def parse(self, spec: Spec, form) -> dict:
        value = base.first_value(form, "choice")
        if value not in {"true", "false"}:
            raise AnswerError("Choose True or False.")
        return {"value": value == "true"}

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        return scored(1.0 if answer.get("value") is spec["answer"] else 0.0)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        return (
            {"checked": {"true" if answer.get("value") else "false"}} if "value" in answer else {}
        )

    def submitted_values(self, spec: Spec, form) -> dict:
        return {"checked": set(form.getlist("choice"))}

    def view(self, given: ViewInput) -> ViewParts:
        checked = given.values.get("checked", set())
        choices = [{"id": v, "html": v.title(), "checked": v in checked} for v in ("true", "false")]
        shown = ViewParts(parts={"choices": choices, "input": "radio"})
        if given.reveal:
            shown.correct_answer = {"text": "True" if given.spec["answer"] else "False"}
        return shown

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        return ["True" if answer.get("value") else "False"]


QUESTION_TYPES = (TrueFalse(),)
