"""Match each left item to its right item (one select per left item). Scored by the
fraction of left items matched right."""

from __future__ import annotations

from ..grading import AnswerError, Grade, item_key, scored, shuffled
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts


class Matching(QuestionType):
    """Pairs to match: every left item with its right item."""

    name = "matching"
    label = "Match"
    form_fields = r"match-[\w-]+"  # one select per left item
    fields = frozenset({"pairs"})

    def check(self, q: Spec, fail: base.Fail) -> None:
        pairs = q.get("pairs")
        if not isinstance(pairs, list) or len(pairs) < 2:
            fail("'pairs' must be a list of at least two {left, right} pairs", "pairs")
            return
        for i, pair in enumerate(pairs):
            if (
                not isinstance(pair, dict)
                or set(pair) != {"left", "right"}
                or not all(base.is_text(v) for v in pair.values())
            ):
                fail(f"pair {i + 1} must be {{left: text, right: text}}", "pairs", i)
                return
        for side in ("left", "right"):
            if not base.distinct_texts([p[side] for p in pairs]):
                fail(f"every '{side}' in 'pairs' must be different", "pairs")

    def render(self, spec: Spec, render_short: base.RenderShort) -> dict:
        return {
            "lefts": {p["left"]: render_short(p["left"]) for p in spec["pairs"]},
            "rights": {p["right"]: render_short(p["right"]) for p in spec["pairs"]},
        }

    def parse(self, spec: Spec, form) -> dict:
        qid = spec["id"]
        rights = {item_key(qid, p["right"]): p["right"] for p in spec["pairs"]}
        pairs: dict[str, str] = {}
        for pair in spec["pairs"]:
            raw = base.first_value(form, f"match-{item_key(qid, pair['left'])}")
            if not raw:
                raise AnswerError("Choose a match for every item.")
            if raw not in rights:
                raise AnswerError("One of the matches is not one of this question's options.")
            pairs[pair["left"]] = rights[raw]
        return {"pairs": pairs}

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        given = answer.get("pairs", {})
        right = [given.get(p["left"]) == p["right"] for p in spec["pairs"]]
        return scored(sum(right) / len(right), right=right)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        qid = spec["id"]
        pairs = answer["pairs"].items()
        return {"matches": {item_key(qid, left): item_key(qid, right) for left, right in pairs}}

    def submitted_values(self, spec: Spec, form) -> dict:
        keys = [item_key(spec["id"], p["left"]) for p in spec["pairs"]]
        return {"matches": {key: form.get(f"match-{key}", "") for key in keys}}

    def view(self, given: ViewInput) -> ViewParts:
        qid, spec, html = given.qid, given.spec, given.html
        matches = given.values.get("matches", {})
        lefts = []
        for pair in spec["pairs"]:
            key = item_key(qid, pair["left"])
            entry = {
                "key": key,
                "html": html["lefts"][pair["left"]],
                "selected": matches.get(key, ""),
            }
            if given.reveal:
                entry["correct_html"] = html["rights"][pair["right"]]
                right_key = item_key(qid, pair["right"])
                entry["was_right"] = given.answered and matches.get(key) == right_key
            lefts.append(entry)
        rights = [p["right"] for p in spec["pairs"]]
        keyed = [{"key": item_key(qid, r), "text": r} for r in shuffled(qid, rights, given.seed)]
        return ViewParts(parts={"lefts": lefts, "rights": keyed})

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        right = {p["left"]: p["right"] for p in spec["pairs"]}
        return [
            f"{left} → {given}"
            for left, given in answer.get("pairs", {}).items()
            if right.get(left) != given
        ]


QUESTION_TYPES = (Matching(),)
