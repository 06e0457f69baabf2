"""LTI in a real browser: a launch inside the LMS's frame, an answer whose score
reaches the LMS, and a teacher's deep-linking choice posted back to the LMS."""

from __future__ import annotations

import time
from urllib.parse import quote

import jwt
import pytest

from tests.lti.platform import INSTRUCTOR

from .lti_platform import login_url, registered_platform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lms(live_server, course):
    platform = registered_platform(live_server)
    yield platform
    platform.close()


def wait_for(condition, seconds: float = 30.0):
    """Poll until ``condition()`` is truthy (the worker side runs after the page)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError("the LMS never received it")


def test_a_student_works_inside_the_lms_frame_and_the_score_reaches_the_lms(
    browser, live_server, lms
):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{lms.base}/course?login={quote(login_url(live_server, lms))}")
        frame = page.frame_locator("iframe[title=virtlab]")
        # Framed: the CSP names the LMS's origin, and the session cookie stayed.
        heading = frame.get_by_role("heading", level=1)
        heading.wait_for()
        assert "Hypervisor types" in heading.inner_text()
        question = frame.locator("#q-hv-type1-host")
        question.locator("input[name=choice]").first.check()
        question.get_by_role("button", name="Check").click()
        question.locator(".question-result").wait_for()
        score = wait_for(lambda: lms.recorded("/lineitem/scores"))[-1].json()
        assert score["userId"] == "student-42" and score["scoreMaximum"] == 100
    finally:
        context.close()


def test_a_teacher_picks_a_quiz_from_inside_the_lms(browser, live_server, lms):
    lms.next_claims = {
        "sub": "teacher-1",
        "roles": [INSTRUCTOR],
        "message_type": "LtiDeepLinkingRequest",
    }
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{lms.base}/course?login={quote(login_url(live_server, lms))}")
        frame = page.frame_locator("iframe[title=virtlab]")
        frame.get_by_role("heading", name="Choose what to add to your course").wait_for()
        frame.get_by_label("Quiz: Hypervisor types", exact=False).first.check()
        frame.get_by_role("button", name="Add to the course").click()
        [returned] = wait_for(lambda: lms.recorded("/deep-link-return"))
        token = returned.form()["JWT"]
        claims = jwt.decode(token, options={"verify_signature": False})
        items = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
        assert [item["custom"]["virtlab_target"] for item in items] == ["quiz/hypervisor-types"]
    finally:
        context.close()
