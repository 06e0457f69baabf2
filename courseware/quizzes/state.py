"""What the quiz templates show for one student: questions, their state, and — only
when the quiz's policy allows — the correct answers.

Everything that could give an answer away (which choice is correct, the right order,
the right matches, accepted texts, the explanation) is put into the context only when
``reveal`` is true. Templates never see the spec itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import fragments
from ..models import Lesson, Question, Quiz
from . import predictions
from .grading import Grade, is_prediction
from .predictions import Measurement
from .scores import (
    LessonQuizScore,
    QuestionResult,
    attempts_in_lesson,
    lesson_score,
    mastery_threshold,
    question_result,
)
from .services import submission_block
from .types import question_type
from .types.base import ViewInput

UNITS_SPELLED = {"×": "times", "x": "times"}


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
    answered_values: dict[str, Any] = field(default_factory=dict)  # the last checked answer's
    parts: dict[str, Any] = field(default_factory=dict)  # the type's own, for its template
    correct_answer: dict[str, Any] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)
    measurement: Measurement | None = None
    lab: dict[str, Any] = field(default_factory=dict)
    # Its HTML, when kept from an earlier page with the same state (courseware/fragments.py).
    fragment: str = ""

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
    def units_beside(self) -> str:
        """The units as the words after the input: a lone "×" there reads as a button
        to clear the field, so it is spelled out (results keep the symbol: "60 ×")."""
        return UNITS_SPELLED.get(self.units, self.units)

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
    def kind(self) -> str:
        if self.is_prediction:
            return "Predict, then measure"
        return question_type(self.question.spec).label

    @property
    def instruction(self) -> str:
        return question_type(self.question.spec).instruction

    @property
    def inputs_template(self) -> str:
        return f"{question_type(self.question.spec).template}#inputs"

    @property
    def reveal_template(self) -> str:
        return f"{question_type(self.question.spec).template}#reveal"


def reveals_answer(quiz: Quiz, question: Question, result: QuestionResult) -> bool:
    """The quiz's ``show_answers`` policy: may this student see the answer now?"""
    if not result.attempts or quiz.show_answers == Quiz.ShowAnswers.NEVER:
        return False
    if is_prediction(question.spec):
        # A prediction is made once, so "after the last attempt" is right after it, but
        # its explanation tells what the lab measures: it waits for the student's own
        # run, and comes with that measurement (pending = no such run yet).
        return not result.pending
    if quiz.show_answers == Quiz.ShowAnswers.AFTER_EACH:
        return True
    out_of_attempts = bool(quiz.max_attempts) and len(result.attempts) >= quiz.max_attempts
    return result.solved or out_of_attempts


def submitted_values(question: Question, form) -> dict[str, Any]:
    """Input state from raw POST data, so a rejected answer is shown back as typed."""
    return question_type(question.spec).submitted_values(question.spec, form)


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
    qtype = question_type(spec)
    last = result.attempts[-1] if result.attempts else None
    if view.closed:
        values = None  # a closed question shows what was answered, not a refused retry
    showing_stored = values is None  # not a submission just refused, or typed before a login
    view.answered_values = qtype.stored_values(spec, last.answer) if last else {}
    if values is None:
        values = view.answered_values
    view.values = values
    shown = qtype.view(
        ViewInput(
            qid=qid,
            spec=spec,
            html=html,
            values=values,
            reveal=reveal,
            answered=last is not None,
            last_answer=last.answer if last and showing_stored else None,
            seed=seed,
            measured=measurement.value if measurement else None,
        )
    )
    view.parts, view.correct_answer, view.feedback = (
        shown.parts,
        shown.correct_answer,
        shown.feedback,
    )
    if last is not None and not showing_stored:
        # A refused submission (too soon, or unreadable) changes nothing stored: the
        # feedback on the last checked answer stays on the page, the refusal beside it.
        kept = qtype.view(
            ViewInput(
                qid=qid,
                spec=spec,
                html=html,
                values=view.answered_values,
                reveal=reveal,
                answered=True,
                last_answer=last.answer,
                seed=seed,
                measured=measurement.value if measurement else None,
            )
        )
        view.correct_answer, view.feedback = kept.correct_answer, kept.feedback
    if is_prediction(spec):
        view.lab = predictions.lab_info(spec["measure"]["lab"])
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


@dataclass
class LoadedQuiz:
    """What one student's quiz is made from, as read from the database (``load_quiz``):
    a quiz view is a function of this, the clock (a wait between attempts) and what
    the view is asked to show (a hint, a refused answer)."""

    lesson: Lesson
    questions: list[Question]
    questions_key: str  # a digest of the question and quiz rows ("": not kept)
    user_id: int | None
    attempts: dict[tuple[int, int], list]
    found: dict[predictions.MeasureKey, list[Measurement]]


def load_quiz(lesson: Lesson, user) -> LoadedQuiz | None:
    """The lesson's active questions with ``user``'s attempts and measurements; None when
    the lesson has no quiz (or none of its questions is active)."""
    # Kept per process while unchanged.
    questions_key, questions = fragments.keyed_lesson_questions(lesson)
    if not questions:
        return None
    user_id = user.pk if user.is_authenticated else None
    attempts = attempts_in_lesson(user_id, lesson.pk) if user_id else {}
    # Only a prediction made is scored against a measurement: no runs to read without one.
    made = [question for question in questions if (user_id, question.pk) in attempts]
    return LoadedQuiz(
        lesson=lesson,
        questions=questions,
        questions_key=questions_key,
        user_id=user_id,
        attempts=attempts,
        found=predictions.measurements_for([user_id], made) if made else {},
    )


def build_quiz_view(
    lesson: Lesson,
    user,
    *,
    hints: dict[str, int] | None = None,
    focus: dict[str, Any] | None = None,
    loaded: LoadedQuiz | None = None,
) -> QuizView | None:
    """The quiz for ``user`` (from ``loaded`` when the caller read it already);
    ``focus`` = {"qid", "error", "values", "just_answered"} for the question just
    submitted."""
    if loaded is None:
        loaded = load_quiz(lesson, user)
    if loaded is None:
        return None
    questions, user_id = loaded.questions, loaded.user_id
    quiz = questions[0].quiz
    attempts, found = loaded.attempts, loaded.found
    views = []
    focus = focus or {}
    for number_, question in enumerate(questions, start=1):
        mine = attempts.get((user_id, question.pk), [])
        measurement = predictions.measurement_of(
            question, user_id, found, predicted_at=predictions.prediction_time(mine)
        )
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
