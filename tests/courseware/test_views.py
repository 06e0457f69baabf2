import re

import pytest
from django.urls import reverse

from courseware.models import Lesson, LessonProgress

HTMX = {"HTTP_HX_REQUEST": "true"}
OTHER_HOST = re.compile(r"""(?:src|href|action)=["'](?:https?:)?//""", re.I)


@pytest.fixture
def lesson(course):
    return Lesson.objects.get(slug="hypervisor-types")


def test_home_lists_the_outline_for_anonymous_users(client, course):
    response = client.get(reverse("courseware:home"))
    assert response.status_code == 200
    body = response.content.decode()
    for lesson in Lesson.objects.all():
        assert lesson.get_absolute_url() in body
    assert "Continue where you left off" not in body
    assert not OTHER_HOST.search(body)


def test_home_shows_states_and_continue_link(student_client, student, course):
    first, second = Lesson.objects.in_outline_order()[:2]
    LessonProgress.objects.create(user=student, lesson=first, state="done")
    student_client.get(second.get_absolute_url())
    body = student_client.get(reverse("courseware:home")).content.decode()
    assert 'data-state="done"' in body and 'data-state="in_progress"' in body
    assert 'data-state="not_started"' in body
    assert f'href="{second.get_absolute_url()}">Continue where you left off' in body


def test_lesson_page_renders_toc_labs_and_pager(client, lesson):
    response = client.get(lesson.get_absolute_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert lesson.toc and f'href="#{lesson.toc[0]["id"]}"' in body
    assert 'rel="prev"' in body and 'rel="next"' in body
    for slug in lesson.labs:
        assert reverse("labs:detail", args=[slug]) in body
    assert not OTHER_HOST.search(body)
    assert "Content-Security-Policy" in response.headers
    assert "nonce-" in response.headers["Content-Security-Policy"]


def test_toc_names_are_escaped_once_and_old_caches_are_redone(client, lesson):
    lesson.body = "## Bits & bytes\n\nText.\n"
    lesson.save()
    # A cache written by an older renderer (here: a stale hash) is redone on view.
    Lesson.objects.filter(pk=lesson.pk).update(
        body_hash="stale", toc=[{"id": "x", "name": "old", "level": 2}]
    )
    body = client.get(lesson.get_absolute_url()).content.decode()
    assert 'href="#bits-bytes">Bits &amp; bytes</a>' in body and "&amp;amp;" not in body
    assert Lesson.objects.get(pk=lesson.pk).toc[0]["name"] == "Bits & bytes"


def test_opening_a_lesson_records_progress(student_client, student, lesson):
    student_client.get(lesson.get_absolute_url())
    progress = LessonProgress.objects.get(user=student, lesson=lesson)
    assert progress.state == "in_progress"


def test_mark_done_full_page_redirects_back(student_client, student, lesson):
    url = reverse("courseware:lesson_done", args=[lesson.slug])
    response = student_client.post(url, {"done": "1"})
    assert response.status_code == 302 and response.url == lesson.get_absolute_url()
    assert LessonProgress.objects.get(user=student, lesson=lesson).state == "done"
    page = student_client.get(lesson.get_absolute_url()).content.decode()
    assert "You marked this lesson as done" in page and "Marked as done." in page


def test_mark_done_htmx_returns_the_fragment(student_client, student, lesson):
    url = reverse("courseware:lesson_done", args=[lesson.slug])
    response = student_client.post(url, {"done": "1"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<form id="done-toggle"')
    assert "<html" not in body and "You marked this lesson as done" in body
    response = student_client.post(url, {"done": "0"}, **HTMX)
    assert "Mark as done" in response.content.decode()
    assert LessonProgress.objects.get(user=student, lesson=lesson).state == "in_progress"


def test_mark_done_needs_login_and_post(client, student_client, lesson):
    url = reverse("courseware:lesson_done", args=[lesson.slug])
    response = client.post(url, {"done": "1"})
    assert response.status_code == 302 and reverse("login") in response.url
    assert student_client.get(url).status_code == 405


def test_unpublished_lessons_are_hidden_from_students(student_client, instructor_client, lesson):
    lesson.published = False
    lesson.save(update_fields=["published"])
    assert student_client.get(lesson.get_absolute_url()).status_code == 404
    assert lesson.get_absolute_url() not in student_client.get("/").content.decode()
    response = instructor_client.get(lesson.get_absolute_url())
    assert response.status_code == 200 and "Draft" in response.content.decode()


def test_rendered_html_is_cached_until_the_body_changes(lesson):
    cached = lesson.body_html
    lesson.title = "Renamed"
    lesson.save(update_fields=["title"])
    assert Lesson.objects.get(pk=lesson.pk).body_html == cached
    lesson.body += "\n## Added later\n"
    lesson.save(update_fields=["body"])
    assert 'id="added-later"' in Lesson.objects.get(pk=lesson.pk).body_html


def test_continue_follows_the_lesson_just_finished_not_the_first_unopened_one(
    student_client, student, course
):
    first, second, third = Lesson.objects.in_outline_order()[:3]
    student_client.get(second.get_absolute_url())  # lesson 1 is never opened
    student_client.post(reverse("courseware:lesson_done", args=[second.slug]))
    body = student_client.get(reverse("courseware:home")).content.decode()
    assert f'href="{third.get_absolute_url()}">Continue where you left off' in body


def test_my_attempts_is_in_the_main_navigation_for_students(student_client, client, course):
    url = reverse("courseware:my_attempts")
    nav = (
        student_client.get(reverse("courseware:home"))
        .content.decode()
        .split('aria-label="Main"')[1]
    )
    assert f'href="{url}"' in nav.split("</nav>")[0]
    anonymous = client.get(reverse("courseware:home")).content.decode()
    assert f'href="{url}"' not in anonymous
