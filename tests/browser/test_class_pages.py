"""The instructor's class pages in chromium, at a laptop's width and a phone's.

Wide tables (gradebook, analytics, attempts, answers, the lesson table) scroll inside
their own card and never widen the page; the gradebook keeps its totals in view and
its student column in place while the lessons scroll past; analytics filters are a
plain form that works without JavaScript. Screenshots go to
``var/test-artifacts/classes/<viewport>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from courseware.models import Lesson
from tests.browser.test_accessibility import FAILING_IMPACTS, _axe_source, _axe_violations
from tests.conftest import PASSWORD
from tests.courseware.quiz_helpers import seed_class

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = (
    Path(os.environ.get("VIRTLAB_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "classes"
)
VIEWPORTS = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture
def seeded(course, instructor):
    classroom, students = seed_class(instructor)
    return classroom, students


def _log_in(page, user) -> None:
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _open(browser, live_server, viewport: str, *, javascript: bool = True):
    context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORTS[viewport], java_script_enabled=javascript
    )
    return context, context.new_page()


def _overflow(page) -> dict:
    """How far the page and each scrolling table reach past the window."""
    return page.evaluate(
        """() => ({
            // The page's own content (the site header's navigation is not these pages').
            page: (m => Math.max(m.scrollWidth - m.clientWidth,
                                 m.getBoundingClientRect().right - window.innerWidth))(
                document.querySelector('main')),
            // The boxes that scroll: a .table-scroll, or a table.data outside one.
            regions: [...document.querySelectorAll('.table-scroll, table.data')]
              .filter(el => el.matches('.table-scroll') || !el.closest('.table-scroll'))
              .map(el => {
                const box = el.getBoundingClientRect();
                return {right: Math.round(box.right - window.innerWidth),
                        scrolls: el.scrollWidth > el.clientWidth,
                        clips: getComputedStyle(el).overflowX};
            }),
            emptyHeadings: [...document.querySelectorAll('th')]
                .filter(th => !th.textContent.trim()).length,
        })"""
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_class_pages_keep_wide_tables_inside_the_window(
    browser, live_server, seeded, instructor, viewport
):
    classroom, students = seeded
    pages = {
        "gradebook": classroom.get_absolute_url(),
        "analytics": reverse("courseware:class_analytics", args=[classroom.pk]),
        "student": reverse("courseware:class_student", args=[classroom.pk, students["ben"].pk]),
        "answers": reverse("courseware:class_question", args=[classroom.pk, "hv-select-type2"]),
        "teach": reverse("courseware:teach"),
        "classes": reverse("courseware:classes"),
    }
    out = ARTIFACTS / viewport
    out.mkdir(parents=True, exist_ok=True)
    context, page = _open(browser, live_server, viewport)
    try:
        _log_in(page, instructor)
        for name, url in pages.items():
            assert page.goto(url).status == 200, url
            page.screenshot(path=out / f"{name}.png", full_page=True)
            found = _overflow(page)
            assert found["page"] <= 0, f"{name} is wider than the {viewport} window"
            assert found["emptyHeadings"] == 0, f"{name} has an empty table heading"
            for region in found["regions"]:
                assert region["right"] <= 0, f"a table on {name} reaches past the window"
                if region["scrolls"]:
                    assert region["clips"] in ("auto", "scroll"), name
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_gradebook_scrolls_lessons_past_a_sticky_student_column(
    browser, live_server, seeded, instructor, viewport
):
    classroom, _ = seeded
    context, page = _open(browser, live_server, viewport)
    try:
        _log_in(page, instructor)
        page.goto(classroom.get_absolute_url())
        region = page.locator(".gradebook-scroll")
        box = region.bounding_box()
        assert page.evaluate(
            "() => { const r = document.querySelector('.gradebook-scroll');"
            " return r.scrollWidth > r.clientWidth; }"
        ), "the gradebook of a whole course is wider than a screen: it must scroll"
        if viewport == "desktop":
            # The totals are in view on a laptop without scrolling.
            for heading in ("Overall", "Mastered", "Labs"):
                cell = page.locator("table.gradebook thead th", has_text=heading).first
                right = cell.bounding_box()["x"] + cell.bounding_box()["width"]
                assert right <= box["x"] + box["width"], heading
        name = page.locator('tr[data-student="ana"] th.student-col')
        before = name.bounding_box()["x"]
        region.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        page.wait_for_function(
            "() => document.querySelector('.gradebook-scroll').scrollLeft > 0", timeout=5_000
        )
        assert abs(name.bounding_box()["x"] - before) < 1, "the student column scrolled away"
        last = page.locator('tr[data-student="ana"] td').last
        last_box = last.bounding_box()
        assert last_box["x"] + last_box["width"] <= box["x"] + box["width"] + 1
        page.screenshot(path=ARTIFACTS / viewport / "gradebook-scrolled.png")
    finally:
        context.close()


def test_analytics_filters_work_without_javascript(browser, live_server, seeded, instructor):
    classroom, _ = seeded
    context, page = _open(browser, live_server, "phone", javascript=False)
    try:
        _log_in(page, instructor)
        page.goto(reverse("courseware:class_analytics", args=[classroom.pk]))
        lesson = Lesson.objects.get(slug="what-is-virtualization")
        page.get_by_label("Lesson").select_option(lesson.slug)
        page.get_by_label("Flag").select_option("negative-discrimination")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(lambda url: "flag=negative-discrimination" in url)
        assert f"lesson={lesson.slug}" in page.url
        rows = page.locator("tr[data-qid]")
        assert [rows.nth(i).get_attribute("data-qid") for i in range(rows.count())] == [
            "wv-tf-minutes",
            "wv-text-host",
        ]
        heading = page.locator("tr[data-qid='wv-tf-minutes'] .question-title")
        assert heading.inner_text().startswith("True or false")
        page.get_by_role("link", name="Show everything").click()
        assert page.locator("tr[data-qid]").count() > 2
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_pages_the_accessibility_tour_does_not_reach_pass_axe(
    browser, live_server, seeded, instructor, viewport
):
    """Pages only these links lead to: answers, one question of a student, a filter."""
    classroom, students = seeded
    analytics = reverse("courseware:class_analytics", args=[classroom.pk])
    urls = [
        reverse("courseware:class_question", args=[classroom.pk, "hv-select-type2"]),
        reverse("courseware:class_student", args=[classroom.pk, students["cy"].pk])
        + "?question=hv-type1-host",
        analytics + "?lesson=hypervisor-types&flag=common-wrong",
        analytics + "?flag=easy&lesson=what-is-virtualization",  # nothing matches
    ]
    axe = _axe_source()
    context, page = _open(browser, live_server, viewport)
    failing = []
    try:
        _log_in(page, instructor)
        for url in urls:
            assert page.goto(url).status == 200, url
            failing += [
                (url, v["id"], [n["target"] for n in v["nodes"]])
                for v in _axe_violations(page, axe)
                if v["impact"] in FAILING_IMPACTS
            ]
    finally:
        context.close()
    assert not failing, failing
