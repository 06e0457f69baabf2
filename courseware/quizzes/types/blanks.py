"""Fill in several blanks: each blank is a short text box after its own lead-in
("A hypervisor that runs on bare metal is type ___"), with its accepted answers.

    - id: hv-blanks
      type: blanks
      prompt: Fill in the blanks.
      match: nocase            # exact (the default) or nocase
      blanks:
        - label: A hypervisor that runs directly on the hardware is type
          answers: ["1", one]
        - label: One that runs as a program on a host operating system is type
          answers: ["2", two]

Scored by the fraction of blanks filled with an accepted text, so each blank counts
the same; whitespace is normalised as for short answers. No regexes here: a blank
is a word or two, and ``text`` questions already offer safe regexes.
"""

from __future__ import annotations

from ..grading import AnswerError, Grade, item_key, normalise_text, scored
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts
from .text import MAX_TEXT_ANSWER, text_matches, typed_text

BLANK_MATCHES = ("exact", "nocase")
MAX_BLANKS = 10


def _field(qid: str, label: str) -> str:
    return f"blank-{item_key(qid, label)}"


class Blanks(QuestionType):
    """Blanks to fill in, each a label followed by a text box; every blank has
    its own accepted answers, matched exactly or ignoring case (``match``), and
    counts the same."""

    name = "blanks"
    label = "Fill in the blanks"
    fields = frozenset({"blanks", "match"})
    form_fields = r"blank-[\w-]+"

    def check(self, q: Spec, fail: base.Fail) -> None:
        blanks, match = q.get("blanks"), q.get("match", "exact")
        if match not in BLANK_MATCHES:
            fail(f"'match' must be one of {', '.join(BLANK_MATCHES)}", "match")
        if not isinstance(blanks, list) or not 1 <= len(blanks) <= MAX_BLANKS:
            fail(f"'blanks' must be a list of 1 to {MAX_BLANKS} blanks", "blanks")
            return
        for i, blank in enumerate(blanks):
            answers = blank.get("answers") if isinstance(blank, dict) else None
            if (
                not isinstance(blank, dict)
                or set(blank) != {"label", "answers"}
                or not base.is_text(blank["label"])
                or not isinstance(answers, list)
                or not answers
                or not all(base.is_text(a) for a in answers)
            ):
                fail(f"blank {i + 1} must be {{label: text, answers: [texts]}}", "blanks", i)
                return
            if any(len(normalise_text(a)) > MAX_TEXT_ANSWER for a in answers):
                fail(
                    f"blank {i + 1}: answers are at most {MAX_TEXT_ANSWER} characters", "blanks", i
                )
        if not base.distinct_texts([b["label"] for b in blanks]):
            fail("every 'label' in 'blanks' must be different", "blanks")

    def render(self, spec: Spec, render_short: base.RenderShort) -> dict:
        return {"labels": {b["label"]: render_short(b["label"]) for b in spec["blanks"]}}

    def parse(self, spec: Spec, form) -> dict:
        filled: dict[str, str] = {}
        for blank in spec["blanks"]:
            raw = base.first_value(form, _field(spec["id"], blank["label"]))
            if not raw.strip():
                raise AnswerError("Fill in every blank.")
            filled[blank["label"]] = typed_text(raw)
        return {"blanks": filled}

    def _right(self, spec: Spec, answer: Answer) -> list[bool]:
        given, match = answer.get("blanks", {}), spec.get("match", "exact")
        return [
            text_matches(normalise_text(str(given.get(b["label"], ""))), b["answers"], match)
            for b in spec["blanks"]
        ]

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        right = self._right(spec, answer)
        return scored(sum(right) / len(right), right=right)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        return {"filled": dict(answer.get("blanks", {}))}

    def submitted_values(self, spec: Spec, form) -> dict:
        return {
            "filled": {
                b["label"]: form.get(_field(spec["id"], b["label"]), "")[:500]
                for b in spec["blanks"]
            }
        }

    def view(self, given: ViewInput) -> ViewParts:
        spec, filled = given.spec, given.values.get("filled", {})
        right = self._right(spec, {"blanks": filled}) if given.reveal else []
        blanks = []
        for i, blank in enumerate(spec["blanks"]):
            entry = {
                "field": _field(given.qid, blank["label"]),
                "html": given.html["labels"][blank["label"]],
                "value": filled.get(blank["label"], ""),
            }
            if given.reveal:
                entry["answers"] = list(blank["answers"])
                entry["was_right"] = given.answered and right[i]
            blanks.append(entry)
        return ViewParts(parts={"blanks": blanks})

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        given = answer.get("blanks", {})
        return [
            f"{blank['label']} → {str(given.get(blank['label'], '')).casefold()}"
            for blank, ok in zip(spec["blanks"], self._right(spec, answer), strict=True)
            if not ok
        ]


QUESTION_TYPES = (Blanks(),)
