"""Choice questions: one answer (``single``) or several (``multiple``), with
per-choice feedback. Multiple choice earns partial credit:
``max(0, (right picks − wrong picks) / number of correct choices)``."""

from __future__ import annotations

from ..grading import AnswerError, Grade, scored
from . import base
from .base import Answer, QuestionType, Spec, ViewInput, ViewParts

CHOICE_FIELDS = {"id", "text", "correct", "feedback"}


class ChoiceType(QuestionType):
    fields = frozenset({"choices"})
    form_fields = "choice"
    exactly_one = True

    def check(self, q: Spec, fail: base.Fail) -> None:
        choices = q.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            fail("'choices' must be a list of at least two choices", "choices")
            return
        ids: list[str] = []
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict):
                fail(f"choice {i + 1} must be a mapping with id and text", "choices", i)
                continue
            if extra := sorted(map(str, set(choice) - CHOICE_FIELDS)):
                fail(f"choice {i + 1} has unknown field(s): {', '.join(extra)}", "choices", i)
            cid = choice.get("id")
            if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid).strip():
                fail(f"choice {i + 1} needs an 'id'", "choices", i)
            ids.append(str(cid))
            if not base.is_text(choice.get("text")):
                fail(f"choice {i + 1} needs non-empty 'text'", "choices", i, "text")
            if not isinstance(choice.get("correct", False), bool):
                fail(f"choice {i + 1}: 'correct' must be true or false", "choices", i)
            if "feedback" in choice and not isinstance(choice["feedback"], str):
                fail(f"choice {i + 1}: 'feedback' must be text", "choices", i)
        if dupes := sorted({c for c in ids if ids.count(c) > 1}):
            fail(f"duplicate choice id(s): {', '.join(dupes)}", "choices")
        correct = sum(1 for c in choices if isinstance(c, dict) and c.get("correct") is True)
        if self.exactly_one and correct != 1:
            fail(f"exactly one choice must be correct (found {correct})", "choices")
        if not self.exactly_one and correct < 1:
            fail("at least one choice must be correct", "choices")

    def render(self, spec: Spec, render_short: base.RenderShort) -> dict:
        return {
            "choices": {
                str(c["id"]): {
                    "text": render_short(c["text"]),
                    "feedback": render_short(c["feedback"]) if c.get("feedback") else "",
                }
                for c in spec["choices"]
            }
        }

    def picked(self, answer: Answer) -> list[str]:
        raise NotImplementedError

    def grade(self, spec: Spec, answer: Answer, *, measured: float | None = None) -> Grade:
        choices = {str(c["id"]): c for c in spec["choices"]}
        picked = self.picked(answer)
        feedback = [
            choices[c]["feedback"] for c in picked if c in choices and choices[c].get("feedback")
        ]
        correct_ids = {cid for cid, c in choices.items() if c.get("correct")}
        hits = len(correct_ids.intersection(picked))
        misses = len(set(picked) - correct_ids)
        return scored((hits - misses) / len(correct_ids), feedback)

    def stored_values(self, spec: Spec, answer: Answer) -> dict:
        return {"checked": set(map(str, self.picked(answer)))}

    def submitted_values(self, spec: Spec, form) -> dict:
        return {"checked": set(form.getlist("choice"))}

    def view(self, given: ViewInput) -> ViewParts:
        spec, html = given.spec, given.html
        checked = given.values.get("checked", set())
        shown = ViewParts()
        choices = []
        for choice in spec["choices"]:
            cid = str(choice["id"])
            entry = {"id": cid, "html": html["choices"][cid]["text"], "checked": cid in checked}
            if given.reveal:
                entry["is_correct"] = bool(choice.get("correct"))
            choices.append(entry)
        shown.parts = {"choices": choices, "input": "radio" if self.exactly_one else "checkbox"}
        if given.last_answer is not None:
            shown.feedback = [
                html["choices"][c]["feedback"]
                for c in self.picked(given.last_answer)
                if c in html["choices"] and html["choices"][c]["feedback"]
            ]
        if given.reveal:
            shown.correct_answer = {
                "choices": [
                    html["choices"][str(c["id"])]["text"]
                    for c in spec["choices"]
                    if c.get("correct")
                ]
            }
        return shown

    def wrong_parts(self, spec: Spec, answer: Answer) -> list[str]:
        choices = {str(c["id"]): c for c in spec["choices"]}
        return [
            choices[c]["text"]
            for c in self.picked(answer)
            if c in choices and not choices[c].get("correct")
        ]


class SingleChoice(ChoiceType):
    name = "single"
    label = "One answer"
    instruction = "Choose one answer."

    def parse(self, spec: Spec, form) -> dict:
        choice = base.first_value(form, "choice")
        if not choice:
            raise AnswerError("Choose an answer.")
        if choice not in {str(c["id"]) for c in spec["choices"]}:
            raise AnswerError("That choice is not one of this question's options.")
        return {"choice": choice}

    def picked(self, answer: Answer) -> list[str]:
        return [answer.get("choice")]


class MultipleChoice(ChoiceType):
    name = "multiple"
    label = "Several answers"
    instruction = "Select all that apply."
    exactly_one = False

    def parse(self, spec: Spec, form) -> dict:
        picked = {v for v in base.picked_values(form, "choice") if v.strip()}
        valid = [str(c["id"]) for c in spec["choices"]]
        if not picked:
            raise AnswerError("Select at least one answer.")
        if picked - set(valid):
            raise AnswerError("One of the selected choices is not one of this question's options.")
        return {"choices": [cid for cid in valid if cid in picked]}

    def picked(self, answer: Answer) -> list[str]:
        return list(answer.get("choices", []))

    def view(self, given: ViewInput) -> ViewParts:
        shown = super().view(given)
        if given.last_answer is not None:
            # How many picks were right and how many wrong, without saying which:
            # that much the score already implies, and the answer stays hidden until
            # the quiz's policy shows it.
            correct = {str(c["id"]) for c in given.spec["choices"] if c.get("correct")}
            picked = set(self.picked(given.last_answer))
            right, wrong = len(picked & correct), len(picked - correct)
            if wrong or right < len(correct):
                shown.feedback = [_pick_count(right, wrong, len(correct)), *shown.feedback]
        return shown


def _pick_count(right: int, wrong: int, correct: int) -> str:
    def picks(n: int) -> str:
        return f"{n} pick" if n == 1 else f"{n} picks"

    text = f"{picks(right)} right (of {correct} correct choices), {picks(wrong)} wrong"
    if wrong:
        text += "; each wrong pick cancels a right one"
    return f"<p>{text}.</p>"


QUESTION_TYPES = (SingleChoice(), MultipleChoice())
