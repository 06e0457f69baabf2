"""The glossary: its file, its page, and the lessons that link to it."""

import re

import pytest
from django.urls import reverse

from courseware.coursefiles.errors import ContentError
from courseware.glossary import load_glossary, parse_glossary
from courseware.models import Lesson
from tests.courseware.test_course_quality import BY_SLUG, CODE_RE

ENTRIES = load_glossary()


def uses(slug: str, pattern: re.Pattern) -> bool:
    return bool(pattern.search(CODE_RE.sub("", BY_SLUG[slug].body)))


def test_the_glossary_has_the_core_terms():
    ids = {entry.id for entry in ENTRIES}
    core = {
        "hypervisor", "type-1-type-2", "vmm", "tcg", "kvm", "paravirtualization",
        "namespace", "cgroup", "image", "layer", "copy-on-write", "snapshot", "clone",
        "live-migration", "nat", "bridge", "vdi", "rds", "daas", "pod", "orchestration",
        "seccomp", "capability", "microvm",
    }  # fmt: skip
    assert core <= ids, f"missing: {sorted(core - ids)}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_every_term_is_used_by_the_lessons_it_lists(entry):
    assert len(set(entry.lessons)) >= 2, f"{entry.id}: a glossary term is used in ≥ 2 lessons"
    unknown = [slug for slug in entry.lessons if slug not in BY_SLUG]
    assert not unknown, f"{entry.id}: no such lesson(s) {unknown}"
    unpublished = [slug for slug in entry.lessons if not BY_SLUG[slug].published]
    assert not unpublished, f"{entry.id}: lesson(s) not published {unpublished}"
    unused = [slug for slug in entry.lessons if not uses(slug, entry.match)]
    assert not unused, f"{entry.id}: these lessons never use the term: {unused}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_every_definition_is_short(entry):
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", entry.definition) if s]
    assert 1 <= len(sentences) <= 3, f"{entry.id}: 1–3 sentences, not {len(sentences)}"


@pytest.mark.django_db
def test_glossary_page_lists_every_term_with_working_lesson_links(client, course):
    response = client.get(reverse("courseware:glossary"))
    assert response.status_code == 200
    html = response.content.decode()
    lesson_urls = {lesson.get_absolute_url() for lesson in Lesson.objects.published()}
    for entry in ENTRIES:
        assert f'id="{entry.id}"' in html
        for slug in entry.lessons:
            assert f"/lessons/{slug}/" in lesson_urls
            assert f'href="/lessons/{slug}/"' in html
    for url in set(re.findall(r'href="(/lessons/[^"]*)"', html)):
        assert client.get(url).status_code == 200, url
    assert "<code>/dev/kvm</code>" in html  # `code` in a definition
    assert 'aria-current="page"' in html  # the nav link marks the page


@pytest.mark.django_db
def test_a_lesson_links_its_terms_to_the_glossary(client, course):
    html = client.get(reverse("courseware:lesson", args=["hypervisor-types"])).content.decode()
    assert "Terms in this lesson" in html
    for entry in ENTRIES:
        link = f'href="/glossary/#{entry.id}"'
        assert (link in html) == ("hypervisor-types" in entry.lessons), entry.id


def test_every_lesson_with_terms_links_at_least_one():
    used = {slug for entry in ENTRIES for slug in entry.lessons}
    assert used == set(BY_SLUG), f"lessons without any glossary term: {set(BY_SLUG) - used}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("terms: []", "expected 'terms:'"),
        ("terms:\n  - id: a\n    term: A\n", "missing"),
        (
            "terms:\n  - {id: a, term: A, definition: d, match: '(', lessons: []}\n",
            "not a valid regular expression",
        ),
        (
            "terms:\n  - {id: a, term: A, definition: d, match: a, lessons: []}\n"
            "  - {id: a, term: B, definition: d, match: b, lessons: []}\n",
            "duplicate id",
        ),
        (
            "terms:\n  - {id: A_b, term: A, definition: d, match: a, lessons: [], x: 1}\n",
            "unknown field",
        ),
    ],
)
def test_a_malformed_glossary_is_refused_with_a_reason(text, problem):
    with pytest.raises(ContentError) as caught:
        parse_glossary(text)
    assert any(problem in line for line in caught.value.problems), caught.value.problems
