"""Predict, then measure: a prediction scored against the student's own lab runs."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
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
    assert "Save my prediction" in html
    # The units end the field, spelled out: a lone "×" there looked like a button.
    assert '<span class="units" aria-hidden="true">times</span>' in html
    assert "Your prediction in times</label>" in html


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


def test_saving_a_prediction_keeps_the_explanation_until_the_students_own_run(
    student_client, student, question
):
    explanation = "On our test machine a VM took roughly 2.3 s"
    assert explanation in question.rendered["explanation"]
    saved = student_client.post(url(question), {"value": "60"}, **HTMX).content.decode()
    assert "Prediction saved: 60 ×" in saved
    assert explanation not in saved and "answer-reveal" not in saved
    assert explanation not in page(student_client, question)
    # Someone else's run, or the student's own from before the prediction, reveals nothing.
    run(None, 100, minutes_ago=-1)
    run(student, 100, minutes_ago=10)
    assert explanation not in page(student_client, question)
    run(student, 100, minutes_ago=-1)
    html = page(student_client, question)
    assert explanation in html and "your measurement: <strong>100 ×</strong>" in html


def lab_page(client) -> str:
    return client.get(reverse("labs:detail", args=["boot-race"])).content.decode()


def predict_box(client) -> str:
    """This question's line in the lab page's "Predict first" box (one per question)."""
    box = lab_page(client).split('id="predict-title"')[1].split("</aside>")[0]
    (line,) = [item for item in box.split("<li>") if f"#q-{QID}" in item]
    return line


def test_the_lab_page_says_what_was_predicted_and_when_then_the_score(
    student_client, student, question
):
    box = predict_box(student_client)
    assert "Predict:" in box and "Not predicted yet." in box
    assert f'href="{question.quiz.lesson.get_absolute_url()}#q-{QID}"' in box

    student_client.post(url(question), {"value": "60"}, **HTMX)
    made = timezone.localtime(Attempt.objects.get().created_at)
    box = predict_box(student_client)
    assert "Not predicted yet." not in box
    assert "Your prediction: <strong>60 ×</strong>, saved" in box
    assert f'<time datetime="{made.isoformat()}">' in box
    assert "The next run you start scores it." in box

    scoring = run(student, 100, minutes_ago=-1)
    box = predict_box(student_client)
    assert f'Measured <strong>100 ×</strong> in <a href="{scoring.get_absolute_url()}">' in box
    assert "scored 100 %" in box
    # Another student sees their own box, not this one.
    other = Client()
    other.force_login(get_user_model().objects.create_user("other"))
    assert "Not predicted yet." in predict_box(other)


def run_panel(client, lab_run) -> str:
    return client.get(lab_run.get_absolute_url()).content.decode()


def test_the_run_that_scores_a_prediction_says_predicted_measured_scored(
    student_client, student, instructor, question
):
    earlier = run(student, 80, minutes_ago=5)
    student_client.post(url(question), {"value": "60"}, **HTMX)
    made = Attempt.objects.get().created_at
    running = LabRun.objects.create(
        user=student,
        lab="boot-race",
        status=LabRun.Status.RUNNING,
        created_at=made + timedelta(seconds=1),
    )
    assert "You predicted <strong>60 ×</strong>: this run scores it when it finishes." in run_panel(
        student_client, running
    )
    # The run finishes: its page (the panel the poll fetches included) shows the score.
    LabRun.objects.filter(pk=running.pk).update(
        status=LabRun.Status.SUCCEEDED,
        finished_at=made + timedelta(seconds=30),
        results={"samples": [], "summary": {KEY: 200}},
    )
    expected = (
        "You predicted <strong>60 ×</strong>, measured <strong>200 ×</strong>, "
        "scored <strong>0 %</strong>"
    )
    assert expected in run_panel(student_client, running)
    panel = student_client.get(running.get_absolute_url(), **HTMX).content.decode()
    assert expected in panel and "counted as correct from 100 to 300" in panel
    # Neither the run before the prediction nor a later one scores it.
    later = run(student, 100, minutes_ago=-5)
    for other in (earlier, later):
        assert "You predicted" not in run_panel(student_client, other)
    # An instructor opening the student's run sees the run, not a "you predicted".
    assert "You predicted" not in run_panel(Client(), running)
    superuser = get_user_model().objects.create_superuser("root", password="x")
    admin = Client()
    admin.force_login(superuser)
    html = run_panel(admin, running)
    assert f"Run #{running.pk}" in html and "You predicted" not in html


def test_the_outlines_one_student_scores_match_the_class_scores(student_client, student, question):
    """The home page reads only the questions a student answered
    (``student_lesson_scores``); its scores must be the gradebook's, to the last bit:
    right and wrong answers, practice after the answer was shown, a prediction scored by
    a later run and another still waiting, in several lessons."""
    from courseware.quizzes.grading import is_prediction
    from courseware.quizzes.scores import student_lesson_scores

    from .quiz_helpers import correct_form, record, wrong_form

    other = get_user_model().objects.create_user("other")
    lessons = list(Lesson.objects.published())
    active = list(Question.objects.active().select_related("quiz").order_by("pk"))
    plain = [
        q
        for q in active
        if q.spec["type"] in {"single", "multiple", "true_false", "numeric"}
        and not is_prediction(q.spec)
    ]
    for n, q in enumerate(plain[::7]):
        form = correct_form(q) if n % 3 else wrong_form(q)
        record(student, q, form, minutes_ago=30 - n * 0.1)
        if n % 4 == 0:
            record(student, q, correct_form(q), minutes_ago=1)  # a later try
        record(other, q, correct_form(q), minutes_ago=5)  # never the student's
    student_client.post(url(question), {"value": "60"}, **HTMX)
    run(student, 100, minutes_ago=-2)  # scores the prediction
    waiting = next(q for q in active if is_prediction(q.spec) and q.pk != question.pk)
    record(student, waiting, correct_form(waiting), minutes_ago=0)  # no run after it yet

    ids = [lesson.pk for lesson in lessons]
    everyone = lesson_scores([student.pk], ids)
    mine = student_lesson_scores(student.pk, ids)
    assert mine == {lesson_id: score for (_, lesson_id), score in everyone.items()}
    assert sum(score.answered for score in mine.values()) == len(plain[::7]) + 2
    assert any(0 < score.score < 1 for score in mine.values())
    # A student with no attempt at all: every quiz lesson, none answered.
    nobody = get_user_model().objects.create_user("nobody")
    empty = student_lesson_scores(nobody.pk, ids)
    assert set(empty) == set(mine) and all(s.answered == 0 == s.score for s in empty.values())
