"""Parts of the lesson and quiz pages kept between page views (courseware/fragments.py):
what is kept is exactly what rendering afresh gives, and a change of content — a
published revision, a re-import, another glossary, other quiz settings — shows on the
very next page view, in every process, with nothing told to forget anything."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from courseware import fragments
from courseware.authoring import revisions
from courseware.coursefiles.sync import course_import
from courseware.models import Lesson, Question, Quiz
from courseware.outline import neighbours
from tests.courseware.quiz_helpers import HTMX, correct_form, record, wrong_form
from tests.courseware.test_authoring import editor_fields

SLUG = "hypervisor-types"
NONCE = re.compile(r'nonce="[^"]+"')
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=)"[^"]+"|"X-CSRFToken": "[^"]+"')


@pytest.fixture(autouse=True)
def _empty_cache():
    caches[fragments.CACHE].clear()
    yield
    caches[fragments.CACHE].clear()


@pytest.fixture
def lesson(course) -> Lesson:
    return Lesson.objects.get(slug=SLUG)


def lesson_url(slug: str = SLUG) -> str:
    return reverse("courseware:lesson", args=[slug])


def quiz_url(slug: str = SLUG) -> str:
    return reverse("courseware:quiz", args=[slug])


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def comparable(html: str) -> str:
    """A page without what changes with every request (CSRF token, CSP nonce)."""
    return CSRF.sub("…", NONCE.sub("…", html))


def kept_entries() -> int:
    """Entries kept and not expired (one kept for no time is not kept)."""
    cache = caches[fragments.CACHE]
    return sum(1 for key in list(cache._cache) if not cache._has_expired(key))


def kept_question_entries() -> int:
    """Kept questions' HTML only: each student's quiz section is an entry of its own
    (``s:`` keys, one per student however many questions are shared)."""
    cache = caches[fragments.CACHE]
    return sum(1 for key in list(cache._cache) if ":q:" in key and not cache._has_expired(key))


def test_kept_pages_are_the_pages_rendered_afresh(
    course, client, student, student_client, monkeypatch
):
    """Every lesson and quiz page, for a visitor and a student with right, wrong and
    closed answers: the same HTML with nothing kept, when first kept and when served
    from what was kept."""
    for index, question in enumerate(Question.objects.active().order_by("pk")[::3]):
        record(
            student, question, (correct_form if index % 2 else wrong_form)(question), minutes_ago=30
        )
    urls = [
        u
        for slug in Lesson.objects.values_list("slug", flat=True)
        for u in (lesson_url(slug), quiz_url(slug))
    ]
    fresh = {}
    with monkeypatch.context() as patch:
        patch.setattr(fragments, "enabled", lambda: False)
        for who, browser in (("visitor", client), ("student", student_client)):
            for url in urls:
                fresh[who, url] = comparable(page(browser, url))
    assert kept_entries() == 0
    for attempt in ("first", "kept"):
        for who, browser in (("visitor", client), ("student", student_client)):
            for url in urls:
                assert comparable(page(browser, url)) == fresh[who, url], (attempt, who, url)
    assert kept_entries() > 0


def test_an_unanswered_question_is_kept_once_for_every_student(lesson, client, django_user_model):
    students = [
        django_user_model.objects.create_user(f"s{n}", password="not-used-1234") for n in range(2)
    ]
    clients = []
    for student in students:
        browser = Client()
        browser.force_login(student)
        clients.append(browser)
    page(clients[0], lesson_url())
    kept = kept_question_entries()
    page(clients[1], lesson_url())
    per_student_orders = (
        Question.objects.active()
        .filter(quiz__lesson=lesson, type__in=["ordering", "matching"])
        .count()
    )
    # Whether two students' shuffles happen to agree depends on their ids (which differ
    # on PostgreSQL, whose sequences a test's rollback does not reset), so this is a bound.
    assert kept_question_entries() - kept <= per_student_orders  # the others were shared


def test_one_students_answers_never_show_on_anothers_page(lesson, student, django_user_model):
    question = Question.objects.get(qid="hv-text-device")
    other = django_user_model.objects.create_user("other", password="not-used-1234")
    mine, theirs = Client(), Client()
    mine.force_login(student)
    theirs.force_login(other)
    before = page(theirs, lesson_url())
    record(student, question, correct_form(question), minutes_ago=5)
    assert "Correct." in page(mine, lesson_url())
    after = page(theirs, lesson_url())
    assert "Correct." not in after
    assert comparable(after) == comparable(before)


def test_a_visitors_login_links_come_back_to_the_page_they_are_on(lesson, client):
    for url in (lesson_url(), quiz_url(), lesson_url(), quiz_url()):
        html = page(client, url)
        assert f"?next={url}%23q-" in html
        other = quiz_url() if url == lesson_url() else lesson_url()
        assert f"?next={other}%23q-" not in html


def test_the_csrf_token_of_a_kept_question_is_the_requests_own(lesson, student):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(student)
    page(browser, lesson_url())  # keeps the questions
    html = page(browser, lesson_url())  # served from what was kept
    question = Question.objects.get(qid="hv-text-device")
    form = re.search(
        r'<form class="question-form"[^>]*action="/lessons/hypervisor-types/quiz/hv-text-device/".*?</form>',
        html,
        re.S,
    ).group(0)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert fragments._CSRF_PLACEHOLDER not in html
    response = browser.post(
        reverse("courseware:question_submit", args=[SLUG, question.qid]),
        {**correct_form(question), "csrfmiddlewaretoken": token, "source": "lesson"},
    )
    assert response.status_code == 302
    assert "Correct." in page(browser, lesson_url())


def published(lesson: Lesson, **changes) -> dict:
    """The editor form, posted to publish at once (test_authoring's helper)."""
    return editor_fields(lesson, action="publish", **changes)


def test_a_published_edit_shows_on_the_next_page_view(
    lesson, instructor_client, student_client, client
):
    for browser in (student_client, client):  # keep the pages as they are now
        page(browser, lesson_url())
        page(browser, quiz_url())
    head = revisions.ensure_history(lesson)
    body = lesson.body.replace(
        "## ", "## Edited heading then\n\nA sentence the instructor published.\n\n## ", 1
    )
    assert body != lesson.body
    quiz = head.content["quiz"].replace("prompt: ", "prompt: Freshly published wording. ", 1)
    assert quiz != head.content["quiz"]
    objectives = "\n".join([*head.content["objectives"], "Tell the edit apart"])
    response = instructor_client.post(
        reverse("courseware:author_edit", args=[SLUG]),
        published(lesson, body=body, quiz=quiz, objectives=objectives),
    )
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.published_revision.number == head.number + 1
    for browser in (student_client, client):
        html = page(browser, lesson_url())
        assert "A sentence the instructor published." in html
        assert 'id="edited-heading-then"' in html  # the contents list is the new one
        assert "Tell the edit apart" in html
        assert "Freshly published wording." in html
        assert "Freshly published wording." in page(browser, quiz_url())


def test_publishing_an_earlier_revision_again_shows_it_again(
    lesson, instructor_client, student_client
):
    original = lesson.body
    instructor_client.post(
        reverse("courseware:author_edit", args=[SLUG]),
        published(lesson, body=original + "\nOnly in the second revision.\n"),
    )
    assert "Only in the second revision." in page(student_client, lesson_url())
    instructor_client.post(
        reverse("courseware:author_edit", args=[SLUG]), published(lesson, body=original)
    )
    assert "Only in the second revision." not in page(student_client, lesson_url())


def test_a_reimported_course_shows_on_the_next_page_view(
    lesson, content_copy, settings, student_client, client
):
    for browser in (student_client, client):
        page(browser, lesson_url())
        page(browser, quiz_url())
    folder = content_copy / lesson.source_dir
    index = folder / "index.md"
    index.write_text(index.read_text() + "\nA paragraph that came with the import.\n")
    quiz_file = folder / "quiz.yaml"
    data = yaml.safe_load(quiz_file.read_text())
    first = data["questions"][0]
    first["prompt"] = "Imported wording. " + first["prompt"]
    quiz_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    course_import(root=content_copy)
    for browser in (student_client, client):
        html = page(browser, lesson_url())
        assert "A paragraph that came with the import." in html
        assert "Imported wording." in html
        assert "Imported wording." in page(browser, quiz_url())


def test_another_glossary_shows_on_the_next_page_view(lesson, settings, tmp_path, client):
    html = page(client, lesson_url())
    assert 'class="glossary-link"' in html
    installed = tmp_path / "glossary.yaml"
    shutil.copy(settings.VIRTLAB_CONTENT_DIR / "glossary.yaml", installed)
    data = yaml.safe_load(installed.read_text())
    data["terms"] = [entry for entry in data["terms"] if SLUG not in entry["lessons"]]
    installed.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    settings.VIRTLAB_GLOSSARY_INSTALLED = installed
    html = page(client, lesson_url())
    assert 'class="glossary-link"' not in html
    assert "Terms in this lesson" not in html


def test_other_quiz_settings_show_on_the_next_page_view(lesson, student, student_client):
    question = Question.objects.get(qid="hv-text-device")
    record(student, question, wrong_form(question), minutes_ago=30)
    Quiz.objects.filter(pk=question.quiz_id).update(show_answers=Quiz.ShowAnswers.AFTER_EACH)
    assert "answer-reveal" in page(student_client, quiz_url())
    Quiz.objects.filter(pk=question.quiz_id).update(show_answers=Quiz.ShowAnswers.NEVER)
    html = page(student_client, quiz_url())
    assert "answer-reveal" not in html
    assert "Answers are not shown." in html


def test_a_retired_question_leaves_the_page_at_once(lesson, student_client):
    assert 'id="q-hv-text-device"' in page(student_client, lesson_url())
    Question.objects.filter(qid="hv-text-device").update(retired=True)
    assert 'id="q-hv-text-device"' not in page(student_client, lesson_url())


def test_a_hint_shown_and_a_refused_answer_are_their_own_state(lesson, student, student_client):
    question = Question.objects.filter(quiz__lesson=lesson, spec__has_key="hints").first()
    page(student_client, quiz_url())
    html = page(student_client, f"{quiz_url()}?hint={question.qid}&shown=1")
    assert "Hint 1:" in html
    assert "Hint 1:" not in page(student_client, quiz_url())
    fragment = student_client.get(f"{quiz_url()}?hint={question.qid}&shown=1", **HTMX)
    assert "Hint 1:" in fragment.content.decode()


def test_nothing_is_kept_with_debug_on(lesson, settings, client):
    settings.DEBUG = True
    page(client, lesson_url())
    page(client, quiz_url())
    assert kept_entries() == 0


def test_kept_questions_are_the_questions_the_orm_loads(course):
    """Every lesson's questions, kept or not, are the rows (and quiz) a query gives."""
    for lesson in Lesson.objects.all():
        expected = list(
            Question.objects.active()
            .filter(quiz__lesson=lesson)
            .select_related("quiz")
            .order_by("order", "pk")
        )
        for _ in ("loaded", "kept"):
            got = fragments.lesson_questions(lesson)
            assert [q.pk for q in got] == [q.pk for q in expected]
            for mine, theirs in zip(got, expected, strict=True):
                assert not mine.get_deferred_fields()
                for name in ("qid", "type", "spec", "rendered", "content_hash", "order", "retired"):
                    assert getattr(mine, name) == getattr(theirs, name)
                for name in (
                    "pk",
                    "lesson_id",
                    "max_attempts",
                    "min_seconds_between",
                    "show_answers",
                ):
                    assert getattr(mine.quiz, name) == getattr(theirs.quiz, name)
    assert kept_entries() >= Lesson.objects.filter(quiz__isnull=False).count()


def pager(html: str) -> tuple[str | None, str | None]:
    found = re.search(r'<nav class="pager".*?</nav>', html, re.S).group(0)
    previous = re.search(r'rel="prev" href="([^"]+)"', found)
    following = re.search(r'rel="next" href="([^"]+)"', found)
    return (previous and previous.group(1)), (following and following.group(1))


def expected_pager(lesson: Lesson) -> tuple[str | None, str | None]:
    published = list(Lesson.objects.published().in_outline_order())
    index = [item.pk for item in published].index(lesson.pk)
    previous = published[index - 1].get_absolute_url() if index else None
    following = published[index + 1].get_absolute_url() if index + 1 < len(published) else None
    return previous, following


def test_the_pager_follows_the_outline_at_once(course, client):
    lessons = list(Lesson.objects.published().in_outline_order())
    for lesson in lessons:
        assert pager(page(client, lesson.get_absolute_url())) == expected_pager(lesson)
        previous, following = neighbours(lesson)
        assert following is None or following.title == Lesson.objects.get(pk=following.pk).title
    moved, hidden = lessons[-1], lessons[2]
    Lesson.objects.filter(pk=moved.pk).update(module=lessons[0].module, order=1)
    Lesson.objects.filter(pk=hidden.pk).update(published=False)
    for lesson in Lesson.objects.published():
        assert pager(page(client, lesson.get_absolute_url())) == expected_pager(lesson)
