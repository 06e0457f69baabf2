"""Short text answers: exact, case-insensitive (``nocase``) or a safe regex.

Author regexes are checked at import (``regex_problem`` refuses patterns that could
backtrack catastrophically), answers are capped in length, and every match runs with
a timeout, so no pattern can hold a web worker whatever it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _constants as sre_c  # the parser's opcodes; stable since Python 3.11
from re import _parser as sre_parse

import regex

from ..grading import AnswerError, Grade, normalise_text, scored
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts

MAX_TEXT_ANSWER = 200
REGEX_TIMEOUT_SECONDS = 0.25
TEXT_MATCHES = ("exact", "nocase", "regex")
MAX_REGEX_LENGTH = 200
MAX_VARIABLE_REPEATS = 3  # each of *, +, ?-like {m,n} multiplies the ways to match


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is unsafe or invalid, or None when it may be used for grading."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"regex is longer than {MAX_REGEX_LENGTH} characters"
    try:
        parsed = sre_parse.parse(pattern)
        re.compile(pattern)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    variable = 0

    def walk(items, inside_repeat: bool) -> str | None:
        nonlocal variable
        for op, arg in items:
            if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
                low, high, body = arg
                repeats = high == sre_c.MAXREPEAT or high > 1
                # Anything optional or variable inside a repeat, like (a?){25} or
                # (a+)+, gives the matcher exponentially many ways to split the text.
                if inside_repeat and (repeats or low != high):
                    return "regex nests a repeat inside a repeat (e.g. (a+)+ or (a?){9}), which can take exponential time"
                if repeats and low != high:
                    variable += 1
                if problem := walk(body, inside_repeat or repeats):
                    return problem
            elif op is sre_c.BRANCH:
                if inside_repeat:
                    return "regex repeats an alternation (e.g. (a|ab)*), which can take exponential time"
                for branch in arg[1]:
                    if problem := walk(branch, inside_repeat):
                        return problem
            elif op is sre_c.SUBPATTERN:
                if problem := walk(arg[-1], inside_repeat):
                    return problem
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT, sre_c.ATOMIC_GROUP):
                body = arg[1] if op is not sre_c.ATOMIC_GROUP else arg
                if problem := walk(body, inside_repeat):
                    return problem
            elif op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
                return "regex uses a back-reference, which is not allowed in answers"
        return None

    if problem := walk(parsed, False):
        return problem
    if variable > MAX_VARIABLE_REPEATS:
        return (
            f"regex has more than {MAX_VARIABLE_REPEATS} variable repeats (*, +, {{m,n}}), "
            "which can take polynomial time with a high power"
        )
    return None


def text_matches(text: str, answers: Sequence[str], mode: str) -> bool:
    """Whether ``text`` (already normalised) is one of ``answers`` under ``mode``."""
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


def typed_text(raw: str) -> str:
    """A typed answer, normalised and checked; raises AnswerError."""
    text = normalise_text(raw)
    if not text:
        raise AnswerError("Type an answer.")
    if len(text) > MAX_TEXT_ANSWER:
        raise AnswerError(f"Keep the answer under {MAX_TEXT_ANSWER} characters.")
    return text


class Text(QuestionType):
    name = "text"
    label = "Short answer"
    fields = frozenset({"answers", "match"})
    form_fields = "value"

    def check(self, q: Spec, fail: base.Fail) -> None:
        answers, match = q.get("answers"), q.get("match", "exact")
        if (
            not isinstance(answers, list)
            or not answers
            or not all(base.is_text(a) for a in answers)
        ):
            fail("'answers' must be a non-empty list of texts", "answers")
            answers = []
        if match not in TEXT_MATCHES:
            fail(f"'match' must be one of {', '.join(TEXT_MATCHES)}", "match")
        if match == "regex":
            for i, pattern in enumerate(answers):
                if problem := regex_problem(pattern):
                    fail(problem, "answers", i)

    def parse(self, spec: Spec, form) -> dict:
        return {"text": typed_text(base.first_value(form, "value"))}

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        ok = text_matches(str(answer.get("text", "")), spec["answers"], spec.get("match", "exact"))
        return scored(1.0 if ok else 0.0)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        return {"value": answer.get("text", "")}

    def submitted_values(self, spec: Spec, form) -> dict:
        return {"value": form.get("value", "")[:500]}

    def view(self, given: ViewInput) -> ViewParts:
        shown = ViewParts()
        # A regex is not an answer a student could read; it is never shown.
        if given.reveal and given.spec.get("match", "exact") != "regex":
            shown.correct_answer = {"texts": list(given.spec["answers"])}
        return shown

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        return [str(answer.get("text", "")).casefold()]


QUESTION_TYPES = (Text(),)
