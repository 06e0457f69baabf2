"""``quiz.yaml``: parse and validate a lesson's quiz, and write it back.

A quiz file holds ``settings`` and a list of ``questions`` (README of the content
folder, and the schema below). Validation collects every problem as
"file:line: reason"; lines come from the YAML node tree, so a schema error points at
the question (or field) that is wrong, not just at the file.

Questions are kept as the author wrote them (only validated), so export writes the
same data back and import → export → import is lossless.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from re import _constants as sre_c  # the parser's opcodes; stable since Python 3.11
from re import _parser as sre_parse
from typing import Any

import yaml

QID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
QUIZ_FILE = "quiz.yaml"

SHOW_ANSWERS = ("after_each", "after_last", "never")
TYPES = ("single", "multiple", "true_false", "numeric", "text", "ordering", "matching")
TEXT_MATCHES = ("exact", "nocase", "regex")
TOLERANCE_MODES = ("absolute", "relative")
SETTINGS_DEFAULTS = {"max_attempts": 0, "min_seconds_between": 0, "show_answers": "after_each"}

COMMON_FIELDS = {"id", "type", "prompt", "hints", "explanation"}
TYPE_FIELDS = {
    "single": {"choices"},
    "multiple": {"choices"},
    "true_false": {"answer"},
    "numeric": {"answer", "tolerance", "tolerance_mode", "units", "measure"},
    "text": {"answers", "match"},
    "ordering": {"items"},
    "matching": {"pairs"},
}
CHOICE_FIELDS = {"id", "text", "correct", "feedback"}

# Text answers are matched against author regexes; a pattern that could backtrack
# catastrophically is refused at import, answers are capped in length, and every match
# runs with a timeout (see grading.py).
MAX_REGEX_LENGTH = 200
MAX_VARIABLE_REPEATS = 3  # each of *, +, ?-like {m,n} multiplies the ways to match


class QuizFileError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


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
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


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
        if qtype not in TYPES:
            self.fail(f"'type' must be one of {', '.join(TYPES)}", "type")
            return
        if extra := sorted(map(str, set(q) - COMMON_FIELDS - TYPE_FIELDS[qtype])):
            self.fail(f"unknown field(s) for a {qtype} question: {', '.join(extra)}", extra[0])
        if not _is_text(q.get("prompt")):
            self.fail("'prompt' must be non-empty text", "prompt")
        if "explanation" in q and not isinstance(q["explanation"], str):
            self.fail("'explanation' must be text", "explanation")
        hints = q.get("hints", [])
        if not isinstance(hints, list) or not all(_is_text(h) for h in hints):
            self.fail("'hints' must be a list of non-empty texts", "hints")
        getattr(self, f"check_{qtype}")()

    def check_choices(self, *, exactly_one: bool) -> None:
        choices = self.q.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            self.fail("'choices' must be a list of at least two choices", "choices")
            return
        ids: list[str] = []
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict):
                self.fail(f"choice {i + 1} must be a mapping with id and text", "choices", i)
                continue
            if extra := sorted(map(str, set(choice) - CHOICE_FIELDS)):
                self.fail(f"choice {i + 1} has unknown field(s): {', '.join(extra)}", "choices", i)
            cid = choice.get("id")
            if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid).strip():
                self.fail(f"choice {i + 1} needs an 'id'", "choices", i)
            ids.append(str(cid))
            if not _is_text(choice.get("text")):
                self.fail(f"choice {i + 1} needs non-empty 'text'", "choices", i, "text")
            if not isinstance(choice.get("correct", False), bool):
                self.fail(f"choice {i + 1}: 'correct' must be true or false", "choices", i)
            if "feedback" in choice and not isinstance(choice["feedback"], str):
                self.fail(f"choice {i + 1}: 'feedback' must be text", "choices", i)
        if dupes := sorted({c for c in ids if ids.count(c) > 1}):
            self.fail(f"duplicate choice id(s): {', '.join(dupes)}", "choices")
        correct = sum(1 for c in choices if isinstance(c, dict) and c.get("correct") is True)
        if exactly_one and correct != 1:
            self.fail(f"exactly one choice must be correct (found {correct})", "choices")
        if not exactly_one and correct < 1:
            self.fail("at least one choice must be correct", "choices")

    def check_single(self) -> None:
        self.check_choices(exactly_one=True)

    def check_multiple(self) -> None:
        self.check_choices(exactly_one=False)

    def check_true_false(self) -> None:
        if not isinstance(self.q.get("answer"), bool):
            self.fail("'answer' must be true or false", "answer")

    def check_numeric(self) -> None:
        q = self.q
        measure = q.get("measure")
        if measure is not None:
            if "answer" in q:
                self.fail("give either 'answer' or 'measure', not both", "answer")
            if (
                not isinstance(measure, dict)
                or set(measure) != {"lab", "key"}
                or not all(_is_text(v) for v in measure.values())
            ):
                self.fail("'measure' must be {lab: <lab slug>, key: <summary key>}", "measure")
        elif not _is_number(q.get("answer")):
            self.fail("'answer' must be a number (or give 'measure' for a prediction)", "answer")
        tolerance = q.get("tolerance", 0)
        if not _is_number(tolerance) or tolerance < 0:
            self.fail("'tolerance' must be a number ≥ 0", "tolerance")
        mode = q.get("tolerance_mode", "absolute")
        if mode not in TOLERANCE_MODES:
            self.fail(
                f"'tolerance_mode' must be one of {', '.join(TOLERANCE_MODES)}", "tolerance_mode"
            )
        if "units" in q and not isinstance(q["units"], str):
            self.fail("'units' must be text", "units")

    def check_text(self) -> None:
        answers, match = self.q.get("answers"), self.q.get("match", "exact")
        if not isinstance(answers, list) or not answers or not all(_is_text(a) for a in answers):
            self.fail("'answers' must be a non-empty list of texts", "answers")
            answers = []
        if match not in TEXT_MATCHES:
            self.fail(f"'match' must be one of {', '.join(TEXT_MATCHES)}", "match")
        if match == "regex":
            for i, pattern in enumerate(answers):
                if problem := regex_problem(pattern):
                    self.fail(problem, "answers", i)

    def check_ordering(self) -> None:
        items = self.q.get("items")
        if not isinstance(items, list) or len(items) < 2 or not all(_is_text(i) for i in items):
            self.fail("'items' must be a list of at least two texts, in the correct order", "items")
        elif len(set(items)) != len(items):
            self.fail("'items' must all be different", "items")

    def check_matching(self) -> None:
        pairs = self.q.get("pairs")
        if not isinstance(pairs, list) or len(pairs) < 2:
            self.fail("'pairs' must be a list of at least two {left, right} pairs", "pairs")
            return
        for i, pair in enumerate(pairs):
            if (
                not isinstance(pair, dict)
                or set(pair) != {"left", "right"}
                or not all(_is_text(v) for v in pair.values())
            ):
                self.fail(f"pair {i + 1} must be {{left: text, right: text}}", "pairs", i)
                return
        for side in ("left", "right"):
            values = [p[side] for p in pairs]
            if len(set(values)) != len(values):
                self.fail(f"every '{side}' in 'pairs' must be different", "pairs")


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
        data = yaml.safe_load(text)
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
