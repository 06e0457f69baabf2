"""Writes for quizzes: submitting an attempt, and the limits that may refuse it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ..models import Attempt, Question, Quiz
from .grading import AnswerError, Grade, is_prediction
from .predictions import measurement_of, measurements_for
from .signals import quiz_answered
from .types import grade, parse_answer


class SubmissionRejected(Exception):
    """The submission breaks a limit; nothing was recorded. The message says why."""


def submission_block(*, question: Question, attempts: Sequence[Attempt], now=None) -> str | None:
    """Why a new attempt would be refused right now, or None when it is allowed."""
    quiz = question.quiz
    if is_prediction(question.spec) and attempts:
        return "You have made your prediction. It stays as it is, so it can be compared with what you measure."
    if any(a.correct for a in attempts):
        return "You have already answered this question correctly."
    if quiz.max_attempts and len(attempts) >= quiz.max_attempts:
        plural = "attempt" if quiz.max_attempts == 1 else "attempts"
        return f"You have used all {quiz.max_attempts} {plural} for this question."
    if attempts and quiz.min_seconds_between:
        elapsed = ((now or timezone.now()) - attempts[-1].created_at).total_seconds()
        wait = math.ceil(quiz.min_seconds_between - elapsed)
        if wait > 0:
            unit = "second" if wait == 1 else "seconds"
            return f"Please wait {wait} more {unit} before trying again."
    return None


def answer_shown_before(question: Question, attempts: Sequence[Attempt]) -> bool:
    """Whether the student has already seen this question's answer. Only a quiz that
    shows answers after each submission lets them try again after that; with
    ``after_last`` the answer appears once the question is closed."""
    return bool(attempts) and question.quiz.show_answers == Quiz.ShowAnswers.AFTER_EACH


def attempt_submit(*, user, question: Question, form: Mapping[str, Sequence[str]]) -> Attempt:
    """Grade ``form`` and record it; raises SubmissionRejected or AnswerError (nothing saved)."""
    with transaction.atomic():
        # Serialise one student's submissions so two quick clicks cannot both slip under
        # the limits (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions do it).
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        attempts = list(
            Attempt.objects.filter(user=user, question=question).order_by("created_at", "pk")
        )
        if reason := submission_block(question=question, attempts=attempts):
            raise SubmissionRejected(reason)
        answer = parse_answer(question.spec, form)  # AnswerError propagates
        # A prediction made now can only be scored by a run started later.
        measurement = measurement_of(
            question, user.pk, measurements_for([user.pk], [question]), predicted_at=timezone.now()
        )
        result = grade(question.spec, answer, measured=measurement.value if measurement else None)
        practice = answer_shown_before(question, attempts)
        attempt = attempt_record(
            user=user, question=question, answer=answer, result=result, practice=practice
        )
        # After the commit, and robustly: a listener (the LTI grade passback) must never
        # fail or slow a student's submit.
        lesson_id = question.quiz.lesson_id
        transaction.on_commit(
            lambda: quiz_answered.send_robust(Attempt, user_id=user.pk, lesson_id=lesson_id)
        )
        return attempt


def attempt_record(
    *, user, question: Question, answer: dict, result: Grade, practice: bool = False, **extra
) -> Attempt:
    """Store a graded answer with the question version it answered (no limits checked:
    ``attempt_submit`` checks them; tests seed data sets with this)."""
    return Attempt.objects.create(
        user=user,
        question=question,
        qid=question.qid,
        content_hash=question.content_hash,
        answer=answer,
        score=result.score,
        correct=result.correct,
        practice=practice,
        **extra,
    )


__all__ = ["AnswerError", "SubmissionRejected", "attempt_submit", "submission_block"]
