"""Question analytics for one class (item analysis on first tries).

For each question, over the class's students and the question's *current* version
(attempts on earlier versions are counted apart, so an edit does not skew figures):

- attempts: every attempt on the current version;
- first-try correct: the share of students whose first attempt was correct;
- mean score: the mean of those first attempts' scores;
- discrimination: Pearson correlation between a student's first-try score on this
  question and their first-try total on the *rest* of the quiz (unanswered = 0),
  over the students who answered it; None with fewer than 3 students or no spread;
- most chosen wrong answer: the wrong option picked most often over all attempts.

First tries are what a student knew before any feedback, which is why difficulty and
discrimination use them. Predictions use the student's current measurement; one
still waiting for a measurement is left out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Attempt, Classroom, Lesson, Question
from ..quizzes.grading import is_prediction
from ..quizzes.predictions import measurement_of, measurements_for
from ..quizzes.scores import active_questions_by_lesson, attempt_grade
from ..quizzes.types import question_type

MIN_STUDENTS_FOR_FLAGS = 3
TOO_EASY = 0.9  # first-try correct at or above
TOO_HARD = 0.3  # first-try correct at or below


@dataclass
class QuestionStats:
    question: Question
    attempts: int = 0
    students: int = 0
    first_try_correct: float | None = None
    mean_score: float | None = None
    discrimination: float | None = None
    common_wrong: str | None = None
    common_wrong_count: int = 0
    older_version_attempts: int = 0
    flags: list[str] = field(default_factory=list)


@dataclass
class LessonStats:
    lesson: Lesson
    questions: list[QuestionStats]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def _flags(stats: QuestionStats) -> list[str]:
    flags = []
    if stats.students >= MIN_STUDENTS_FOR_FLAGS and stats.first_try_correct is not None:
        if stats.first_try_correct >= TOO_EASY:
            flags.append("too easy")
        if stats.first_try_correct <= TOO_HARD:
            flags.append("too hard")
    if stats.discrimination is not None and stats.discrimination < 0:
        flags.append("negative discrimination")
    return flags


def lesson_question_stats(questions: list[Question], user_ids: list[int]) -> list[QuestionStats]:
    found = measurements_for(user_ids, questions)
    current: dict[int, list[Attempt]] = {q.pk: [] for q in questions}
    older: Counter[int] = Counter()
    by_pk = {q.pk: q for q in questions}
    for attempt in Attempt.objects.filter(user_id__in=user_ids, question__in=questions).order_by(
        "created_at", "pk"
    ):
        if attempt.content_hash == by_pk[attempt.question_id].content_hash:
            current[attempt.question_id].append(attempt)
        else:
            older[attempt.question_id] += 1
    # first[question pk][user id] = (score, correct) of that student's first try
    first: dict[int, dict[int, tuple[float, bool]]] = {}
    for question in questions:
        seen: dict[int, tuple[float, bool]] = {}
        for attempt in current[question.pk]:
            if attempt.user_id in seen:
                continue
            measured = measurement_of(
                question, attempt.user_id, found, predicted_at=attempt.created_at
            )
            graded = attempt_grade(question, attempt, measured)
            if graded.score is not None:
                seen[attempt.user_id] = (graded.score, graded.correct)
        first[question.pk] = seen
    results = []
    for question in questions:
        tries = first[question.pk]
        stats = QuestionStats(question, attempts=len(current[question.pk]), students=len(tries))
        stats.older_version_attempts = older[question.pk]
        if tries:
            stats.first_try_correct = sum(1 for _, ok in tries.values() if ok) / len(tries)
            stats.mean_score = sum(score for score, _ in tries.values()) / len(tries)
        if len(tries) >= 3:
            xs = [tries[u][0] for u in tries]
            ys = [
                sum(
                    first[other.pk].get(u, (0.0, False))[0]
                    for other in questions
                    if other.pk != question.pk
                )
                for u in tries
            ]
            stats.discrimination = pearson(xs, ys)
        wrong = Counter(
            part
            for attempt in current[question.pk]
            if not attempt.correct and not is_prediction(question.spec)
            for part in question_type(question.spec).wrong_parts(question.spec, attempt.answer)
        )
        if wrong:
            stats.common_wrong, stats.common_wrong_count = wrong.most_common(1)[0]
        stats.flags = _flags(stats)
        results.append(stats)
    return results


def class_analytics(classroom: Classroom) -> list[LessonStats]:
    lessons = list(Lesson.objects.published().in_outline_order())
    user_ids = list(classroom.memberships.values_list("user_id", flat=True))
    by_lesson = active_questions_by_lesson([lesson.pk for lesson in lessons])
    return [
        LessonStats(lesson, lesson_question_stats(by_lesson[lesson.pk], user_ids))
        for lesson in lessons
        if by_lesson.get(lesson.pk)
    ]
