"""Predict, then measure, as a student goes through it in chromium on a phone: the
prediction is saved without giving the explanation away, the lab page says what was
predicted and when, the run that scores it says so, and a try refused for the
minimum gap leaves the feedback already shown in place. Screenshots go to
``var/test-artifacts/predict/``."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from courseware.models import Attempt, Quiz
from labs.models import LabRun
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VIRTLAB_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
QID = "wv-predict-boot-race"
EXPLANATION = "On our test machine a VM took roughly 2.3 s"


@pytest.fixture
def phone(browser, live_server, student):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(student.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    (ARTIFACTS / "predict").mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def test_a_prediction_is_saved_then_scored_by_the_students_own_run(phone, course, student):
    phone.goto(reverse("courseware:quiz", args=["what-is-virtualization"]))
    question = phone.locator(f"#q-{QID}")
    question.get_by_label("Your prediction in times").fill("60")
    question.get_by_role("button", name="Save my prediction").click()
    question.get_by_text("Prediction saved: 60 ×").wait_for()
    question.screenshot(path=ARTIFACTS / "predict" / "saved.png")
    assert EXPLANATION not in phone.content()

    phone.goto(reverse("labs:detail", args=["boot-race"]))
    line = phone.locator(".predictions li", has=phone.locator(f'a[href$="#q-{QID}"]'))
    assert "Your prediction: 60 ×, saved" in line.inner_text()
    assert "The next run you start scores it." in line.inner_text()

    made = Attempt.objects.get().created_at
    run = LabRun.objects.create(
        user=student,
        lab="boot-race",
        status=LabRun.Status.SUCCEEDED,
        results={"samples": [], "summary": {"vm_over_container_median": 100.0}},
        created_at=made + timedelta(seconds=1),
        finished_at=timezone.now(),
    )
    phone.goto(run.get_absolute_url())
    outcome = phone.locator(".predict-outcome")
    assert "You predicted 60 ×, measured 100 ×, scored 100 %" in outcome.inner_text()
    phone.screenshot(path=ARTIFACTS / "predict" / "run.png")

    outcome.get_by_role("link", name="The question and its explanation").click()
    phone.locator(f"#q-{QID}").get_by_text(EXPLANATION).wait_for()


def test_a_try_refused_for_the_gap_leaves_the_feedback_in_place(phone, course):
    Quiz.objects.filter(lesson__slug="hypervisor-types").update(min_seconds_between=600)
    phone.goto(reverse("courseware:quiz", args=["hypervisor-types"]))
    question = phone.locator("#q-hv-type1-host")
    question.get_by_label("It can only run one guest at a time").check()
    question.get_by_role("button", name="Check answer").click()
    feedback = question.get_by_text("Type 1 hypervisors typically run many guests at once.")
    feedback.wait_for()

    question.get_by_label("It is free and open source").check()
    question.get_by_role("button", name="Check answer").click()
    question.locator(".quiz-error").wait_for()
    assert "Please wait" in question.locator(".quiz-error").inner_text()
    assert feedback.is_visible()
    assert "Not correct." in question.locator(".question-result").inner_text()
    assert question.get_by_label("It is free and open source").is_checked()
    question.screenshot(path=ARTIFACTS / "predict" / "refused.png")
    assert Attempt.objects.count() == 1
