"""Score changes → queued grade sends (lti/grades.py). Connected in ``LtiConfig.ready``."""

from __future__ import annotations

from django.dispatch import receiver

from courseware.quizzes.predictions import predict_questions
from courseware.quizzes.signals import quiz_answered
from labs.signals import run_finished

from .grades import queue_for


@receiver(quiz_answered, dispatch_uid="lti-quiz-answered")
def _quiz_answered(sender, *, user_id: int, lesson_id: int, **kwargs) -> None:
    queue_for(user_id, [lesson_id])


@receiver(run_finished, dispatch_uid="lti-run-finished")
def _run_finished(sender, *, run, **kwargs) -> None:
    if run.user_id is None:
        return
    lessons = {lesson.pk for lesson, _ in predict_questions(run.lab)}
    if lessons:
        queue_for(run.user_id, lessons)
