"""The glossary: its file, its page, and the lessons that link to it."""

import io
import re
import shutil

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from courseware.coursefiles.errors import ContentError
from courseware.glossary import (
    GLOSSARY_FILE,
    Entry,
    glossary_path,
    link_first_uses,
    load_glossary,
    parse_glossary,
    terms_for_lesson,
)
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


# -- the first use of a term in a lesson links to its entry --------------------------

GLOSSARY_LINK_RE = re.compile(
    r'<a class="glossary-link" href="/glossary/#([a-z0-9-]+)">([^<]*)</a>'
)


def term(entry_id: str, pattern: str) -> Entry:
    return Entry(entry_id, entry_id.upper(), "d", re.compile(pattern, re.I), ("a", "b"))


def test_only_the_first_use_in_running_text_is_linked():
    html = (
        '<h2 id="kvm">KVM in a heading</h2>'
        "<p>Load <code>kvm</code>, then the KVM module; kvm again. "
        '<a href="/labs/">KVM in a link</a>.</p>'
        "<p>Q&amp;A: QEMU &amp; KVM, then QEMU once more.</p>"
        "<details><summary>NAT here</summary><p>nat there</p></details>"
    )
    entries = [term("kvm", r"\bkvm\b"), term("qemu", r"\bqemu\b"),
               term("nat", r"\bnat\b"), term("amp", r"amp"), term("vdi", r"\bvdi\b")]  # fmt: skip
    assert link_first_uses(html, entries, "/glossary/") == (
        '<h2 id="kvm">KVM in a heading</h2>'
        '<p>Load <code>kvm</code>, then the <a class="glossary-link" href="/glossary/#kvm">KVM'
        "</a> module; kvm again. "
        '<a href="/labs/">KVM in a link</a>.</p>'
        '<p>Q&amp;A: <a class="glossary-link" href="/glossary/#qemu">QEMU</a> &amp; KVM, then '
        "QEMU once more.</p>"
        '<details><summary>NAT here</summary><p><a class="glossary-link" '
        'href="/glossary/#nat">nat</a> there</p></details>'
    )  # "amp" is only inside entities and "vdi" nowhere: neither is linked


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["hypervisor-types", "desktop-virtualization"])
def test_a_lesson_links_the_first_use_of_its_own_terms(client, course, slug):
    lesson = Lesson.objects.get(slug=slug)
    html = client.get(lesson.get_absolute_url()).content.decode()
    body = html.split('<div class="prose">', 1)[1].split("</article>", 1)[0]
    links = GLOSSARY_LINK_RE.findall(body)
    ids = [entry_id for entry_id, _ in links]
    own = {entry.id for entry in terms_for_lesson(slug)}
    assert len(ids) == len(set(ids)) >= len(own) - 2  # each term once; (nearly) all used
    assert set(ids) <= own
    for entry_id, text in links:  # the link's text is the term as the lesson wrote it
        assert next(e for e in ENTRIES if e.id == entry_id).match.fullmatch(text)
    # Nothing else changed: without the links the body is the rendered lesson.
    lesson.refresh_from_db()
    assert GLOSSARY_LINK_RE.sub(r"\2", body).startswith(lesson.body_html)
    headings = re.findall(r"<h[1-6].*?</h[1-6]>", body, re.S)
    assert not any("glossary-link" in heading for heading in headings)


# -- the glossary travels with the course files --------------------------------------


@pytest.fixture
def served(tmp_path, settings):
    """The content folder the site serves, a copy (import writes its glossary there)."""
    root = tmp_path / "served"
    shutil.copytree(django_settings.VIRTLAB_CONTENT_DIR, root)
    settings.VIRTLAB_CONTENT_DIR = root
    return root


@pytest.mark.django_db
def test_export_then_import_keeps_the_glossary_byte_for_byte(served, tmp_path):
    call_command("import_course", str(served), stdout=io.StringIO())
    call_command("export_course", str(tmp_path / "one"), stdout=io.StringIO())
    exported = tmp_path / "one" / GLOSSARY_FILE
    assert exported.read_bytes() == glossary_path().read_bytes()  # comments too
    # Served from elsewhere, the exported files bring their glossary back with them.
    glossary_path().write_text("terms:\n- {id: x, term: X, definition: d, "
                                        "match: x, lessons: [containers, security]}\n")  # fmt: skip
    out = io.StringIO()
    call_command("import_course", str(tmp_path / "one"), stdout=out)
    assert "updated: glossary" in out.getvalue()
    assert {entry.id for entry in load_glossary()} == {entry.id for entry in ENTRIES}
    call_command("export_course", str(tmp_path / "two"), stdout=io.StringIO())
    assert (tmp_path / "two" / GLOSSARY_FILE).read_bytes() == exported.read_bytes()


@pytest.mark.django_db
def test_import_course_brings_the_glossary_of_its_files(client, served, content_copy, settings):
    call_command("import_course", str(served), stdout=io.StringIO())
    glossary = content_copy / GLOSSARY_FILE
    glossary.write_text(
        glossary.read_text().replace("Software that creates virtual machines", "Software, "
                                     "changed in the files, that creates virtual machines")
    )  # fmt: skip
    out = io.StringIO()
    call_command("import_course", str(content_copy), stdout=out)
    assert "updated: glossary" in out.getvalue()
    assert glossary_path().read_bytes() == glossary.read_bytes()
    assert glossary_path() == settings.VIRTLAB_GLOSSARY_INSTALLED  # not a file of the repo
    page = client.get(reverse("courseware:glossary")).content.decode()
    assert "changed in the files" in page
    # Importing the same files again changes nothing.
    out = io.StringIO()
    call_command("import_course", str(content_copy), stdout=out)
    assert "glossary" not in out.getvalue()


@pytest.mark.django_db
def test_a_glossary_naming_an_unknown_lesson_stops_the_import(served, content_copy):
    before = glossary_path().read_bytes()
    glossary = content_copy / GLOSSARY_FILE
    glossary.write_text(glossary.read_text().replace("- prerequisites\n", "- no-such-lesson\n", 1))
    with pytest.raises(CommandError) as error:
        call_command("import_course", str(content_copy))
    assert "glossary.yaml: hypervisor: no lesson 'no-such-lesson'" in str(error.value)
    assert not Lesson.objects.exists()
    assert glossary_path().read_bytes() == before
