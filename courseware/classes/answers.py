"""Questions and answers in words, for the instructors' pages and the attempt lists.

A question is named by its prompt (the start of it, as plain text) rather than by its
id, and a stored answer is spelt out the way the student gave it: the text of the
choices picked, the number as typed, the order given, the pairs matched. Both read the
question's Markdown as rendered once per edit (``Question.rendered``), so choices
written with code or emphasis read as on the quiz page, without the markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from django.utils.html import strip_tags

from ..models import Question

TITLE_LENGTH = 80
_SPACE = re.compile(r"\s+")


def plain_text(rendered_html: str) -> str:
    """Rendered (sanitised) HTML → one line of plain text; the template escapes it."""
    return _SPACE.sub(" ", html.unescape(strip_tags(rendered_html or ""))).strip()


def shorten(text: str, limit: int = TITLE_LENGTH) -> str:
    """At most ``limit`` characters, cut at a word where there is one, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Mid-word (the next character is not a space): back up to the last whole word.
    if not text[limit - 1].isspace() and " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def question_text(question: Question) -> str:
    """The whole prompt as plain text (the id when a question has no prompt)."""
    rendered = question.rendered or {}
    text = plain_text(rendered.get("prompt", "")) or plain_text(question.spec.get("prompt", ""))
    return text or question.qid


def question_title(question: Question, limit: int = TITLE_LENGTH) -> str:
    """The start of the prompt: how the instructors' pages and attempt lists name it."""
    return shorten(question_text(question), limit)


def _part(rendered: Mapping[str, Any], group: str, key: str) -> str:
    """One rendered part (a choice, an item, a label) as plain text; the key itself
    (the file's own text) when it was not rendered."""
    value = (rendered.get(group) or {}).get(key)
    if isinstance(value, Mapping):
        value = value.get("text", "")
    return plain_text(value) if isinstance(value, str) and value else str(key)


def answer_parts(question: Question, answer: Mapping[str, Any]) -> list[str]:
    """A stored answer as lines an instructor can read, in the order it was given.

    Answers are stored as JSON whose shape is the question type's contract
    (CONTRIBUTING.md): one key per shape, read here without changing anything.
    """
    rendered = question.rendered or {}
    if not isinstance(answer, Mapping):
        return [str(answer)]
    if "choice" in answer:  # one choice
        return [_part(rendered, "choices", str(answer["choice"]))]
    if "choices" in answer:  # several choices
        return [_part(rendered, "choices", str(c)) for c in answer["choices"]] or ["(none)"]
    if "value" in answer and isinstance(answer["value"], bool):  # true or false
        return ["True" if answer["value"] else "False"]
    if "raw" in answer or "value" in answer:  # a number, as typed
        raw = answer.get("raw") or answer.get("value")
        units = question.spec.get("units", "")
        text = str(raw).strip()
        return [f"{text} {units}" if units and not text.endswith(units) else text]
    if "text" in answer:  # typed text
        return [str(answer["text"])]
    if "order" in answer:  # steps in the order given
        return [
            f"{i}. {_part(rendered, 'items', str(item))}"
            for i, item in enumerate(answer["order"], 1)
        ]
    if "pairs" in answer:  # left → right
        return [
            f"{_part(rendered, 'lefts', str(left))} → {_part(rendered, 'rights', str(right))}"
            for left, right in answer["pairs"].items()
        ]
    if "blanks" in answer:  # label: what was typed
        return [
            f"{_part(rendered, 'labels', str(label))}: {value}"
            for label, value in answer["blanks"].items()
        ]
    return [", ".join(f"{key}: {value}" for key, value in answer.items())]
