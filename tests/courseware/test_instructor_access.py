"""Instructors reach everything they need without being superusers (issue 11): every
instructor page opens for a member of the "instructors" group who is neither staff
nor superuser, the Teach page says what they can do, and the Django admin stays for
staff and is linked from none of their pages."""

import pytest
from django.test import Client
from django.urls import reverse

from courseware.models import Classroom
from labs.experiments import REGISTRY
from labs.models import LabRun


@pytest.fixture
def taught_class(course, instructor_client, student):
    instructor_client.post(reverse("courseware:class_new"), {"name": "Virtualization A"})
    classroom = Classroom.objects.get()
    learner = Client()
    learner.force_login(student)
    learner.post(reverse("courseware:class_join"), {"code": classroom.join_code})
    LabRun.objects.create(
        user=student,
        lab="boot-race",
        status=LabRun.Status.SUCCEEDED,
        results={"samples": [], "summary": {"vm_over_container_median": 60.0}},
    )
    return classroom


def instructor_pages(classroom, student) -> list[str]:
    lesson = "hypervisor-types"
    return [
        reverse("courseware:teach"),
        reverse("courseware:classes"),
        reverse("courseware:class_detail", args=[classroom.pk]),
        reverse("courseware:gradebook_csv", args=[classroom.pk]),
        reverse("courseware:class_analytics", args=[classroom.pk]),
        reverse("courseware:class_student", args=[classroom.pk, student.pk]),
        *[reverse("labs:instructor_runs", args=[slug]) for slug in REGISTRY],
        LabRun.objects.get().get_absolute_url(),  # a student's run
        reverse("courseware:author_outline"),
        reverse("courseware:author_new"),
        reverse("courseware:author_module_new"),
        reverse("courseware:author_upload"),
        reverse("courseware:author_download"),
        reverse("courseware:author_edit", args=[lesson]),
        reverse("courseware:author_history", args=[lesson]),
        reverse("courseware:author_quiz", args=[lesson]),
    ]


def test_every_instructor_page_opens_for_an_instructor_who_is_not_staff(
    instructor, instructor_client, taught_class, student
):
    assert not instructor.is_staff and not instructor.is_superuser
    for url in instructor_pages(taught_class, student):
        response = instructor_client.get(url)
        assert response.status_code == 200, url
        if response["Content-Type"].startswith("text/html"):
            # Nothing they are offered leads to the admin, which would refuse them.
            assert 'href="/admin/' not in response.content.decode(), url


def test_the_same_pages_are_refused_to_a_student(student_client, taught_class, student):
    # Their classes and their own run are the student's pages too.
    shared = {reverse("courseware:classes"), LabRun.objects.get().get_absolute_url()}
    for url in instructor_pages(taught_class, student):
        if url not in shared:
            assert student_client.get(url).status_code in (403, 404), url


def test_the_teach_page_says_what_an_instructor_can_do(instructor_client, taught_class):
    body = instructor_client.get(reverse("courseware:teach")).content.decode()
    assert "What you can do as an instructor" in body
    for url in (
        reverse("courseware:classes"),
        reverse("courseware:author_outline"),
        reverse("labs:catalogue"),
    ):
        assert f'href="{url}"' in body
    assert "gradebook (with a CSV download), question analytics" in body
    assert "administration pages (user accounts and roles) are for staff accounts only" in body


def test_the_django_admin_is_for_staff_only(instructor_client, client):
    admin = reverse("admin:index")
    for visitor in (instructor_client, client):
        response = visitor.get(admin)
        assert response.status_code == 302 and reverse("admin:login") in response.url
