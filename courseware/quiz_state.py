"""What the quiz templates show for one student: questions, their state, and — only
when the quiz's policy allows — the correct answers.

Everything that could give an answer away (which choice is correct, the right order,
the right matches, accepted texts, the explanation) is put into the context only when
``reveal`` is true. Templates never see the spec itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse

from .grading import Grade, is_prediction, item_key, shuffled, small_int, tolerance_range
from .models import Lesson, Question, Quiz
from .quiz_scores import (
    LessonQuizScore,
    Measurement,
    QuestionResult,
    attempts_by_user_question,
    lesson_score,
    mastery_threshold,
    measurement_of,
    measurements_for,
    prediction_time,
    question_result,
)
from .quiz_services import submission_block

try:
    from labs.experiments import get_lab
except ImportError:  # pragma: no cover
    get_lab = None


QUESTION_KINDS = {
    "single": "One answer",
    "multiple": "Several answers",
    "true_false": "True or false",
    "numeric": "Number",
    "text": "Short answer",
    "ordering": "Put in order",
    "matching": "Match",
}
INSTRUCTIONS = {
    "single": "Choose one answer.",
    "multiple": "Select all that apply.",
    "true_false": "Choose true or false.",
    "ordering": "Give each step its position, 1 for the first.",
    "matching": "Choose the match for each item.",
}


def format_number(value: float) -> str:
    """A number as a student would type it back: no thousands commas (a comma reads as
    a decimal point here), and no digits an author wrote rounded away; twelve
    significant digits drop only float noise such as 0.30000000000000004."""
    return f"{value:.12g}"


def format_measured(value: float) -> str:
    """A measured figure to four significant digits (the rest is noise of one run),
    without an exponent or thousands commas."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@dataclass
class QuestionView:
    question: Question
    number: int
    result: QuestionResult
    attempts_left: int | None  # None: unlimited
    block: str | None  # why no more attempts are possible now
    reveal: bool
    hints_shown: int = 0
    error: str = ""
    notice: str = ""  # e.g. an answer typed before a login, filled back in
    just_answered: bool = False
    values: dict[str, Any] = field(default_factory=dict)  # what the inputs show
    choices: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    lefts: list[dict] = field(default_factory=list)
    rights: list[dict] = field(default_factory=list)
    correct_answer: dict[str, Any] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)
    measurement: Measurement | None = None
    lab: dict[str, Any] = field(default_factory=dict)

    @property
    def qid(self) -> str:
        return self.question.qid

    @property
    def type(self) -> str:
        return self.question.type

    @property
    def html(self) -> dict:
        return self.question.rendered

    @property
    def is_prediction(self) -> bool:
        return is_prediction(self.question.spec)

    @property
    def units(self) -> str:
        return self.question.spec.get("units", "")

    @property
    def hints(self) -> list[str]:
        return self.html.get("hints", [])[: self.hints_shown]

    @property
    def more_hints(self) -> int:
        return len(self.html.get("hints", [])) - self.hints_shown

    @property
    def grade(self) -> Grade | None:
        return self.result.last_grade

    @property
    def verdict(self) -> str:
        grade = self.grade
        if grade is None:
            return ""
        if grade.score is None:
            return "pending"
        if grade.correct:
            return "correct"
        return "partial" if grade.score > 0 else "incorrect"

    @property
    def percent(self) -> int | None:
        grade = self.grade
        return None if grade is None or grade.score is None else round(grade.score * 100)

    @property
    def counted_percent(self) -> int:
        """The question's score as it counts (practice tries left out)."""
        return round(self.result.score * 100)

    @property
    def closed(self) -> bool:
        """No further attempt will ever be accepted (a wait is not closed)."""
        if self.is_prediction:
            return self.result.answered
        return self.result.solved or self.attempts_left == 0

    @property
    def positions(self) -> list[int]:
        return list(range(1, len(self.items) + 1))

    @property
    def kind(self) -> str:
        if self.is_prediction:
            return "Predict, then measure"
        return QUESTION_KINDS.get(self.type, self.type)

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS.get(self.type, "")


def reveals_answer(quiz: Quiz, question: Question, result: QuestionResult) -> bool:
    """The quiz's ``show_answers`` policy: may this student see the answer now?"""
    if not result.attempts or quiz.show_answers == Quiz.ShowAnswers.NEVER:
        return False
    if quiz.show_answers == Quiz.ShowAnswers.AFTER_EACH:
        return True
    out_of_attempts = bool(quiz.max_attempts) and len(result.attempts) >= quiz.max_attempts
    # A prediction is made once, so "after the last attempt" is right after it.
    return result.solved or out_of_attempts or is_prediction(question.spec)


def _form_values(question: Question, answer: dict) -> dict[str, Any]:
    """The inputs' state from a stored answer (or from a rejected submission)."""
    qid = question.qid
    if "choice" in answer:
        return {"checked": {str(answer["choice"])}}
    if "choices" in answer:
        return {"checked": set(map(str, answer["choices"]))}
    if question.type == "true_false" and "value" in answer:
        return {"checked": {"true" if answer["value"] else "false"}}
    if "raw" in answer or "text" in answer:
        return {"value": answer.get("raw", answer.get("text", ""))}
    if "order" in answer:
        return {"positions": {item_key(qid, t): i + 1 for i, t in enumerate(answer["order"])}}
    if "pairs" in answer:
        return {
            "matches": {
                item_key(qid, left): item_key(qid, right) for left, right in answer["pairs"].items()
            }
        }
    return {}


def submitted_values(question: Question, form) -> dict[str, Any]:
    """Input state from raw POST data, so a rejected answer is shown back as typed."""
    qid, spec = question.qid, question.spec
    if question.type in ("single", "multiple", "true_false"):
        return {"checked": set(form.getlist("choice"))}
    if question.type in ("numeric", "text"):
        return {"value": form.get("value", "")[:500]}
    if question.type == "ordering":
        positions = {}
        for text in spec["items"]:
            key = item_key(qid, text)
            raw = form.get(f"pos-{key}", "")
            positions[key] = small_int(raw)
        return {"positions": positions}
    if question.type == "matching":
        return {
            "matches": {
                item_key(qid, p["left"]): form.get(f"match-{item_key(qid, p['left'])}", "")
                for p in spec["pairs"]
            }
        }
    return {}


def _lab_info(question: Question) -> dict[str, Any]:
    slug = question.spec["measure"]["lab"]
    lab = get_lab(slug) if get_lab else None
    info: dict[str, Any] = {
        "slug": slug,
        "available": lab is not None,
        "title": getattr(lab, "title", slug),
    }
    if lab is not None:
        try:
            info["url"] = reverse("labs:detail", args=[slug])
        except NoReverseMatch:  # pragma: no cover
            info["available"] = False
    return info


def build_question_view(
    question: Question,
    *,
    number: int,
    result: QuestionResult,
    measurement: Measurement | None,
    seed: int | str,
    hints_shown: int = 0,
    error: str = "",
    notice: str = "",
    values: dict | None = None,
    just_answered: bool = False,
) -> QuestionView:
    quiz, spec, qid, html = question.quiz, question.spec, question.qid, question.rendered
    reveal = reveals_answer(quiz, question, result)
    if quiz.max_attempts and not is_prediction(spec):
        attempts_left = max(0, quiz.max_attempts - len(result.attempts))
    else:
        attempts_left = None
    view = QuestionView(
        question=question,
        number=number,
        result=result,
        attempts_left=attempts_left,
        block=submission_block(question=question, attempts=result.attempts),
        reveal=reveal,
        hints_shown=max(0, min(hints_shown, len(spec.get("hints", [])))),
        error=error,
        notice=notice,
        just_answered=just_answered,
        measurement=measurement,
    )
    last = result.attempts[-1] if result.attempts else None
    view.values = (
        values if values is not None else (_form_values(question, last.answer) if last else {})
    )
    checked = view.values.get("checked", set())
    if question.type in ("single", "multiple"):
        for choice in spec["choices"]:
            cid = str(choice["id"])
            entry = {"id": cid, "html": html["choices"][cid]["text"], "checked": cid in checked}
            if reveal:
                entry["is_correct"] = bool(choice.get("correct"))
            view.choices.append(entry)
        if last and values is None:
            picked = last.answer.get("choices") or [last.answer.get("choice")]
            view.feedback = [
                html["choices"][c]["feedback"]
                for c in picked
                if c in html["choices"] and html["choices"][c]["feedback"]
            ]
        if reveal:
            view.correct_answer = {
                "choices": [
                    html["choices"][str(c["id"])]["text"]
                    for c in spec["choices"]
                    if c.get("correct")
                ]
            }
    elif question.type == "true_false":
        view.choices = [
            {"id": v, "html": v.title(), "checked": v in checked} for v in ("true", "false")
        ]
        if reveal:
            view.correct_answer = {"text": "True" if spec["answer"] else "False"}
    elif question.type == "numeric":
        if is_prediction(spec):
            view.lab = _lab_info(question)
            if measurement is not None:
                low, high = tolerance_range(spec, measurement.value)
                view.correct_answer = {
                    "measured": format_measured(measurement.value),
                    "low": format_measured(low),
                    "high": format_measured(high),
                }
        elif reveal:
            low, high = tolerance_range(spec, float(spec["answer"]))
            view.correct_answer = {
                "number": format_number(float(spec["answer"])),
                "low": format_number(low),
                "high": format_number(high),
                "exact": low == high,
            }
    elif question.type == "text":
        if reveal and spec.get("match", "exact") != "regex":
            view.correct_answer = {"texts": list(spec["answers"])}
    elif question.type == "ordering":
        positions = view.values.get("positions", {})
        for text in shuffled(qid, spec["items"], seed):
            key = item_key(qid, text)
            view.items.append(
                {"key": key, "html": html["items"][text], "position": positions.get(key)}
            )
        if reveal:
            view.correct_answer = {"order": [html["items"][t] for t in spec["items"]]}
    elif question.type == "matching":
        matches = view.values.get("matches", {})
        for pair in spec["pairs"]:
            key = item_key(qid, pair["left"])
            entry = {
                "key": key,
                "html": html["lefts"][pair["left"]],
                "selected": matches.get(key, ""),
            }
            if reveal:
                entry["correct_html"] = html["rights"][pair["right"]]
                entry["was_right"] = bool(last) and matches.get(key) == item_key(qid, pair["right"])
            view.lefts.append(entry)
        rights = [p["right"] for p in spec["pairs"]]
        view.rights = [{"key": item_key(qid, r), "text": r} for r in shuffled(qid, rights, seed)]
    if reveal and html.get("explanation"):
        view.correct_answer["explanation"] = html["explanation"]
    return view


@dataclass
class QuizView:
    quiz: Quiz
    lesson: Lesson
    questions: list[QuestionView]
    score: LessonQuizScore

    @property
    def answered(self) -> int:
        return self.score.answered

    @property
    def threshold_percent(self) -> int:
        return round(mastery_threshold() * 100)


def build_quiz_view(
    lesson: Lesson,
    user,
    *,
    hints: dict[str, int] | None = None,
    focus: dict[str, Any] | None = None,
) -> QuizView | None:
    """The quiz for ``user``; ``focus`` = {"qid", "error", "values", "just_answered"} for
    the question just submitted."""
    quiz = Quiz.objects.filter(lesson=lesson).first()
    if quiz is None:
        return None
    questions = list(quiz.questions.active().select_related("quiz").order_by("order"))
    if not questions:
        return None
    user_id = user.pk if user.is_authenticated else None
    attempts = attempts_by_user_question([user_id], questions) if user_id else {}
    found = measurements_for([user_id], questions) if user_id else {}
    views = []
    focus = focus or {}
    for number_, question in enumerate(questions, start=1):
        mine = attempts.get((user_id, question.pk), [])
        measurement = measurement_of(question, user_id, found, predicted_at=prediction_time(mine))
        result = question_result(question, mine, measurement)
        extra = (
            {k: v for k, v in focus.items() if k != "qid"}
            if focus.get("qid") == question.qid
            else {}
        )
        views.append(
            build_question_view(
                question,
                number=number_,
                result=result,
                measurement=measurement,
                seed=user_id or 0,
                hints_shown=(hints or {}).get(question.qid, 0),
                **extra,
            )
        )
    score = LessonQuizScore(
        lesson_id=lesson.pk,
        questions=len(views),
        answered=sum(1 for v in views if v.result.answered),
        score=lesson_score(v.result for v in views),
    )
    return QuizView(quiz=quiz, lesson=lesson, questions=views, score=score)
