"""The question types: one module per family, registered here in the order authors
meet them (the order ``quiz.yaml`` errors list them in).

Like the labs' registry (``labs.experiments``): each module exports
``QUESTION_TYPES``, a tuple of ``QuestionType`` objects; a module listed here that
does not exist is an error at start-up, never skipped. CONTRIBUTING.md says how to add
a type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import import_module
from typing import Any

from ..grading import AnswerError, FormData, Grade
from .base import QuestionType

TYPE_MODULES = ["choice", "true_false", "numeric", "text", "ordering", "matching", "blanks"]


def _load() -> dict[str, QuestionType]:
    registry: dict[str, QuestionType] = {}
    for module_name in TYPE_MODULES:
        module = import_module(f"{__name__}.{module_name}")
        for qtype in module.QUESTION_TYPES:
            if qtype.name in registry:
                raise ImportError(f"question type {qtype.name!r} is registered twice")
            registry[qtype.name] = qtype
    return registry


REGISTRY: dict[str, QuestionType] = _load()

# The POST fields of every type's inputs: what is kept of an answer typed when the
# session had ended, until the student has logged in again.
ANSWER_FIELD_RE = re.compile(
    "^(" + "|".join(dict.fromkeys(t.form_fields for t in REGISTRY.values())) + ")$"
)


def get_type(name: str) -> QuestionType | None:
    return REGISTRY.get(name)


def question_type(spec: Mapping[str, Any]) -> QuestionType:
    """The type of a stored question (validated at import, so it exists)."""
    qtype = REGISTRY.get(spec["type"])
    if qtype is None:
        raise ValueError(f"unknown question type {spec['type']!r}")
    return qtype


def parse_answer(spec: Mapping[str, Any], form: FormData) -> dict[str, Any]:
    """Form fields → the answer JSON stored with the attempt; raises AnswerError."""
    qtype = REGISTRY.get(spec["type"])
    if qtype is None:
        raise AnswerError(f"Unknown question type {spec['type']!r}.")
    return qtype.parse(spec, form)


def grade(
    spec: Mapping[str, Any], answer: Mapping[str, Any], *, measured: float | None = None
) -> Grade:
    """Score a parsed answer. ``measured`` is the student's own value for predictions."""
    return question_type(spec).grade(spec, answer, measured=measured)
