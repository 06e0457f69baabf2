"""Put in order: each item gets a position from a select (keyboard-usable). Scored
by the fraction of item pairs whose relative order is right (Kendall-style), so one
item misplaced costs little and a reversed list scores 0."""

from __future__ import annotations

from collections.abc import Sequence

from ..grading import AnswerError, Grade, item_key, scored, shuffled, small_int
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts


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


class Ordering(QuestionType):
    """Items to put in order; the file lists them in the correct order, and each
    student sees them in an order of their own."""

    name = "ordering"
    label = "Put in order"
    fields = frozenset({"items"})
    form_fields = r"pos-[\w-]+"

    def check(self, q: Spec, fail: base.Fail) -> None:
        items = q.get("items")
        if not isinstance(items, list) or len(items) < 2 or not all(base.is_text(i) for i in items):
            fail("'items' must be a list of at least two texts, in the correct order", "items")
        elif not base.distinct_texts(items):
            fail("'items' must all be different", "items")

    def render(self, spec: Spec, render_short: base.RenderShort) -> dict:
        return {"items": {item: render_short(item) for item in spec["items"]}}

    def parse(self, spec: Spec, form) -> dict:
        items = spec["items"]
        positions: dict[str, int] = {}
        for text in items:
            raw = base.first_value(form, f"pos-{item_key(spec['id'], text)}")
            if not raw:
                raise AnswerError("Give every step a position.")
            position = small_int(raw)
            if position is None or not 1 <= position <= len(items):
                raise AnswerError(f"Positions go from 1 to {len(items)}.")
            positions[text] = position
        if len(set(positions.values())) != len(items):
            raise AnswerError("Give each step a different position.")
        return {"order": sorted(positions, key=positions.__getitem__)}

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        return scored(ordering_score(answer.get("order", []), spec["items"]))

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        qid = spec["id"]
        return {"positions": {item_key(qid, t): i + 1 for i, t in enumerate(answer["order"])}}

    def submitted_values(self, spec: Spec, form) -> dict:
        keys = [item_key(spec["id"], text) for text in spec["items"]]
        return {"positions": {key: small_int(form.get(f"pos-{key}", "")) for key in keys}}

    def view(self, given: ViewInput) -> ViewParts:
        qid, spec, html = given.qid, given.spec, given.html
        positions = given.values.get("positions", {})
        items = [
            {"key": item_key(qid, text), "html": html["items"][text]}
            for text in shuffled(qid, spec["items"], given.seed)
        ]
        for entry in items:
            entry["position"] = positions.get(entry["key"])
        shown = ViewParts(parts={"items": items, "positions": list(range(1, len(items) + 1))})
        if given.reveal:
            shown.correct_answer = {"order": [html["items"][t] for t in spec["items"]]}
        return shown

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        return [" → ".join(answer.get("order", []))]


QUESTION_TYPES = (Ordering(),)
