"""What a question type is: everything one kind of question needs, in one object.

A type validates its entry in ``quiz.yaml``, renders its Markdown parts, parses a
submission, grades it, says what its inputs show and what may be revealed, and names
the wrong parts of an answer for the instructors' analytics. Its inputs and its
revealed answer are the partials ``inputs`` and ``reveal`` of its own template.

Everything here is pure: no Django, no database, no labs. Types are registered in
``courseware.quizzes.types`` (one module per family), the way labs are registered in
``labs.experiments``. CONTRIBUTING.md shows the two side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..grading import FormData, Grade

Spec = Mapping[str, Any]
Answer = Mapping[str, Any]
# ``fail(reason, *path)``: report a problem at ``path`` inside the question's entry.
Fail = Callable[..., None]
RenderShort = Callable[[str], str]  # Markdown for one line, sanitised like lessons


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@dataclass(frozen=True)
class ViewInput:
    """What a type may know when it builds a question's view for one student."""

    qid: str
    spec: Spec
    html: Mapping[str, Any]  # the question's rendered Markdown (``render`` plus prompt …)
    values: Mapping[str, Any]  # what the inputs show (stored or just submitted)
    reveal: bool  # the quiz's policy lets this student see the answer now
    answered: bool  # the student has at least one attempt
    last_answer: Answer | None  # the last stored answer, None when showing a rejected one
    seed: int | str  # per student, for orders that must not hint at the answer
    measured: float | None = None  # a prediction's measurement, when there is one


@dataclass
class ViewParts:
    """What a type adds to a question's view: its own parts for its template, the
    answer (only when it may be shown) and feedback on the choices picked."""

    parts: dict[str, Any] = field(default_factory=dict)
    correct_answer: dict[str, Any] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)


class QuestionType:
    name: str = ""  # the ``type:`` in quiz.yaml
    label: str = ""  # shown above the question ("One answer")
    instruction: str = ""  # the legend of its inputs, when it needs one
    fields: frozenset[str] = frozenset()  # its own fields beside id/type/prompt/hints/…
    shares_template: str = ""  # another family's template it uses, if not its own
    form_fields: str = ""  # a regex of the POST field names its inputs send

    @property
    def template(self) -> str:
        """Its template, which defines the partials ``inputs`` and ``reveal``: named
        after its module (``types/ordering.py`` → ``types/ordering.html``)."""
        family = self.shares_template or type(self).__module__.rsplit(".", 1)[-1]
        return f"courseware/quizzes/types/{family}.html"

    def check(self, q: Spec, fail: Fail) -> None:
        """Report every problem of the type's own fields in a quiz file entry."""
        raise NotImplementedError

    def render(self, spec: Spec, render_short: RenderShort) -> dict[str, Any]:
        """Its Markdown parts rendered once (beside the prompt, hints, explanation)."""
        return {}

    def parse(self, spec: Spec, form: FormData) -> dict[str, Any]:
        """Form fields → the answer stored with the attempt; raises AnswerError."""
        raise NotImplementedError

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        raise NotImplementedError

    def stored_values(self, spec: Spec, answer: Answer) -> dict[str, Any]:
        """What the inputs show for a stored answer."""
        raise NotImplementedError

    def submitted_values(self, spec: Spec, form) -> dict[str, Any]:
        """What the inputs show for raw POST data (``form.get``/``getlist``), so a
        rejected answer comes back as typed."""
        raise NotImplementedError

    def view(self, given: ViewInput) -> ViewParts:
        raise NotImplementedError

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        """The wrong option(s) in one incorrect answer, as text an instructor can read."""
        return []


def picked_values(form: FormData, name: str) -> list[str]:
    values = form.get(name) or []
    return [values] if isinstance(values, str) else [str(v) for v in values]


def first_value(form: FormData, name: str) -> str:
    values = picked_values(form, name)
    return values[0].strip() if values else ""


def distinct_texts(values: Sequence[Any]) -> bool:
    return len(set(values)) == len(values)
