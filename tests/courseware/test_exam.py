"""The course exam: what a sitting draws, saving and changing answers, no answers shown
before the end, the score, the time limit, privacy, the gradebook column, settings."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from courseware.models import Classroom, ExamAnswer, ExamSitting, Question
from courseware.quizzes import exam
from courseware.quizzes.grading import is_prediction
from tests.courseware.quiz_helpers import correct_form, wrong_form


def sitting_url(sitting) -> str:
    return reverse("courseware:exam_sitting", args=[sitting.pk])


def answer(client, sitting, qid, form):
    return client.post(reverse("courseware:exam_answer", args=[sitting.pk, qid]), form)


def start(client) -> ExamSitting:
    response = client.post(reverse("courseware:exam_start"))
    assert response.status_code == 302
    return ExamSitting.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def test_a_sitting_draws_across_every_lesson_and_no_predictions(course):
    qids = exam.draw(25, random.Random(7))
    questions = {q.qid: q for q in Question.objects.filter(qid__in=qids)}
    assert len(qids) == 25 == len(set(qids))
    assert not any(is_prediction(questions[qid].spec) for qid in qids)
    lessons_with_questions = set(exam.candidate_questions())
    drawn_lessons = {questions[qid].quiz.lesson_id for qid in qids}
    assert drawn_lessons == lessons_with_questions  # 17 lessons, so each at least once
    # In course order: the lessons' positions never go backwards.
    order = list(exam.candidate_questions())  # lesson ids in outline order
    positions = [order.index(questions[qid].quiz.lesson_id) for qid in qids]
    assert positions == sorted(positions)


def test_answers_are_saved_changed_and_scored_only_at_the_end(course, student_client, student):
    sitting = start(student_client)
    assert start(student_client) == sitting  # one open sitting at a time
    first, second, third = (Question.objects.get(qid=qid) for qid in sitting.qids[:3])

    page = student_client.get(sitting_url(sitting)).content.decode()
    for question in (first, second):
        explanation = question.rendered.get("explanation")
        if explanation:
            assert explanation not in page  # nothing revealed while the sitting is open
    assert "verdict" not in page

    answer(student_client, sitting, first.qid, wrong_form(first))
    answer(student_client, sitting, first.qid, correct_form(first))  # changed: newest counts
    answer(student_client, sitting, second.qid, wrong_form(second))
    assert ExamAnswer.objects.filter(sitting=sitting).count() == 3

    refused = answer(student_client, sitting, third.qid, {})
    assert refused.status_code == 400 and "Nothing was saved" in refused.content.decode()
    assert not ExamAnswer.objects.filter(qid=third.qid).exists()

    student_client.post(reverse("courseware:exam_finish", args=[sitting.pk]))
    sitting.refresh_from_db()
    assert sitting.finished_at is not None
    assert sitting.score == pytest.approx(1 / len(sitting.qids))  # one right, rest 0
    page = student_client.get(sitting_url(sitting)).content.decode()
    assert "Your exam: 4 %" in page and "Not answered" in page
    closed = answer(student_client, sitting, third.qid, correct_form(third))
    assert closed.status_code == 302
    assert not ExamAnswer.objects.filter(qid=third.qid).exists()


def test_the_time_limit_closes_the_sitting(course, student_client):
    course.exam_minutes = 10
    course.save()
    sitting = start(student_client)
    question = Question.objects.get(qid=sitting.qids[0])
    answer(student_client, sitting, question.qid, correct_form(question))
    ExamSitting.objects.filter(pk=sitting.pk).update(
        started_at=timezone.now() - timedelta(minutes=11)
    )
    late = Question.objects.get(qid=sitting.qids[1])
    page = student_client.post(
        reverse("courseware:exam_answer", args=[sitting.pk, late.qid]),
        correct_form(late),
        follow=True,
    ).content.decode()
    assert "Time is up" in page
    sitting.refresh_from_db()
    assert sitting.finished_at is not None
    assert sitting.score == pytest.approx(1 / len(sitting.qids))  # the one saved in time
    assert not ExamAnswer.objects.filter(qid=late.qid).exists()


def test_a_sitting_is_its_students_only(course, student_client, instructor_client, client):
    sitting = start(student_client)
    question = Question.objects.get(qid=sitting.qids[0])
    assert instructor_client.get(sitting_url(sitting)).status_code == 404
    assert (
        answer(instructor_client, sitting, question.qid, correct_form(question)).status_code == 404
    )
    assert client.get(reverse("courseware:exam")).status_code == 302  # sign in first
    assert not ExamAnswer.objects.exists()


def test_the_gradebook_shows_the_best_finished_sitting(
    course, student_client, student, instructor_client
):
    instructor_client.post(reverse("courseware:class_new"), {"name": "Exam class"})
    classroom = Classroom.objects.get()
    student_client.post(reverse("courseware:class_join"), {"code": classroom.join_code})
    for right in (1, 2):
        sitting = start(student_client)
        for qid in sitting.qids[:right]:
            question = Question.objects.get(qid=qid)
            answer(student_client, sitting, qid, correct_form(question))
        student_client.post(reverse("courseware:exam_finish", args=[sitting.pk]))
    page = instructor_client.get(reverse("courseware:class_detail", args=[classroom.pk]))
    assert "8 %" in page.content.decode() and "best of 2" in page.content.decode()
    csv = instructor_client.get(reverse("courseware:gradebook_csv", args=[classroom.pk]))
    header, row = csv.content.decode().splitlines()[:2]
    assert header.split(",")[4] == "exam best score" and row.split(",")[4] == "0.080"


def test_instructors_set_the_exam_and_bad_values_change_nothing(course, instructor_client):
    url = reverse("courseware:author_exam")
    refused = instructor_client.post(url, {"exam_questions": 0, "exam_minutes": 5})
    assert refused.status_code == 200 and "Between 1 and 100" in refused.content.decode()
    course.refresh_from_db()
    assert (course.exam_questions, course.exam_minutes) == (25, 0)
    instructor_client.post(url, {"exam_questions": 10, "exam_minutes": 30})
    course.refresh_from_db()
    assert (course.exam_questions, course.exam_minutes) == (10, 30)


def test_students_cannot_change_the_exam_settings(course, student_client):
    response = student_client.post(
        reverse("courseware:author_exam"), {"exam_questions": 1, "exam_minutes": 1}
    )
    assert response.status_code == 403
    course.refresh_from_db()
    assert course.exam_questions == 25


def test_the_course_page_leads_a_student_to_the_exam(course, student_client):
    page = student_client.get(reverse("courseware:home")).content.decode()
    assert f'href="{reverse("courseware:exam")}"' in page
