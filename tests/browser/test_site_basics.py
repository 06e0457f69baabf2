"""What a student sees first on a phone (issue 11, site basics): the lesson's title
before its contents, task lists as plain markers, units that are words beside an
input and not a button. Screenshots go to ``var/test-artifacts/basics/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VIRTLAB_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
LESSON = "what-is-virtualization"  # has contents, a task list and a prediction


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def test_on_a_phone_the_lesson_title_comes_before_its_contents(phone, course):
    phone.goto(reverse("courseware:lesson", args=[LESSON]))
    out = ARTIFACTS / "basics"
    out.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=out / "lesson-phone.png")
    title = phone.get_by_role("heading", level=1).bounding_box()
    contents = phone.get_by_role("navigation", name="On this page").bounding_box()
    assert title["y"] + title["height"] <= contents["y"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_task_lists_are_plain_markers_not_disabled_checkboxes(phone, course):
    phone.goto(reverse("courseware:lesson", args=[LESSON]))
    items = phone.locator(".prose .task-list-item")
    assert items.count() >= 3
    # The checkboxes the Markdown produces are out of sight and out of the
    # accessibility tree; each item shows a marker drawn by CSS instead.
    boxes = phone.locator(".prose .task-list-item input")
    assert all(not boxes.nth(i).is_visible() for i in range(boxes.count()))
    assert phone.locator(".prose").first.get_by_role("checkbox").count() == 0
    marker = items.first.evaluate("e => getComputedStyle(e, '::before').content")
    assert "☐" in marker


def test_units_beside_an_answer_do_not_look_like_a_button(phone, course):
    phone.goto(reverse("courseware:quiz", args=[LESSON]))
    units = phone.locator("#q-wv-predict-boot-race .units")
    units.scroll_into_view_if_needed()
    (ARTIFACTS / "basics").mkdir(parents=True, exist_ok=True)
    phone.locator("#q-wv-predict-boot-race").screenshot(path=ARTIFACTS / "basics" / "units.png")
    style = units.evaluate(
        """e => { const s = getComputedStyle(e); return {
            border: s.borderTopWidth, weight: s.fontWeight, cursor: s.cursor,
            shadow: s.boxShadow, tag: e.tagName, role: e.getAttribute('role'),
            tabindex: e.getAttribute('tabindex')}; }"""
    )
    # Not a control: no pointer, no border or shadow of its own, plain weight text.
    assert style == {
        "border": "0px",
        "weight": "400",
        "cursor": "default",
        "shadow": "none",
        "tag": "SPAN",
        "role": None,
        "tabindex": None,
    }
    # A lone "×" beside a field reads as a button to clear it: it is spelled out.
    assert units.inner_text() == "times"
    # It reads as the end of the field: inside the frame the input's number starts.
    field = phone.locator("#q-wv-predict-boot-race .number-answer")
    frame, box = field.bounding_box(), units.bounding_box()
    assert field.evaluate("e => getComputedStyle(e).borderTopWidth") == "1px"
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
