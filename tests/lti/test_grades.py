"""Assignment and Grade Services: a student's quiz score reaches the platform's line
item through the platform's own token endpoint, never holding up their submit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.models import Attempt, Classroom, Question
from courseware.quizzes.scores import lesson_scores
from labs.models import LabRun
from labs.signals import run_finished
from lti.models import GradeLink
from tests.courseware.quiz_helpers import correct_form, wrong_form

from .conftest import launch
from .platform import INSTRUCTOR

LESSON = "hypervisor-types"


@pytest.fixture
def lms(course, registration, platform):
    return platform


def first_question(slug: str) -> Question:
    return Question.objects.active().filter(quiz__lesson__slug=slug).order_by("order").first()


def submit(client: Client, question: Question, form: dict):
    url = reverse("courseware:question_submit", args=[question.quiz.lesson.slug, question.qid])
    return client.post(url, form)


def test_a_submitted_answer_sends_the_lesson_score_with_a_bearer_token(
    lms, django_capture_on_commit_callbacks
):
    client = Client()
    launch(client, lms)
    link = GradeLink.objects.get()
    question = first_question(LESSON)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, question, correct_form(question))
    assert response.status_code == 302  # back to the quiz, as without LTI

    # First the token: our signed client assertion, checked by the platform against our
    # JWKS (platform.py), exchanged for a bearer token with the score scope.
    tokens = lms.recorded("/token")
    assert len(tokens) == 1
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in tokens[0].form()["scope"]
    issued = next(iter(lms.issued_tokens))
    # Then the score, to the line item the launch named, with that token.
    [score] = lms.recorded("/lineitem/scores")
    assert score.path == "/courses/7/lineitems/1/lineitem/scores"
    assert score.headers["Authorization"] == f"Bearer {issued}"
    assert score.headers["Content-Type"] == "application/vnd.ims.lis.v1.score+json"
    payload = score.json()
    user = link.account.user
    expected = lesson_scores([user.pk], [link.lesson_id])[(user.pk, link.lesson_id)]
    assert expected.score > 0
    assert payload["userId"] == "student-42"
    assert payload["scoreMaximum"] == 100
    assert payload["scoreGiven"] == round(expected.score * 100, 2)
    assert payload["activityProgress"] == "InProgress"  # one question of several answered
    assert payload["gradingProgress"] == "FullyGraded"
    assert payload["timestamp"].endswith("+00:00")
    link.refresh_from_db()
    assert link.last_score == expected.score and link.failures == 0 and link.last_sent_at


def test_an_unchanged_score_is_not_sent_again(lms, django_capture_on_commit_callbacks):
    client = Client()
    launch(client, lms)
    question = first_question(LESSON)
    with django_capture_on_commit_callbacks(execute=True):
        submit(client, question, wrong_form(question))
    sent = len(lms.recorded("/lineitem/scores"))
    assert sent == 1 and lms.recorded("/lineitem/scores")[0].json()["scoreGiven"] == 0
    # A second launch of the same link finds work done and queues a send, which sees
    # the same score as accepted before and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        launch(Client(), lms)
    assert len(lms.recorded("/lineitem/scores")) == sent


def test_the_platform_being_down_never_breaks_the_submit_and_is_shown_to_instructors(
    lms, django_capture_on_commit_callbacks
):
    client = Client()
    launch(client, lms)
    teacher = Client()
    launch(teacher, lms, sub="teacher-1", roles=[INSTRUCTOR])
    lms.score_status = 503
    question = first_question(LESSON)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, question, correct_form(question))
    assert response.status_code == 302  # back to the quiz, as without LTI
    assert Attempt.objects.filter(question=question, correct=True).count() == 1
    link = GradeLink.objects.get()
    assert link.failures == 1 and "HTTP 503" in link.last_error and link.last_sent_at is None

    page = teacher.get(reverse("lti:class", args=[link.classroom_id])).content.decode()
    assert "Not accepted" in page and "HTTP 503" in page
    assert "Send the 1 failed score again" in page

    lms.score_status = 200
    response = teacher.post(reverse("lti:class_resend", args=[link.classroom_id]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.failures == 0 and link.last_error == "" and link.last_score > 0
    assert lms.recorded("/lineitem/scores")[-1].json()["scoreGiven"] > 0


def test_a_student_cannot_see_or_resend_a_class_lms_page(lms, student_client):
    launch(Client(), lms, sub="teacher-1", roles=[INSTRUCTOR])
    classroom_id = Classroom.objects.get().pk
    assert student_client.get(reverse("lti:class", args=[classroom_id])).status_code == 403
    response = student_client.post(reverse("lti:class_resend", args=[classroom_id]))
    assert response.status_code == 403


def test_a_finished_run_sends_the_score_its_prediction_now_has(
    lms, django_capture_on_commit_callbacks
):
    """Predict, then measure: the prediction scores 0 until the lab runs; the run's end
    re-sends the lesson's score with the prediction scored."""
    client = Client()
    launch(client, lms, target="quiz/what-is-virtualization", lineitem=2)
    question = Question.objects.get(qid="wv-predict-boot-race")
    with django_capture_on_commit_callbacks(execute=True):
        submit(client, question, {"value": "90"})
    before = lms.recorded("/lineitems/2/lineitem/scores")[-1].json()["scoreGiven"]
    assert before == 0

    user = GradeLink.objects.get().account.user
    started = timezone.now() + timedelta(seconds=1)
    run = LabRun.objects.create(
        user=user,
        lab="boot-race",
        status=LabRun.Status.SUCCEEDED,
        results={"samples": [], "summary": {"vm_over_container_median": 93.0}},
        created_at=started,
        finished_at=started + timedelta(seconds=30),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_finished.send(LabRun, run=run)
    after = lms.recorded("/lineitems/2/lineitem/scores")[-1].json()
    questions = Question.objects.active().filter(quiz__lesson__slug="what-is-virtualization")
    assert after["scoreGiven"] == round(100 / questions.count(), 2)  # one of n, fully right
