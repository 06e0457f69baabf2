"""Predict, then measure: a prediction scored against the student's own lab runs."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from courseware.models import Attempt, Lesson, Question
from courseware.quizzes import predictions
from courseware.quizzes.scores import lesson_scores
from labs.models import LabRun

from .quiz_helpers import HTMX

QID = "wv-predict-boot-race"  # boot-race, vm_over_container_median, ±50 % relative
KEY = "vm_over_container_median"


@pytest.fixture
def question(course):
    return Question.objects.select_related("quiz__lesson").get(qid=QID)


def url(question):
    return reverse("courseware:question_submit", args=[question.quiz.lesson.slug, question.qid])


def page(client, question) -> str:
    body = client.get(reverse("courseware:quiz", args=[question.quiz.lesson.slug])).content.decode()
    return body.split(f'id="q-{question.qid}"')[1].split('class="question-slot"')[0]


def run(
    user, value, *, minutes_ago=0, status=LabRun.Status.SUCCEEDED, lab="boot-race", summary=None
):
    """A run submitted ``minutes_ago`` (negative: in the future) that took 30 s."""
    submitted = timezone.now() - timedelta(minutes=minutes_ago)
    return LabRun.objects.create(
        user=user,
        lab=lab,
        status=status,
        results={"samples": [], "summary": summary if summary is not None else {KEY: value}},
        created_at=submitted,
        finished_at=submitted + timedelta(seconds=30),
    )


def test_before_any_run_the_question_says_what_to_run(student_client, question):
    html = page(student_client, question)
    assert "Predict first. Then run the" in html
    assert reverse("labs:detail", args=["boot-race"]) in html
    assert "Save my prediction" in html and "×" in html  # units shown


def test_unavailable_lab_is_said_plainly(student_client, question, monkeypatch):
    monkeypatch.setattr(predictions, "get_lab", lambda slug: None)
    html = page(student_client, question)
    assert "lab that measures this is not available on this server yet" in html
    assert reverse("labs:detail", args=["boot-race"]) not in html


def test_prediction_is_pending_then_scored_against_the_first_run_after_it(
    student_client, student, question
):
    body = student_client.post(url(question), {"value": "60"}, **HTMX).content.decode()
    assert "Prediction saved: 60 ×. It is scored by the first run of" in body
    mine = student_client.get(reverse("courseware:my_attempts")).content.decode()
    assert "prediction, waiting for a measurement" in mine
    assert 'href="/labs/boot-race/">the lab</a> you start from now on.' in body
    attempt = Attempt.objects.get()
    assert attempt.score is None and attempt.answer["value"] == 60.0
    lesson = question.quiz.lesson
    assert lesson_scores([student.pk], [lesson.pk])[(student.pk, lesson.pk)].score == 0.0

    # A prediction is made once.
    again = student_client.post(url(question), {"value": "90"}, **HTMX).content.decode()
    assert "You have made your prediction." in again
    assert Attempt.objects.count() == 1

    # Runs that failed, belong to someone else, lack the key or started before the
    # prediction do not count.
    run(student, 100, status=LabRun.Status.FAILED, minutes_ago=-1)
    run(None, 100, minutes_ago=-1)
    run(student, None, summary={"other": 1}, minutes_ago=-1)
    run(student, 60, minutes_ago=10)
    assert "Your measurement" not in page(student_client, question)

    first = run(student, 100, minutes_ago=-2)  # 60 is within 50 % of 100
    html = page(student_client, question)
    assert f"run {first.pk}</a>: <strong>100 ×</strong>" in html
    assert (
        "Your prediction: <strong>60 ×</strong> · your measurement: <strong>100 ×</strong> · counted as correct from 50 to 150"
        in html
    )
    assert "Correct." in html
    # The attempt lists show the prediction as scored now, not as still waiting.
    mine = student_client.get(reverse("courseware:my_attempts")).content.decode()
    assert "waiting for a measurement" not in mine and "<td>correct</td>" in mine
    scores = lesson_scores([student.pk], [lesson.pk])[(student.pk, lesson.pk)]
    assert scores.score == pytest.approx(1 / Question.objects.filter(quiz__lesson=lesson).count())

    # Running the lab again cannot change the score: the first run after it counts.
    run(student, 200, minutes_ago=-5)
    html = page(student_client, question)
    assert "your measurement: <strong>100 ×</strong>" in html and "Correct." in html
    # …and the stored attempt was never rewritten.
    assert Attempt.objects.get().score is None


def test_a_prediction_made_after_a_run_waits_for_the_next_run(student_client, student, question):
    run(student, 80, minutes_ago=5)
    # The earlier measurement is not shown next to an open prediction box.
    assert "Your measurement" not in page(student_client, question)
    student_client.post(url(question), {"value": "100"}, **HTMX)
    attempt = Attempt.objects.get()
    assert attempt.score is None and not attempt.correct
    assert "Your measurement" not in page(student_client, question)
    later = run(student, 90, minutes_ago=-1)
    assert f"run {later.pk}</a>: <strong>90 ×</strong>" in page(student_client, question)


def test_a_run_under_way_when_predicting_does_not_score_it(student_client, student, question):
    """A running lab already shows its samples: predicting then would be reading them."""
    running = LabRun.objects.create(
        user=student, lab="boot-race", status=LabRun.Status.RUNNING, created_at=timezone.now()
    )
    student_client.post(url(question), {"value": "80"}, **HTMX)
    LabRun.objects.filter(pk=running.pk).update(
        status=LabRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        results={"samples": [], "summary": {KEY: 80}},
    )
    assert "Your measurement" not in page(student_client, question)
    later = run(student, 90, minutes_ago=-1)
    assert f"run {later.pk}</a>: <strong>90 ×</strong>" in page(student_client, question)


def test_other_students_runs_are_not_mine(student_client, instructor, question):
    run(instructor, 100)
    assert "Your measurement" not in page(student_client, question)
    assert Lesson.objects.filter(slug=question.quiz.lesson.slug).exists()
