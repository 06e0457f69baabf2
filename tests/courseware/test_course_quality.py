"""Every shipped lesson is complete: objectives, a summary, a quiz worth taking, and
internal links that lead somewhere.

Lessons link each other as ``/lessons/<slug>/`` (optionally ``#section``), show our own
figures as ``/static/img/...`` and may link the glossary (``/glossary/#<term id>``) and the
labs. A link that
breaks when a lesson is renamed or a figure moved is found here, not by a student.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve

from courseware.coursefiles.lesson_files import LessonSpec, read_course
from courseware.glossary import load_glossary
from labs.experiments import REGISTRY
from virtlab.rendering import render_markdown

SHIPPED = Path(settings.VIRTLAB_CONTENT_DIR)
LESSONS = read_course(SHIPPED).lessons
BY_SLUG = {lesson.slug: lesson for lesson in LESSONS}

MIN_OBJECTIVES = 3
MIN_QUIZ_ITEMS = 8
SUMMARY_RE = re.compile(r"^## Summary[ \t]*\n(.*?)(?=^## |\Z)", re.M | re.S)
# Inline links and images, reference definitions, and any HTML a lesson writes itself.
LINK_RES = (
    re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)"),
    re.compile(r"^[ \t]*\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t].*)?$", re.M),
    re.compile(r"""(?:href|src)=["']([^"']+)["']"""),
)
CODE_RE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
STATIC_PREFIX = "/" + settings.STATIC_URL.strip("/") + "/"
ID_RE = re.compile(r"""\bid=["']([^"']+)["']""")


def ids_in(html: str) -> set[str]:
    return set(ID_RE.findall(html))


_rendered: dict[str, set[str]] = {}


def lesson_ids(slug: str) -> set[str]:
    if slug not in _rendered:
        _rendered[slug] = ids_in(render_markdown(BY_SLUG[slug].body).html)
    return _rendered[slug]


def links_in(body: str) -> list[str]:
    prose = CODE_RE.sub("", body)  # commands in code blocks are not links
    return [match for pattern in LINK_RES for match in pattern.findall(prose)]


def link_problem(url: str, here: LessonSpec) -> str | None:
    """Why an internal link in lesson ``here`` would not work, or None."""
    parts = urlsplit(url)
    if parts.scheme in {"http", "https", "mailto"}:
        return None  # external: not ours to check here
    if parts.scheme or parts.netloc:
        return "only http(s) and mailto links leave the site"
    if not parts.path:
        if parts.fragment and parts.fragment not in lesson_ids(here.slug):
            return f"no section #{parts.fragment} in this lesson"
        return None
    if not parts.path.startswith("/"):
        return "relative links break between pages; start internal links with /"
    if parts.path.startswith(STATIC_PREFIX):
        name = parts.path.removeprefix(STATIC_PREFIX)
        # Lessons show our own files from static/ (the renderer drops any other <img>).
        found = any((Path(root) / name).is_file() for root in settings.STATICFILES_DIRS)
        return None if found else f"no static file {name}"
    try:
        match = resolve(parts.path)
    except Resolver404:
        return "no page at this address"
    if match.namespace == "courseware" and match.url_name in {"lesson", "quiz"}:
        return lesson_link_problem(match.kwargs["slug"], match.url_name, parts.fragment)
    glossary_ids = {entry.id for entry in load_glossary()}
    if match.url_name == "glossary" and parts.fragment and parts.fragment not in glossary_ids:
        return f"no glossary entry #{parts.fragment}"
    lab = match.kwargs.get("slug") if match.namespace == "labs" else None
    if lab is not None and lab not in REGISTRY:
        return f"no lab {lab!r}"
    return None


def lesson_link_problem(slug: str, page: str, fragment: str) -> str | None:
    target = BY_SLUG.get(slug)
    if target is None:
        return f"no lesson with slug {slug!r}"
    if not target.published:
        return f"lesson {slug!r} is not published"
    if fragment and page == "lesson" and fragment not in lesson_ids(slug):
        return f"no section #{fragment} in lesson {slug!r}"
    return None


def test_the_course_has_lessons():
    assert len(LESSONS) >= 10


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.slug)
def test_lesson_states_its_objectives(lesson):
    assert len(lesson.objectives) >= MIN_OBJECTIVES, (
        f"{lesson.source_dir}: list at least {MIN_OBJECTIVES} objectives in the front matter"
    )
    assert all(len(objective.split()) >= 3 for objective in lesson.objectives)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.slug)
def test_lesson_ends_with_a_summary(lesson):
    match = SUMMARY_RE.search(lesson.body)
    assert match, f"{lesson.source_dir}/index.md has no '## Summary' section"
    words = len(match.group(1).split())
    assert words >= 30, f"{lesson.source_dir}: the summary has only {words} words"
    later = re.findall(r"^## (.+)$", lesson.body[match.end() :], re.M)
    assert not later, f"{lesson.source_dir}: sections after the summary: {later}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.slug)
def test_lesson_has_a_quiz_worth_taking(lesson):
    assert lesson.quiz is not None, f"{lesson.source_dir} has no quiz.yaml"
    items = len(lesson.quiz.questions)
    assert items >= MIN_QUIZ_ITEMS, (
        f"{lesson.source_dir}/quiz.yaml has {items} items; at least {MIN_QUIZ_ITEMS} are needed"
    )


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.slug)
def test_lesson_internal_links_resolve(lesson):
    problems = [
        f"{url}: {problem}"
        for url in links_in(lesson.body)
        if (problem := link_problem(url, lesson))
    ]
    assert not problems, f"{lesson.source_dir}/index.md: " + "; ".join(problems)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/lessons/hypervisor-types/", None),
        ("/lessons/no-such-lesson/", "no lesson"),
        ("/lessons/hypervisor-types/#no-such-section", "no section"),
        ("/static/img/lessons/no-such-figure.svg", "no static file"),
        ("/static/img/favicon.svg", None),
        ("/labs/no-such-lab/", "no lab"),
        ("/labs/", None),
        ("/glossary/#hypervisor", None),
        ("/glossary/#no-such-term", "no glossary entry"),
        ("/nowhere/at/all/", "no page"),
        ("lessons/hypervisor-types/", "relative"),
        ("https://example.org/", None),
        ("javascript:alert(1)", "only http"),
    ],
)
def test_the_link_checker_itself(url, expected):
    problem = link_problem(url, LESSONS[0])
    if expected is None:
        assert problem is None
    else:
        assert problem and expected in problem
