"""Scores from attempts: one question, one lesson, many students (read-only).

Policy, in one place:

- A question's score is its best *counted* attempt's score (0 when unanswered). A
  student who answered correctly cannot submit again.
- Attempts made after the answer was shown are practice (``Attempt.practice``, set
  when they are made): they are kept and graded, but do not count. With
  ``show_answers: after_each`` the answer is shown after the first submission, so
  only the first counts; otherwise seeing the answer closes the question.
- A lesson's quiz score is the mean of its active questions' scores; the lesson is
  mastered when that reaches ``VIRTLAB_MASTERY_THRESHOLD``.
- Predict-then-measure: the student makes one prediction (one attempt). It is scored
  against the *first* succeeded run of the lab that reports the key and was *started
  after* the prediction — a prediction made after seeing a measurement would not be
  a prediction (a run in progress already shows its samples, so "finished after" is
  not enough), and re-running the lab until it matches must not raise the score.
  The score is computed at read time; the stored attempt keeps the score it had when
  made (None: no run yet) and is never rewritten, so attempts stay append-only. Until
  such a run exists the prediction scores 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count

from virtlab.prepared import Param, Prepared

from ..models import Attempt, Question
from .grading import Grade, is_prediction
from .predictions import Measurement, measurement_of, measurements_for, prediction_time
from .types import grade


def attempt_grade(question: Question, attempt: Attempt, measurement: Measurement | None) -> Grade:
    """The grade an attempt has now (a prediction is scored once its run exists)."""
    if is_prediction(question.spec):
        return grade(
            question.spec, attempt.answer, measured=measurement.value if measurement else None
        )
    return Grade(score=attempt.score, correct=attempt.correct)


def counted_attempts(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts that count toward the score: those made before the answer was shown."""
    return [attempt for attempt in attempts if not attempt.practice]


@dataclass(frozen=True)
class GradedAttempt:
    attempt: Attempt
    grade: Grade  # as it stands now: a prediction is scored once its run exists


def graded_attempts(user_id: int, attempts: list[Attempt]) -> list[GradedAttempt]:
    """One student's attempts with their current grades (for the attempt lists)."""
    questions = {a.question_id: a.question for a in attempts}
    found = measurements_for([user_id], questions.values())
    graded = []
    for attempt in attempts:
        question = questions[attempt.question_id]
        measurement = measurement_of(question, user_id, found, predicted_at=attempt.created_at)
        graded.append(GradedAttempt(attempt, attempt_grade(question, attempt, measurement)))
    return graded


@dataclass
class QuestionResult:
    attempts: list[Attempt] = field(default_factory=list)
    score: float = 0.0  # best counted (or, for a prediction, current) score; 0 unanswered
    correct: bool = False  # a counted attempt was correct
    solved: bool = False  # any attempt was correct, practice included: nothing more to try
    practice: int = 0  # attempts after the answer was shown, which do not count
    pending: bool = False  # a prediction waiting for a measurement
    last_grade: Grade | None = None

    @property
    def answered(self) -> bool:
        return bool(self.attempts)


def question_result(
    question: Question, attempts: list[Attempt], measurement: Measurement | None
) -> QuestionResult:
    """``attempts`` are this student's attempts at this question, oldest first."""
    result = QuestionResult(attempts=attempts)
    if not attempts:
        return result
    if is_prediction(question.spec):
        current = attempt_grade(question, attempts[0], measurement)
        result.last_grade = current
        result.pending = current.score is None
        result.score = current.score or 0.0
        result.correct = result.solved = current.correct
        return result
    counted = counted_attempts(attempts)
    result.last_grade = attempt_grade(question, attempts[-1], None)
    result.score = max(((a.score or 0.0) for a in counted), default=0.0)
    result.correct = any(a.correct for a in counted)
    result.solved = any(a.correct for a in attempts)
    result.practice = len(attempts) - len(counted)
    return result


def mastery_threshold() -> float:
    return float(settings.VIRTLAB_MASTERY_THRESHOLD)


def lesson_score(results: Iterable[QuestionResult]) -> float:
    results = list(results)
    return sum(r.score for r in results) / len(results) if results else 0.0


@dataclass
class LessonQuizScore:
    lesson_id: int
    questions: int
    answered: int
    score: float

    @property
    def mastered(self) -> bool:
        return self.questions > 0 and self.score >= mastery_threshold() - 1e-9

    @property
    def percent(self) -> int:
        return round(self.score * 100)


def attempts_by_user_question(
    user_ids: Iterable[int], questions: Iterable[Question]
) -> dict[tuple[int, int], list[Attempt]]:
    grouped: dict[tuple[int, int], list[Attempt]] = defaultdict(list)
    for attempt in Attempt.objects.filter(
        user_id__in=list(user_ids), question_id__in=[question.pk for question in questions]
    ).order_by("created_at", "pk"):
        grouped[(attempt.user_id, attempt.question_id)].append(attempt)
    return grouped


_ATTEMPT_FIELDS = [f.attname for f in Attempt._meta.concrete_fields]
# A student's attempts in one lesson, asked on every view of its lesson and quiz pages.
_LESSON_ATTEMPTS = Prepared(
    lambda _: (
        Attempt.objects.filter(user_id=Param("user"), question__quiz__lesson_id=Param("lesson"))
        .order_by("created_at", "pk")
        .values_list(*_ATTEMPT_FIELDS)
    )
)


def attempts_in_lesson(user_id: int, lesson_id: int) -> dict[tuple[int, int], list[Attempt]]:
    """``attempts_by_user_question`` for one student and every question of one lesson."""
    grouped: dict[tuple[int, int], list[Attempt]] = defaultdict(list)
    for row in _LESSON_ATTEMPTS.rows(user=user_id, lesson=lesson_id):
        attempt = Attempt.from_db(DEFAULT_DB_ALIAS, _ATTEMPT_FIELDS, row)
        grouped[(attempt.user_id, attempt.question_id)].append(attempt)
    return grouped


def active_questions_by_lesson(lesson_ids: Iterable[int]) -> dict[int, list[Question]]:
    by_lesson: dict[int, list[Question]] = defaultdict(list)
    for question in (
        Question.objects.active()
        .filter(quiz__lesson_id__in=list(lesson_ids))
        .select_related("quiz")
        .order_by("quiz__lesson_id", "order")
    ):
        by_lesson[question.quiz.lesson_id].append(question)
    return by_lesson


def lesson_scores(
    user_ids: Iterable[int], lesson_ids: Iterable[int]
) -> dict[tuple[int, int], LessonQuizScore]:
    """(user id, lesson id) → quiz score, for every lesson that has a quiz."""
    user_ids, lesson_ids = list(user_ids), list(lesson_ids)
    by_lesson = active_questions_by_lesson(lesson_ids)
    questions = [q for qs in by_lesson.values() for q in qs]
    attempts = attempts_by_user_question(user_ids, questions)
    found = measurements_for(user_ids, questions)
    scores: dict[tuple[int, int], LessonQuizScore] = {}
    for user_id in user_ids:
        for lesson_id, lesson_questions in by_lesson.items():
            results = []
            for q in lesson_questions:
                mine = attempts.get((user_id, q.pk), [])
                measured = measurement_of(q, user_id, found, predicted_at=prediction_time(mine))
                results.append(question_result(q, mine, measured))
            scores[(user_id, lesson_id)] = LessonQuizScore(
                lesson_id=lesson_id,
                questions=len(results),
                answered=sum(1 for r in results if r.answered),
                score=lesson_score(results),
            )
    return scores


def student_lesson_scores(user_id: int, lesson_ids: Iterable[int]) -> dict[int, LessonQuizScore]:
    """``lesson_scores`` for one student, by lesson id, reading only the questions the
    student has answered: the course outline asks for every lesson on every view of the
    home page, and building every question of the course there cost more than the rest
    of the page. An unanswered question scores 0 whatever it is, so a lesson's score is
    the sum of its answered questions' scores over its number of active questions."""
    lesson_ids = list(lesson_ids)
    active = Question.objects.active().filter(quiz__lesson_id__in=lesson_ids)
    sizes = dict(
        active.order_by()
        .values("quiz__lesson_id")
        .annotate(n=Count("pk"))
        .values_list("quiz__lesson_id", "n")
    )
    mine: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in Attempt.objects.filter(user_id=user_id, question__in=active).order_by(
        "created_at", "pk"
    ):
        mine[attempt.question_id].append(attempt)
    answered = list(
        active.filter(pk__in=list(mine)).select_related("quiz").order_by("quiz__lesson_id", "order")
    )
    found = measurements_for([user_id], answered)
    totals: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for question in answered:
        attempts = mine[question.pk]
        measured = measurement_of(question, user_id, found, predicted_at=prediction_time(attempts))
        lesson_id = question.quiz.lesson_id
        totals[lesson_id] += question_result(question, attempts, measured).score
        counts[lesson_id] += 1
    return {
        lesson_id: LessonQuizScore(lesson_id, size, counts[lesson_id], totals[lesson_id] / size)
        for lesson_id, size in sizes.items()
    }


def overall_score(scores: Iterable[LessonQuizScore]) -> float | None:
    """The mean lesson quiz score over lessons that have a quiz."""
    values = [s.score for s in scores if s.questions]
    return sum(values) / len(values) if values else None
