"""``quiz.yaml``: parse and validate a lesson's quiz, and write it back.

A quiz file holds ``settings`` and a list of ``questions`` (README of the content
folder). The fields every question has are checked here; each type checks its own
(``courseware.quizzes.types``). Validation collects every problem as
"file:line: reason"; lines come from the YAML node tree, so a schema error points at
the question (or field) that is wrong, not just at the file.

Questions are kept as the author wrote them (only validated), so export writes the
same data back and import → export → import is lossless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from virtlab import yamltext

from ..quizzes.types import REGISTRY, get_type
from ..quizzes.types.base import is_text
from .errors import ContentError

QID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
QUIZ_FILE = "quiz.yaml"

SHOW_ANSWERS = ("after_each", "after_last", "never")
SETTINGS_DEFAULTS = {"max_attempts": 0, "min_seconds_between": 0, "show_answers": "after_each"}

COMMON_FIELDS = {"id", "type", "prompt", "hints", "explanation"}  # a type adds its own


class QuizFileError(ContentError):
    """A quiz file is malformed (its problems are merged into its lesson's)."""


@dataclass
class QuizSpec:
    settings: dict[str, Any]
    questions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def qids(self) -> list[str]:
        return [q["id"] for q in self.questions]


def settings_with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    return {**SETTINGS_DEFAULTS, **settings}


class _Lines:
    """Line numbers (1-based) of nodes in the YAML text, looked up by path."""

    def __init__(self, text: str):
        try:
            self.root = yamltext.compose(text)
        except yaml.YAMLError:
            self.root = None

    def line(self, *path: str | int) -> int:
        """The line of the deepest node of ``path`` that exists (a key's own line)."""
        node = self.root
        found = node.start_mark.line + 1 if node is not None else 1
        for step in path:
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                match = [(k, v) for k, v in node.value if k.value == step]
                if not match:
                    break
                found, node = match[0][0].start_mark.line + 1, match[0][1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    break
                node = node.value[step]
                found = node.start_mark.line + 1
            else:
                break
        return found


class _QuestionChecker:
    def __init__(self, data: dict, index: int, where: str, lines: _Lines):
        self.q, self.index, self.where, self.lines = data, index, where, lines
        self.problems: list[str] = []
        qid = data.get("id")
        self.label = f"question {qid!r}" if isinstance(qid, str) else f"question {index + 1}"

    def fail(self, reason: str, *path: str | int) -> None:
        line = self.lines.line("questions", self.index, *path)
        self.problems.append(f"{self.where}:{line}: {self.label}: {reason}")

    def check(self) -> None:
        q = self.q
        qid, qtype = q.get("id"), q.get("type")
        if not isinstance(qid, str) or not QID_RE.match(qid):
            self.fail("'id' must be lowercase letters, digits and hyphens", "id")
        kind = get_type(qtype) if isinstance(qtype, str) else None
        if kind is None:
            self.fail(f"'type' must be one of {', '.join(REGISTRY)}", "type")
            return
        if extra := sorted(map(str, set(q) - COMMON_FIELDS - kind.fields)):
            self.fail(f"unknown field(s) for a {qtype} question: {', '.join(extra)}", extra[0])
        if not is_text(q.get("prompt")):
            self.fail("'prompt' must be non-empty text", "prompt")
        if "explanation" in q and not isinstance(q["explanation"], str):
            self.fail("'explanation' must be text", "explanation")
        hints = q.get("hints", [])
        if not isinstance(hints, list) or not all(is_text(h) for h in hints):
            self.fail("'hints' must be a list of non-empty texts", "hints")
        kind.check(q, self.fail)


def _check_settings(data: Any, where: str, lines: _Lines) -> tuple[dict, list[str]]:
    problems: list[str] = []
    if data is None:
        return {}, problems
    if not isinstance(data, dict):
        return {}, [f"{where}:{lines.line('settings')}: 'settings' must be a mapping"]
    if extra := sorted(map(str, set(data) - set(SETTINGS_DEFAULTS))):
        problems.append(
            f"{where}:{lines.line('settings', extra[0])}: unknown setting(s): {', '.join(extra)}"
        )
    for key in ("max_attempts", "min_seconds_between"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(
                f"{where}:{lines.line('settings', key)}: '{key}' must be a whole number ≥ 0"
            )
    if data.get("show_answers", "after_each") not in SHOW_ANSWERS:
        problems.append(
            f"{where}:{lines.line('settings', 'show_answers')}: 'show_answers' must be one of "
            f"{', '.join(SHOW_ANSWERS)}"
        )
    return data, problems


def parse_quiz(text: str, where: str) -> QuizSpec:
    """Validate a quiz file; raises QuizFileError listing every "file:line: reason"."""
    try:
        data = yamltext.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise QuizFileError([f"{where}:{line}: invalid YAML: {reason}"]) from exc
    lines = _Lines(text)
    if not isinstance(data, dict):
        raise QuizFileError([f"{where}:1: expected a mapping with 'settings' and 'questions'"])
    problems: list[str] = []
    if extra := sorted(map(str, set(data) - {"settings", "questions"})):
        problems.append(f"{where}:{lines.line(extra[0])}: unknown field(s): {', '.join(extra)}")
    settings, settings_problems = _check_settings(data.get("settings"), where, lines)
    problems += settings_problems
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        problems.append(f"{where}:{lines.line('questions')}: 'questions' must be a non-empty list")
        questions = []
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            problems.append(
                f"{where}:{lines.line('questions', index)}: question {index + 1} must be a mapping"
            )
            continue
        checker = _QuestionChecker(question, index, where, lines)
        checker.check()
        problems += checker.problems
    qids = [q.get("id") for q in questions if isinstance(q, dict)]
    for qid in sorted({q for q in qids if isinstance(q, str) and qids.count(q) > 1}):
        index = qids.index(qid)
        problems.append(
            f"{where}:{lines.line('questions', index)}: question id {qid!r} is used more than once"
        )
    if problems:
        raise QuizFileError(problems)
    return QuizSpec(settings=settings, questions=questions)


def quiz_file_text(spec: QuizSpec) -> str:
    data: dict[str, Any] = {}
    if spec.settings:
        data["settings"] = spec.settings
    data["questions"] = spec.questions
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
