"""The quiz editor as forms: a lesson's ``quiz.yaml`` as one card per question.

The forms hold exactly what the file holds. The page state (``QuizState``) is read
from a revision's quiz text or from what the browser posted, changed by the
no-JavaScript actions (add, remove, move), and written back as quiz file text; that
text is validated and saved like text typed in the raw editor, so revisions, drafts,
publishing, diffs and conflicts work the same way.

Numbers are kept as typed when they do not read as numbers, so the quiz file checks
(``coursefiles/quiz_files.py`` and each type's ``check``) report them with the same
words as in the raw editor. An optional key the file wrote at its default value
(``tolerance_mode: absolute``) is written back, so opening and saving a question does
not change it. Comments and layout of the file are not kept (the page says so).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from virtlab import yamltext

from ..coursefiles.quiz_files import SETTINGS_DEFAULTS, SHOW_ANSWERS
from ..quizzes.types import REGISTRY
from ..quizzes.types.blanks import BLANK_MATCHES
from ..quizzes.types.numeric import TOLERANCE_MODES
from ..quizzes.types.text import TEXT_MATCHES

CHOICE_TYPES = ("single", "multiple")
# The optional keys of a question (and of the settings) left out of the file when
# they hold their default, unless the file wrote them.
QUESTION_DEFAULTS = {"tolerance": "", "tolerance_mode": "absolute", "units": "", "match": "exact"}
TYPE_LABELS = {
    "single": "Single choice (one correct answer)",
    "multiple": "Multiple choice (several correct answers)",
    "true_false": "True or false",
    "numeric": "Number (or predict, then measure)",
    "text": "Short text answer",
    "ordering": "Put in order",
    "matching": "Match pairs",
    "blanks": "Fill in the blanks",
}


class NotFormable(Exception):
    """The quiz text cannot be shown as forms (it is not a quiz file's shape)."""


@dataclass
class Choice:
    id: str = ""
    text: str = ""
    correct: bool = False
    feedback: str = ""


@dataclass
class Pair:
    left: str = ""
    right: str = ""


@dataclass
class Blank:
    label: str = ""
    answers: str = ""  # one accepted answer per line


@dataclass
class QuestionForm:
    type: str
    id: str = ""
    prompt: str = ""
    hints: str = ""  # one per line
    explanation: str = ""
    choices: list[Choice] = field(default_factory=list)
    answer: str = ""  # true_false: "true"/"false"; numeric: the number as typed
    tolerance: str = ""
    tolerance_mode: str = "absolute"
    units: str = ""
    measure: str = ""  # "<lab>/<key>" for a prediction, else ""
    answers: str = ""  # text: one accepted answer per line
    match: str = "exact"
    items: str = ""  # ordering: one per line, in the correct order
    pairs: list[Pair] = field(default_factory=list)
    blanks: list[Blank] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # optional keys the file wrote
    problems: list[str] = field(default_factory=list)  # filled in for the page

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.type, self.type)


@dataclass
class QuizForm:
    max_attempts: str = "0"
    min_seconds_between: str = "0"
    show_answers: str = "after_each"
    written: list[str] = field(default_factory=list)  # settings the file wrote
    questions: list[QuestionForm] = field(default_factory=list)


# --- Quiz text → forms ----------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _lines(values: Any) -> str:
    if isinstance(values, list):
        return "\n".join(_text(v) for v in values)
    return _text(values)


def question_from_data(data: dict[str, Any]) -> QuestionForm:
    qtype = data.get("type")
    q = QuestionForm(
        type=str(qtype),
        id=_text(data.get("id")),
        prompt=_text(data.get("prompt")),
        hints=_lines(data.get("hints", [])),
        explanation=_text(data.get("explanation")),
        written=[key for key in QUESTION_DEFAULTS if key in data],
    )
    if qtype in CHOICE_TYPES:
        choices = data.get("choices")
        q.choices = [
            Choice(
                id=_text(c.get("id")),
                text=_text(c.get("text")),
                correct=c.get("correct") is True,
                feedback=_text(c.get("feedback")),
            )
            for c in (choices if isinstance(choices, list) else [])
            if isinstance(c, dict)
        ]
    elif qtype in ("true_false", "numeric"):
        q.answer = _text(data.get("answer"))
    if qtype == "numeric":
        q.tolerance = _text(data.get("tolerance", ""))
        q.tolerance_mode = _text(data.get("tolerance_mode", "absolute"))
        q.units = _text(data.get("units", ""))
        measure = data.get("measure")
        if isinstance(measure, dict):
            q.measure = f"{_text(measure.get('lab'))}/{_text(measure.get('key'))}"
    elif qtype in ("text", "blanks"):
        q.match = _text(data.get("match", "exact"))
        if qtype == "text":
            q.answers = _lines(data.get("answers", []))
    if qtype == "ordering":
        q.items = _lines(data.get("items", []))
    elif qtype == "matching":
        pairs = data.get("pairs")
        q.pairs = [
            Pair(_text(p.get("left")), _text(p.get("right")))
            for p in (pairs if isinstance(pairs, list) else [])
            if isinstance(p, dict)
        ]
    elif qtype == "blanks":
        blanks = data.get("blanks")
        q.blanks = [
            Blank(_text(b.get("label")), _lines(b.get("answers", [])))
            for b in (blanks if isinstance(blanks, list) else [])
            if isinstance(b, dict)
        ]
    return q


def form_from_yaml(text: str) -> QuizForm:
    """The forms for a quiz file's text (empty text: a quiz with no questions yet).
    Raises NotFormable when the text is not YAML of a quiz file's shape; a quiz with
    problems inside its questions is shown, with the problems at their questions."""
    if not text.strip():
        return QuizForm()
    try:
        data = yamltext.load(text)
    except yaml.YAMLError as exc:
        raise NotFormable("the quiz text is not valid YAML") from exc
    if not isinstance(data, dict):
        raise NotFormable("the quiz text is not a mapping with 'settings' and 'questions'")
    settings = data.get("settings") or {}
    questions = data.get("questions") or []
    if not isinstance(settings, dict) or not isinstance(questions, list):
        raise NotFormable("'settings' must be a mapping and 'questions' a list")
    for number, question in enumerate(questions, start=1):
        if not isinstance(question, dict):
            raise NotFormable(f"question {number} is not a mapping")
        if question.get("type") not in REGISTRY:
            raise NotFormable(f"question {number} has no known 'type'")
    return QuizForm(
        max_attempts=_text(settings.get("max_attempts", SETTINGS_DEFAULTS["max_attempts"])),
        min_seconds_between=_text(
            settings.get("min_seconds_between", SETTINGS_DEFAULTS["min_seconds_between"])
        ),
        show_answers=_text(settings.get("show_answers", SETTINGS_DEFAULTS["show_answers"])),
        written=[key for key in SETTINGS_DEFAULTS if key in settings],
        questions=[question_from_data(q) for q in questions],
    )


# --- Posted fields → forms ------------------------------------------------------------


def _count(post, name: str, limit: int = 200) -> int:
    try:
        return max(0, min(int(post.get(name, "0")), limit))
    except ValueError:
        return 0


def _typed(value: str) -> str:
    """Text from a text area: line ends as in files."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _names(value: str) -> list[str]:
    return [name for name in value.split(",") if name]


def question_from_post(post, i: int) -> QuestionForm:
    p = f"q-{i}-"
    q = QuestionForm(
        type=post.get(p + "type", ""),
        id=post.get(p + "id", "").strip(),
        prompt=_typed(post.get(p + "prompt", "")),
        hints=_typed(post.get(p + "hints", "")),
        explanation=_typed(post.get(p + "explanation", "")),
        answer=post.get(p + "answer", "").strip(),
        tolerance=post.get(p + "tolerance", "").strip(),
        tolerance_mode=post.get(p + "tolerance_mode", "absolute"),
        units=post.get(p + "units", "").strip(),
        measure=post.get(p + "measure", ""),
        answers=_typed(post.get(p + "answers", "")),
        match=post.get(p + "match", "exact"),
        items=_typed(post.get(p + "items", "")),
        written=[k for k in _names(post.get(p + "written", "")) if k in QUESTION_DEFAULTS],
    )
    correct = set(post.getlist(p + "correct"))
    q.choices = [
        Choice(
            id=post.get(f"{p}choice-{j}-id", "").strip(),
            text=_typed(post.get(f"{p}choice-{j}-text", "")),
            correct=str(j) in correct,
            feedback=_typed(post.get(f"{p}choice-{j}-feedback", "")),
        )
        for j in range(_count(post, p + "choices"))
    ]
    q.pairs = [
        Pair(
            post.get(f"{p}pair-{j}-left", "").strip(),
            post.get(f"{p}pair-{j}-right", "").strip(),
        )
        for j in range(_count(post, p + "pairs"))
    ]
    q.blanks = [
        Blank(
            post.get(f"{p}blank-{j}-label", "").strip(),
            _typed(post.get(f"{p}blank-{j}-answers", "")),
        )
        for j in range(_count(post, p + "blanks"))
    ]
    return q


def form_from_post(post) -> QuizForm:
    return QuizForm(
        max_attempts=post.get("max_attempts", "").strip(),
        min_seconds_between=post.get("min_seconds_between", "").strip(),
        show_answers=post.get("show_answers", "after_each"),
        written=[k for k in _names(post.get("settings_written", "")) if k in SETTINGS_DEFAULTS],
        questions=[question_from_post(post, i) for i in range(_count(post, "questions"))],
    )


# --- Forms → quiz data and text -------------------------------------------------------


def _number(raw: str) -> int | float | str:
    """A typed number as YAML would read it; anything else stays text, so the quiz file
    checks report it."""
    text = raw.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _whole(raw: str) -> int | str:
    text = raw.strip()
    return int(text) if re.fullmatch(r"\d+", text) else text


def _list(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _optional(q: QuestionForm, data: dict, key: str, value: Any) -> None:
    """Write an optional key when it is not at its default, or the file wrote it."""
    raw = getattr(q, key)
    if raw != QUESTION_DEFAULTS[key] or key in q.written:
        data[key] = value


def question_data(q: QuestionForm) -> dict[str, Any]:
    data: dict[str, Any] = {"id": q.id, "type": q.type, "prompt": q.prompt}
    if q.type in CHOICE_TYPES:
        choices = []
        for c in q.choices:
            choice: dict[str, Any] = {"id": c.id, "text": c.text}
            if c.correct:
                choice["correct"] = True
            if c.feedback.strip():
                choice["feedback"] = c.feedback
            choices.append(choice)
        data["choices"] = choices
    elif q.type == "true_false":
        if q.answer in ("true", "false"):
            data["answer"] = q.answer == "true"
    elif q.type == "numeric":
        if q.answer:
            data["answer"] = _number(q.answer)
        if q.measure:
            lab, _, key = q.measure.partition("/")
            data["measure"] = {"lab": lab, "key": key}
        if q.tolerance or "tolerance" in q.written:
            data["tolerance"] = _number(q.tolerance)
        _optional(q, data, "tolerance_mode", q.tolerance_mode)
        _optional(q, data, "units", q.units)
    elif q.type == "text":
        data["answers"] = _list(q.answers)
        _optional(q, data, "match", q.match)
    elif q.type == "ordering":
        data["items"] = _list(q.items)
    elif q.type == "matching":
        data["pairs"] = [{"left": p.left, "right": p.right} for p in q.pairs]
    elif q.type == "blanks":
        _optional(q, data, "match", q.match)
        data["blanks"] = [{"label": b.label, "answers": _list(b.answers)} for b in q.blanks]
    if hints := _list(q.hints):
        data["hints"] = hints
    if q.explanation.strip():
        data["explanation"] = q.explanation
    return data


def quiz_data(form: QuizForm) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    values = {
        "max_attempts": _whole(form.max_attempts) if form.max_attempts else 0,
        "min_seconds_between": _whole(form.min_seconds_between) if form.min_seconds_between else 0,
        "show_answers": form.show_answers,
    }
    for key, value in values.items():
        if value != SETTINGS_DEFAULTS[key] or key in form.written:
            settings[key] = value
    data: dict[str, Any] = {}
    if settings:
        data["settings"] = settings
    data["questions"] = [question_data(q) for q in form.questions]
    return data


class _QuizDumper(yaml.SafeDumper):
    """Text with line breaks as literal blocks, so a prompt reads as it was typed."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_QuizDumper.add_representer(str, _represent_text)


def quiz_text(form: QuizForm) -> str:
    """The quiz file's text for the forms ("" when there are no questions and no
    settings: the lesson has no quiz)."""
    data = quiz_data(form)
    if not data["questions"] and "settings" not in data:
        return ""
    return yaml.dump(data, Dumper=_QuizDumper, sort_keys=False, allow_unicode=True, width=88)


# --- The no-JavaScript actions --------------------------------------------------------


def new_question(qtype: str, taken: set[str], slug: str) -> QuestionForm:
    number = 1
    while f"{slug}-q{number}" in taken:
        number += 1
    q = QuestionForm(type=qtype, id=f"{slug}-q{number}")
    if qtype in CHOICE_TYPES:
        q.choices = [Choice(id="a"), Choice(id="b")]
    elif qtype == "matching":
        q.pairs = [Pair(), Pair()]
    elif qtype == "blanks":
        q.blanks = [Blank()]
    return q


def _next_choice_id(choices: list[Choice]) -> str:
    taken = {c.id for c in choices}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if letter not in taken:
            return letter
    number = len(choices) + 1
    while str(number) in taken:
        number += 1
    return str(number)


def _swap(rows: list, index: int, step: int) -> bool:
    other = index + step
    if 0 <= index < len(rows) and 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
        return True
    return False


ROWS = {"choice": "choices", "pair": "pairs", "blank": "blanks"}
ACTION_RE = re.compile(
    r"^(?P<verb>add-question|remove-question|move-up|move-down"
    r"|add-(?:choice|pair|blank)|remove-(?:choice|pair|blank)"
    r"|(?:choice|pair|blank)-(?:up|down))(?::(?P<q>\d+))?(?::(?P<row>\d+))?$"
)


def apply_action(form: QuizForm, action: str, *, new_type: str, slug: str) -> str:
    """Apply one button of the page to the forms; returns what happened, for the page.
    Nothing is saved: only "Save" writes a revision."""
    match = ACTION_RE.match(action)
    if match is None:
        return ""
    verb = match["verb"]
    qs = form.questions
    if verb == "add-question":
        if new_type not in REGISTRY:
            return "Choose the kind of question to add."
        qs.append(new_question(new_type, {q.id for q in qs}, slug))
        return f"Added question {len(qs)} ({TYPE_LABELS[new_type]}). Nothing is saved yet."
    if match["q"] is None or not 0 <= int(match["q"]) < len(qs):
        return ""
    i = int(match["q"])
    q = qs[i]
    if verb == "remove-question":
        del qs[i]
        return f"Removed question {i + 1}. Nothing is saved yet."
    if verb in ("move-up", "move-down"):
        step = -1 if verb == "move-up" else 1
        if _swap(qs, i, step):
            return f"Moved question {i + 1} to place {i + 1 + step}. Nothing is saved yet."
        return ""
    kind = verb.split("-")[1] if verb.startswith(("add-", "remove-")) else verb.split("-")[0]
    rows = getattr(q, ROWS[kind])
    if verb.startswith("add-"):
        rows.append(
            {"choice": lambda: Choice(id=_next_choice_id(q.choices)), "pair": Pair, "blank": Blank}[
                kind
            ]()
        )
        return f"Added a {kind} to question {i + 1}. Nothing is saved yet."
    if match["row"] is None or not 0 <= int(match["row"]) < len(rows):
        return ""
    j = int(match["row"])
    if verb.startswith("remove-"):
        del rows[j]
        return f"Removed {kind} {j + 1} of question {i + 1}. Nothing is saved yet."
    step = -1 if verb.endswith("-up") else 1
    if _swap(rows, j, step):
        return f"Moved {kind} {j + 1} of question {i + 1} to place {j + 1 + step}."
    return ""


# --- Problems at their questions ------------------------------------------------------

PROBLEM_RE = re.compile(r"^(?P<file>[^:]+\.yaml)(?::(?P<line>\d+))?: (?P<reason>.*)$", re.S)
QID_IN_PROBLEM_RE = re.compile(r"question (?:id )?'(?P<qid>[^']*)'")
LABEL_RE = re.compile(r"^question (?:'[^']*'|\d+): ")


def question_lines(text: str) -> list[int]:
    """The line each question starts on in quiz text written by ``quiz_text``."""
    try:
        root = yamltext.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "questions" and isinstance(value, yaml.SequenceNode):
            return [node.start_mark.line + 1 for node in value.value]
    return []


def place_problems(form: QuizForm, text: str, problems: list[str]) -> list[str]:
    """Put each quiz problem on the card of the question it concerns (by its line in
    ``text``, else by the question id it names); returns the problems as the top of
    the page lists them."""
    starts = question_lines(text)
    ids = [q.id for q in form.questions]
    listed = []
    for problem in problems:
        match = PROBLEM_RE.match(problem)
        index = None
        if match and match["line"]:
            line = int(match["line"])
            before = [k for k, start in enumerate(starts) if start <= line]
            index = before[-1] if before else None
        elif match and (named := QID_IN_PROBLEM_RE.search(match["reason"])):
            index = ids.index(named["qid"]) if named["qid"] in ids else None
        reason = match["reason"] if match else problem
        if index is not None and index < len(form.questions):
            form.questions[index].problems.append(LABEL_RE.sub("", reason))
            listed.append(f"Question {index + 1}: {LABEL_RE.sub('', reason)}")
        elif match and match["line"]:
            listed.append(f"Quiz: {reason}")
        else:
            listed.append(reason)
    return listed


# --- Choices for the selects ----------------------------------------------------------


def type_choices() -> list[tuple[str, str]]:
    return [(name, TYPE_LABELS.get(name, name)) for name in REGISTRY]


SHOW_ANSWER_LABELS = {
    "after_each": "After each submission",
    "after_last": "After the last attempt (or a correct answer)",
    "never": "Never",
}
SETTING_CHOICES = [(value, SHOW_ANSWER_LABELS[value]) for value in SHOW_ANSWERS]
TOLERANCE_CHOICES = [(mode, mode.capitalize()) for mode in TOLERANCE_MODES]
TEXT_MATCH_LABELS = {
    "exact": "Exactly as written",
    "nocase": "Ignoring upper and lower case",
    "regex": "Regular expression",
}
TEXT_MATCH_CHOICES = [(mode, TEXT_MATCH_LABELS[mode]) for mode in TEXT_MATCHES]
BLANK_MATCH_CHOICES = [(mode, TEXT_MATCH_LABELS[mode]) for mode in BLANK_MATCHES]


def changed_by_forms(text: str) -> list[str]:
    """What of this quiz text the forms cannot hold as written (a field they do not
    have, a value of another kind): saving from the forms would rewrite it."""
    if not text.strip():
        return []
    form = form_from_yaml(text)
    written, rebuilt = yamltext.load(text), quiz_data(form)
    changed = []
    if (written.get("settings") or {}) != rebuilt.get("settings", {}):
        changed.append("the settings")
    for number, (old, new) in enumerate(
        zip(written.get("questions") or [], rebuilt["questions"], strict=True), start=1
    ):
        if old != new:
            changed.append(f"question {number}")
    return changed


def same_data(written: str, text: str) -> bool:
    """Whether two quiz texts hold the same quiz (comments and layout aside)."""
    try:
        return yamltext.load(written) == yamltext.load(text)
    except yaml.YAMLError:
        return False
