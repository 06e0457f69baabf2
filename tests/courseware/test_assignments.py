"""Assignments (issue 11): instructors assign lessons, quizzes and labs with due times
in their time zone; students see what is due; the gradebook counts late and missing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.classes import assignments as work
from courseware.classes.gradebook import build_gradebook, gradebook_csv_text
from courseware.classes.services import class_create
from courseware.models import (
    Assignment,
    Attempt,
    Classroom,
    InstructorSettings,
    Lesson,
    LessonProgress,
    Membership,
    Question,
)
from labs.experiments import REGISTRY
from labs.models import LabRun
from tests.conftest import PASSWORD
from virtlab.roles import instructors_group

LAB = next(iter(REGISTRY))
DUE = datetime(2030, 1, 15, 16, 0, tzinfo=UTC)  # 17:00 in Paris (winter), 11:00 in New York


@pytest.fixture
def lessons(course):
    return list(Lesson.objects.published().in_outline_order())


@pytest.fixture
def classroom(instructor, student, course):
    classroom = class_create(instructor=instructor, name="Virt A")
    Membership.objects.create(classroom=classroom, user=student)
    return classroom


def other_user(name: str, *, teaches: bool = False):
    user = get_user_model().objects.create_user(name, password=PASSWORD)
    if teaches:
        user.groups.add(instructors_group())
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assign(classroom, kind, *, lesson=None, lab="", due=DUE, required=False, by=None):
    return Assignment.objects.create(
        classroom=classroom, kind=kind, lesson=lesson, lab=lab, due_at=due, required=required,
        created_by=by,
    )  # fmt: skip


def form(work_value: str, day: str = "2030-01-15", at: str = "17:00", required: bool = False):
    data = {"work": work_value, "due_date": day, "due_time": at}
    if required:
        data["required"] = "on"
    return data


def list_url(classroom) -> str:
    return reverse("courseware:class_assignments", args=[classroom.pk])


# --- creating, editing, deleting, refusing ------------------------------------------------


def test_instructor_assigns_work_in_their_time_zone(
    instructor, instructor_client, classroom, lessons
):
    work.set_zone_name(instructor, "Europe/Paris")
    response = instructor_client.post(
        list_url(classroom), form(f"quiz:{lessons[1].slug}", required=True)
    )
    assert response.status_code == 302
    assignment = Assignment.objects.get()
    assert (assignment.kind, assignment.lesson, assignment.lab) == ("quiz", lessons[1], "")
    assert assignment.due_at == DUE  # 17:00 in Paris is 16:00 UTC in January
    assert assignment.required and assignment.created_by == instructor
    page = instructor_client.get(list_url(classroom)).content.decode()
    assert f"Quiz: {lessons[1].title}" in page
    assert "Tue 15 Jan 2030, 17:00 (Europe/Paris)" in page
    assert "required" in page
    # A lab and a lesson to read are assigned the same way.
    instructor_client.post(list_url(classroom), form(f"lab:{LAB}"))
    instructor_client.post(list_url(classroom), form(f"lesson:{lessons[0].slug}", "2030-01-16"))
    kinds = list(Assignment.objects.order_by("due_at", "pk").values_list("kind", "lab"))
    assert kinds == [("quiz", ""), ("lab", LAB), ("lesson", "")]


@pytest.mark.parametrize(
    "data, field, message",
    [
        (form("lesson:no-such-lesson"), "work", "Select a valid choice"),
        (form("lab:no-such-lab"), "work", "Select a valid choice"),
        (form("lesson:{slug}", day="2020-01-01"), "due_date", "already passed"),
        (form("lesson:{slug}", day="15/01/2030"), "due_date", "Enter a valid date"),
        (form("lesson:{slug}", at="25:00"), "due_time", "Enter a valid time"),
        # The clocks go forward at 02:00 in Paris on 31 March 2030: 02:30 never happens.
        (form("lesson:{slug}", day="2030-03-31", at="02:30"), "due_time", "does not exist"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_saved(
    instructor, instructor_client, classroom, lessons, data, field, message
):
    work.set_zone_name(instructor, "Europe/Paris")
    data = {**data, "work": data["work"].format(slug=lessons[0].slug)}
    response = instructor_client.post(list_url(classroom), data)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Assignment.objects.exists()


def test_the_same_work_twice_is_refused(instructor, instructor_client, classroom, lessons):
    assign(classroom, "lesson", lesson=lessons[0])
    response = instructor_client.post(list_url(classroom), form(f"lesson:{lessons[0].slug}"))
    assert response.status_code == 400
    assert "already has this work assigned" in response.content.decode()
    assert Assignment.objects.count() == 1
    # Its quiz is different work, and so is the same lesson in another class.
    assert (
        instructor_client.post(list_url(classroom), form(f"quiz:{lessons[0].slug}")).status_code
        == 302
    )
    other = class_create(instructor=instructor, name="Virt B")
    assert (
        instructor_client.post(list_url(other), form(f"lesson:{lessons[0].slug}")).status_code
        == 302
    )


def test_edit_changes_the_work_due_time_and_required(
    instructor, instructor_client, classroom, lessons
):
    work.set_zone_name(instructor, "America/New_York")
    assignment = assign(classroom, "lesson", lesson=lessons[0], by=instructor)
    url = reverse("courseware:class_assignment_edit", args=[classroom.pk, assignment.pk])
    page = instructor_client.get(url).content.decode()
    # The form opens on the assignment as the instructor reads it: 11:00 in New York.
    assert 'value="2030-01-15"' in page and 'value="11:00"' in page
    response = instructor_client.post(url, form(f"lab:{LAB}", "2030-02-01", "09:30", required=True))
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert (assignment.kind, assignment.lab, assignment.lesson) == ("lab", LAB, None)
    assert assignment.due_at == datetime(2030, 2, 1, 14, 30, tzinfo=UTC)
    assert assignment.required


def test_edit_keeps_a_past_due_time_but_refuses_moving_it_into_the_past(
    instructor_client, classroom, lessons
):
    past = timezone.now().replace(microsecond=0, second=0) - timedelta(days=2)
    assignment = assign(classroom, "lesson", lesson=lessons[0], due=past)
    url = reverse("courseware:class_assignment_edit", args=[classroom.pk, assignment.pk])
    same = form(f"lesson:{lessons[0].slug}", f"{past:%Y-%m-%d}", f"{past:%H:%M}", required=True)
    assert instructor_client.post(url, same).status_code == 302
    assignment.refresh_from_db()
    assert assignment.required and assignment.due_at == past
    earlier = past - timedelta(days=1)
    moved = form(f"lesson:{lessons[0].slug}", f"{earlier:%Y-%m-%d}", f"{earlier:%H:%M}")
    response = instructor_client.post(url, moved)
    assert response.status_code == 400 and "already passed" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.due_at == past and assignment.required


def test_delete(instructor_client, classroom, lessons):
    assignment = assign(classroom, "lesson", lesson=lessons[0])
    url = reverse("courseware:class_assignment_delete", args=[classroom.pk, assignment.pk])
    assert instructor_client.get(url).status_code == 405
    assert Assignment.objects.exists()
    assert instructor_client.post(url).status_code == 302
    assert not Assignment.objects.exists()


def test_students_and_other_instructors_cannot_manage_a_class_assignments(
    student_client, classroom, lessons
):
    assignment = assign(classroom, "lesson", lesson=lessons[0])
    edit = reverse("courseware:class_assignment_edit", args=[classroom.pk, assignment.pk])
    delete = reverse("courseware:class_assignment_delete", args=[classroom.pk, assignment.pk])
    stranger_user = other_user("other-teacher", teaches=True)
    stranger = client_for(stranger_user)
    for client, refused in ((student_client, 403), (stranger, 404)):
        assert client.get(list_url(classroom)).status_code == refused
        assert client.post(list_url(classroom), form(f"lab:{LAB}")).status_code == refused
        assert client.get(edit).status_code == refused
        assert client.post(edit, form(f"lab:{LAB}")).status_code == refused
        assert client.post(delete).status_code == refused
    assignment.refresh_from_db()
    assert (assignment.kind, assignment.lesson) == ("lesson", lessons[0])
    assert Assignment.objects.count() == 1
    assert Client().get(list_url(classroom)).status_code == 302  # to the login page
    # Another class's assignment is not reachable through this class's URLs either.
    theirs = class_create(instructor=stranger_user, name="Theirs")
    through_theirs = reverse("courseware:class_assignment_delete", args=[theirs.pk, assignment.pk])
    assert stranger.post(through_theirs).status_code == 404
    assert Assignment.objects.count() == 1


# --- time zones ----------------------------------------------------------------------------


def test_time_zone_setting(instructor, instructor_client, student_client):
    url = reverse("courseware:time_zone")
    assert work.zone_name_of(instructor) == "UTC"  # settings.TIME_ZONE until one is chosen
    assert instructor_client.get(url).status_code == 200
    response = instructor_client.post(url, {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not InstructorSettings.objects.exists()
    response = instructor_client.post(url, {"time_zone": "Asia/Tokyo", "next": "/classes/"})
    assert response.status_code == 302 and response["Location"] == "/classes/"
    assert work.zone_name_of(instructor) == "Asia/Tokyo"
    # An outside address as "next" is not followed.
    response = instructor_client.post(url, {"time_zone": "UTC", "next": "https://evil.example/"})
    assert response["Location"] == url
    assert student_client.post(url, {"time_zone": "Asia/Tokyo"}).status_code == 403


def test_students_see_due_times_in_the_class_zone_named(
    instructor, instructor_client, student_client, classroom, lessons
):
    work.set_zone_name(instructor, "Europe/Paris")  # created the class
    co_teacher = other_user("co-teacher", teaches=True)
    classroom.instructors.add(co_teacher)
    work.set_zone_name(co_teacher, "America/New_York")
    assign(classroom, "lesson", lesson=lessons[0], by=co_teacher)
    assert work.class_zone_name(classroom) == "Europe/Paris"
    home = student_client.get("/").content.decode()
    assert "due Tue 15 Jan 2030, 17:00 (Europe/Paris)" in home
    # Each instructor reads it in their own zone.
    assert "17:00 (Europe/Paris)" in instructor_client.get(list_url(classroom)).content.decode()
    theirs = client_for(co_teacher).get(list_url(classroom)).content.decode()
    assert "Tue 15 Jan 2030, 11:00 (America/New_York)" in theirs


# --- status --------------------------------------------------------------------------------


def at(hours: float) -> datetime:
    """A moment ``hours`` after the due time."""
    return DUE + timedelta(hours=hours)


def done_lesson(user, lesson, when):
    LessonProgress.objects.create(
        user=user, lesson=lesson, state=LessonProgress.State.DONE, completed_at=when
    )


def run_lab(user, when, status=LabRun.Status.SUCCEEDED):
    return LabRun.objects.create(
        user=user, lab=LAB, status=status, created_at=when - timedelta(minutes=5),
        started_at=when - timedelta(minutes=4), finished_at=when,
    )  # fmt: skip


def answer(user, question, when, *, score):
    return Attempt.objects.create(
        user=user, question=question, qid=question.qid, content_hash=question.content_hash,
        answer={}, score=score, correct=score == 1.0, created_at=when,
    )  # fmt: skip


def test_state_of_done_late_missing_open():
    assert work.state_of(DUE, at(-1), now=at(5)) == work.DONE
    assert work.state_of(DUE, DUE, now=at(5)) == work.DONE  # on the minute counts
    assert work.state_of(DUE, at(0.01), now=at(5)) == work.LATE
    assert work.state_of(DUE, None, now=at(0.01)) == work.MISSING
    assert work.state_of(DUE, None, now=at(-0.01)) == work.OPEN


def test_completion_times_per_kind(classroom, student, lessons, settings):
    quiz_lesson = lessons[1]
    questions = list(Question.objects.active().filter(quiz__lesson=quiz_lesson).order_by("order"))
    # Two right answers out of the quiz master it.
    settings.VIRTLAB_MASTERY_THRESHOLD = 2 / len(questions)
    read = assign(classroom, "lesson", lesson=lessons[0])
    quiz = assign(classroom, "quiz", lesson=quiz_lesson)
    lab = assign(classroom, "lab", lab=LAB)
    done_lesson(student, lessons[0], at(-2))
    answer(student, questions[0], at(-3), score=1.0)
    answer(student, questions[1], at(-1), score=0.0)  # not yet
    answer(student, questions[1], at(4), score=1.0)  # mastered here, after the due time
    answer(student, questions[2], at(6), score=1.0)  # more practice changes nothing
    run_lab(student, at(1), status=LabRun.Status.FAILED)
    run_lab(student, at(3))
    run_lab(student, at(2))  # the first success finished at +2 h
    done = work.completion_times([read, quiz, lab], [student.pk])
    assert done == {
        (read.pk, student.pk): at(-2),
        (quiz.pk, student.pk): at(4),
        (lab.pk, student.pk): at(2),
    }
    states = {
        a.kind: work.state_of(a.due_at, done.get((a.pk, student.pk)), at(10))
        for a in (read, quiz, lab)
    }
    assert states == {"lesson": work.DONE, "quiz": work.LATE, "lab": work.LATE}


def test_not_mastered_or_not_marked_done_is_missing_after_the_due_time(classroom, student, lessons):
    questions = list(Question.objects.active().filter(quiz__lesson=lessons[1]).order_by("order"))
    read = assign(classroom, "lesson", lesson=lessons[0], required=True)
    quiz = assign(classroom, "quiz", lesson=lessons[1])
    LessonProgress.objects.create(user=student, lesson=lessons[0])  # opened, not done
    answer(student, questions[0], at(-1), score=1.0)  # far from mastery
    assert work.completion_times([read, quiz], [student.pk]) == {}
    tally = work.assignment_tallies(classroom, [student.pk], now=at(1))[student.pk]
    assert (tally.total, tally.done, tally.late, tally.missing, tally.missing_required) == (
        2,
        0,
        0,
        2,
        1,
    )
    tally = work.assignment_tallies(classroom, [student.pk], now=at(-1))[student.pk]
    assert (tally.missing, tally.open) == (0, 2)


def test_status_text_counts_calendar_days_in_the_zone():
    now = datetime(2030, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    soon = datetime(2030, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 on the 16th in Paris
    assert work.status_text(work.OPEN, soon, now, "UTC") == "Due today at 23:30"
    assert work.status_text(work.OPEN, soon, now, "Europe/Paris") == "Due tomorrow"
    assert work.status_text(work.OPEN, now + timedelta(days=3), now, "UTC") == "Due in 3 days"
    assert work.status_text(work.LATE, soon, now, "UTC") == "Done late"


# --- the student's home page ---------------------------------------------------------------


def test_home_lists_due_work_soonest_first_with_status(student, student_client, classroom, lessons):
    now = timezone.now()
    later = assign(classroom, "lab", lab=LAB, due=now + timedelta(days=3), required=True)
    missing = assign(classroom, "lesson", lesson=lessons[2], due=now - timedelta(days=1))
    late = assign(classroom, "lesson", lesson=lessons[1], due=now - timedelta(days=2))
    on_time = assign(classroom, "lesson", lesson=lessons[0], due=now - timedelta(days=3))
    done_lesson(student, lessons[0], now - timedelta(days=4))
    done_lesson(student, lessons[1], now - timedelta(days=1))
    # A class the student is not in, and a lesson hidden from students, are not listed.
    elsewhere = class_create(instructor=classroom.instructors.get(), name="Other class")
    assign(elsewhere, "lesson", lesson=lessons[3], due=now + timedelta(days=1))
    Lesson.objects.filter(pk=lessons[4].pk).update(published=False)
    assign(classroom, "lesson", lesson=lessons[4], due=now + timedelta(days=1))

    response = student_client.get("/")
    items = response.context["due"]
    assert [item.assignment for item in items] == [on_time, late, missing, later]
    assert [item.status for item in items] == ["Done", "Done late", "Missing", "Due in 3 days"]
    page = response.content.decode()
    assert page.index(lessons[0].title) < page.index(lessons[1].title) < page.index("Lab: ")
    assert 'data-state="late"' in page and 'data-state="missing"' in page
    assert "Due in 3 days" in page and "required" in page and "Virt A" in page
    assert lessons[3].title not in page.split('id="due-title"')[1].split("</section>")[0]


def test_home_without_assignments_has_no_due_list(student_client, classroom, client, course):
    assert 'id="due-title"' not in student_client.get("/").content.decode()
    assert client.get("/").status_code == 200  # anonymous visitors have no classes


# --- the gradebook ---------------------------------------------------------------------------


def test_gradebook_page_and_csv_count_late_and_missing(
    instructor_client, classroom, student, lessons
):
    other = other_user("zed")
    Membership.objects.create(classroom=classroom, user=other)
    now = timezone.now()
    read = assign(
        classroom, "lesson", lesson=lessons[0], due=now - timedelta(days=1), required=True
    )
    assign(classroom, "lab", lab=LAB, due=now - timedelta(hours=1))
    assign(classroom, "lesson", lesson=lessons[1], due=now + timedelta(days=2))
    done_lesson(student, lessons[0], read.due_at - timedelta(hours=1))  # on time
    run_lab(student, now - timedelta(minutes=30))  # late
    book = build_gradebook(classroom)
    tallies = {row.student.username: row.assignments for row in book.rows}
    assert (tallies["stu"].done, tallies["stu"].late, tallies["stu"].missing) == (1, 1, 0)
    assert (tallies["zed"].done, tallies["zed"].late, tallies["zed"].missing) == (0, 0, 2)
    assert tallies["zed"].missing_required == 1 and tallies["zed"].open == 1

    page = instructor_client.get(classroom.get_absolute_url()).content.decode()
    assert 'data-assignments="1/1/0"' in page and 'data-assignments="0/0/2"' in page
    assert "2 missing (1 required)" in page and "1 late" in page
    assert list_url(classroom) in page

    response = instructor_client.get(reverse("courseware:gradebook_csv", args=[classroom.pk]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][-4:] == [
        "assignments done",
        "assignments late",
        "assignments missing",
        "required missing",
    ]
    by_name = {row[0]: row[-4:] for row in rows[1:]}
    assert by_name == {"stu": ["1", "1", "0", "0"], "zed": ["0", "0", "2", "1"]}
    assert gradebook_csv_text(book) == response.content.decode()
    # Sorted by assignments, descending: the student with missing work comes first.
    worst_first = build_gradebook(classroom, sort="assignments", direction="desc")
    assert [row.student.username for row in worst_first.rows] == ["zed", "stu"]


def test_assignments_page_counts_students_per_state(instructor_client, classroom, student, lessons):
    now = timezone.now()
    assign(classroom, "lesson", lesson=lessons[0], due=now - timedelta(days=1))
    Lesson.objects.filter(pk=lessons[1].pk).update(trashed_at=now)
    assign(classroom, "lesson", lesson=lessons[1], due=now + timedelta(days=1))
    rows = instructor_client.get(list_url(classroom)).context["rows"]
    assert [(r.done, r.late, r.missing, r.open, r.available) for r in rows] == [
        (0, 0, 1, 0, True),
        (0, 0, 0, 1, False),
    ]
    page = instructor_client.get(list_url(classroom)).content.decode()
    assert "hidden from students" in page
    assert "the lesson&#x27;s quiz is mastered" in page or "the lesson's quiz is mastered" in page
    # The gradebook leaves the hidden one out.
    assert build_gradebook(classroom).rows[0].assignments.total == 1
    assert Classroom.objects.count() == 1
