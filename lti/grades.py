"""Assignment and Grade Services: a lesson's quiz score back to the platform.

A ``GradeLink`` is written when a student launches a lesson or quiz link that carries
a line item. When their score may have changed — an answer submitted
(``courseware.quizzes.signals.quiz_answered``) or a lab run finished that can score a
predict-then-measure question (``labs.signals.run_finished``) — a task is queued for
each of their links to that lesson (``receivers.py``). The task, not the request,
talks to the platform: a student's submit never waits for an LMS or fails with it.

The task computes the score when it runs, not when it was queued, so tasks that run
late or out of order still send the current score. A failure is recorded on the link
(the class's LTI page shows it to its instructors) and the task is queued again
later, a few times, then left for an instructor's "Send again".
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.tasks import task
from django.utils import timezone
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector

from courseware.quizzes.scores import lesson_scores

from .http import platform_session
from .keys import ensure_signing_key
from .models import GradeLink

log = logging.getLogger(__name__)
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MAXIMUM = 100
# Waits before the automatic retries of a failed send; after the last, an instructor
# sends again from the class's LTI page.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))


def queue_for(user_id: int, lesson_ids) -> int:
    """Queue a send for each of this student's links to these lessons, once the
    current transaction commits (the task must see the new attempt). Returns how many."""
    links = list(
        GradeLink.objects.filter(
            account__user_id=user_id, lesson_id__in=list(lesson_ids)
        ).values_list("pk", flat=True)
    )
    for link_id in links:
        transaction.on_commit(lambda link_id=link_id: send_grade.enqueue(link_id))
    return len(links)


def score_for(link: GradeLink) -> tuple[float, str]:
    """(score as a fraction, activityProgress) of the link's student in its lesson."""
    found = lesson_scores([link.account.user_id], [link.lesson_id]).get(
        (link.account.user_id, link.lesson_id)
    )
    if found is None or not found.questions:
        return 0.0, "Initialized"
    if found.answered == 0:
        return found.score, "Initialized"
    progress = "Completed" if found.answered >= found.questions else "InProgress"
    return found.score, progress


def grade_payload(link: GradeLink, fraction: float, progress: str) -> Grade:
    timestamp = timezone.now().isoformat(timespec="milliseconds")
    return (
        Grade()
        .set_user_id(link.account.sub)
        .set_score_given(round(fraction * SCORE_MAXIMUM, 2))
        .set_score_maximum(SCORE_MAXIMUM)
        .set_timestamp(timestamp)
        .set_activity_progress(progress)
        # The score stands as computed now; a prediction awaiting its run counts 0
        # until the run, and a later send carries the new score.
        .set_grading_progress("FullyGraded")
    )


def send_now(link: GradeLink, *, force: bool = False) -> str:
    """Send the link's current score; returns "sent", "unchanged" or "failed"."""
    fraction, progress = score_for(link)
    if not force and link.failures == 0 and link.last_score == fraction and link.last_sent_at:
        return "unchanged"
    ensure_signing_key()  # the token request is signed with it
    registration = link.registration.to_registration()
    service = AssignmentsGradesService(
        ServiceConnector(registration, platform_session()),
        {"scope": link.scopes, "lineitem": link.lineitem_url},
    )
    try:
        service.put_grade(grade_payload(link, fraction, progress))
    except Exception as error:  # the platform's failure, whatever it was, is recorded
        _record_failure(link, error)
        return "failed"
    GradeLink.objects.filter(pk=link.pk).update(
        last_score=fraction, last_sent_at=timezone.now(), failures=0, last_error=""
    )
    return "sent"


def _record_failure(link: GradeLink, error: Exception) -> None:
    text = _describe(error)
    failures = link.failures + 1
    GradeLink.objects.filter(pk=link.pk).update(
        last_error=text[:2000], last_error_at=timezone.now(), failures=failures
    )
    log.warning("LTI grade for %s not sent (%d in a row): %s", link, failures, text)
    # A backend that cannot defer (the tests' immediate one) gets no automatic retry.
    if failures <= len(RETRY_DELAYS) and send_grade.get_backend().supports_defer:
        send_grade.using(run_after=timezone.now() + RETRY_DELAYS[failures - 1]).enqueue(link.pk)


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None):
        body = (getattr(response, "text", "") or "")[:300]
        return f"The LMS answered HTTP {response.status_code}: {body}".strip()
    return f"{error.__class__.__name__}: {error}"


@task(queue_name="default")
def send_grade(link_id: int, force: bool = False) -> str:
    link = GradeLink.objects.filter(pk=link_id).select_related("account", "registration").first()
    if link is None:
        return "gone"
    return send_now(link, force=force)
