"""The course exam: questions drawn across the lessons, answered in one sitting.

A sitting draws ``Course.exam_questions`` questions from the published lessons'
quizzes, spread over the lessons as evenly as their quizzes allow, and keeps them for
the whole sitting. Answers are saved one question at a time (so nothing typed is lost
when a page closes) and may be changed until the sitting finishes; the newest answer
to each question counts. Predict-then-measure questions are left out: they are scored
against the student's own lab run, not in an exam. Answers are shown only once the
sitting has finished.

With a time limit the sitting closes at its deadline: answers saved by then count,
later ones are refused (with ``GRACE`` for a request already on its way).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..models import Course, ExamAnswer, ExamSitting, Lesson, Question
from .grading import AnswerError, is_prediction
from .types import grade, parse_answer

GRACE = timedelta(seconds=30)


class ExamClosed(Exception):
    """The sitting has finished or its time is up: the answer was not saved."""


def exam_course() -> Course | None:
    return Course.objects.order_by("pk").first()


def candidate_questions() -> dict[int, list[Question]]:
    """The questions an exam may draw, by lesson, in outline order."""
    lessons = list(Lesson.objects.published().in_outline_order())
    by_lesson: dict[int, list[Question]] = {lesson.pk: [] for lesson in lessons}
    questions = Question.objects.active().filter(quiz__lesson__in=lessons).order_by("order")
    for question in questions.select_related("quiz"):
        if not is_prediction(question.spec):
            by_lesson[question.quiz.lesson_id].append(question)
    return {lesson_id: qs for lesson_id, qs in by_lesson.items() if qs}


def draw(count: int, rng: random.Random) -> list[str]:
    """``count`` question ids: one from each lesson in turn (a random one not drawn yet),
    so every lesson is asked about before any is asked twice; then in course order."""
    pools = {lesson: rng.sample(qs, len(qs)) for lesson, qs in candidate_questions().items()}
    lesson_order = list(pools)
    drawn: list[tuple[int, int, Question]] = []
    while len(drawn) < count and any(pools.values()):
        for position, lesson in enumerate(lesson_order):
            if pools[lesson] and len(drawn) < count:
                drawn.append((position, len(drawn), pools[lesson].pop()))
    drawn.sort(key=lambda item: (item[0], item[2].order))
    return [question.qid for _, _, question in drawn]


def open_sitting(user) -> ExamSitting | None:
    sitting = ExamSitting.objects.filter(user=user, finished_at__isnull=True).first()
    if sitting is not None and closes_at(sitting) and timezone.now() > closes_at(sitting) + GRACE:
        finish(sitting)  # its time ran out while the student was away
        return None
    return sitting


def start(user) -> ExamSitting:
    """The student's open sitting, or a new one."""
    with transaction.atomic():
        existing = open_sitting(user)
        if existing is not None:
            return existing
        course = exam_course()
        count = course.exam_questions if course else 25
        minutes = course.exam_minutes if course else 0
        rng = random.Random()  # noqa: S311 (a question order, not a secret)
        return ExamSitting.objects.create(
            user=user, qids=draw(count, rng), time_limit_minutes=minutes
        )


def closes_at(sitting: ExamSitting) -> datetime | None:
    if not sitting.time_limit_minutes:
        return None
    return sitting.started_at + timedelta(minutes=sitting.time_limit_minutes)


def questions_of(sitting: ExamSitting) -> list[Question]:
    """The drawn questions in the sitting's order (a question since retired from its
    quiz stays in the sittings that drew it)."""
    by_qid = {
        q.qid: q
        for q in Question.objects.filter(qid__in=sitting.qids).select_related("quiz__lesson")
    }
    return [by_qid[qid] for qid in sitting.qids if qid in by_qid]


def newest_answers(sitting: ExamSitting) -> dict[str, ExamAnswer]:
    newest: dict[str, ExamAnswer] = {}
    for answer in sitting.answers.order_by("created_at", "pk"):
        newest[answer.qid] = answer
    return newest


def save_answer(sitting: ExamSitting, question: Question, form) -> ExamAnswer:
    """Grade and keep one answer; raises AnswerError (bad input, nothing saved) or
    ExamClosed."""
    if sitting.finished_at is not None:
        raise ExamClosed("This sitting has finished; its answers can no longer change.")
    deadline = closes_at(sitting)
    if deadline is not None and timezone.now() > deadline + GRACE:
        finish(sitting)
        raise ExamClosed(
            f"Time is up: the sitting closed at {timezone.localtime(deadline):%H:%M}. "
            "The answers you saved before then count."
        )
    if question.qid not in sitting.qids:
        raise AnswerError("This question is not part of your sitting.")
    answer = parse_answer(question.spec, form)
    result = grade(question.spec, answer)
    return ExamAnswer.objects.create(
        sitting=sitting,
        question=question,
        qid=question.qid,
        content_hash=question.content_hash,
        answer=answer,
        score=result.score,
        correct=result.correct,
    )


def finish(sitting: ExamSitting) -> ExamSitting:
    """Close the sitting and fix its score: the mean of each drawn question's newest
    answer, unanswered questions counting 0."""
    with transaction.atomic():
        locked = ExamSitting.objects.select_for_update().get(pk=sitting.pk)
        if locked.finished_at is None:
            answers = newest_answers(locked)
            total = sum(answers[qid].score for qid in locked.qids if qid in answers)
            locked.score = total / len(locked.qids) if locked.qids else 0.0
            locked.finished_at = timezone.now()
            locked.save(update_fields=["score", "finished_at"])
    sitting.refresh_from_db()
    return sitting


@dataclass(frozen=True)
class ExamResult:
    """A student's exam figure for the gradebook: their best finished sitting."""

    score: float
    sittings: int


def best_results(user_ids: list[int]) -> dict[int, ExamResult]:
    results: dict[int, ExamResult] = {}
    finished = ExamSitting.objects.filter(user_id__in=user_ids, finished_at__isnull=False)
    for user_id, score in finished.values_list("user_id", "score"):
        best = results.get(user_id)
        score = score or 0.0
        if best is None:
            results[user_id] = ExamResult(score, 1)
        else:
            results[user_id] = ExamResult(max(best.score, score), best.sittings + 1)
    return results
