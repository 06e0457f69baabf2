"""A student does a guided exercise's first step in the browser: opens a container
terminal on the exercise page (served as `make run` serves it, real sandboxes behind
it), types the step's commands, presses Check and reads "Done"."""

from __future__ import annotations

import pytest

from courseware.models import ExerciseStep, StepCompletion
from tests.browser.test_terminal_flow import served, student_page, type_and_read  # noqa: F401
from tests.terminals.conftest import runc  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_a_step_is_checked_in_the_students_container(course, student, student_page, runc):  # noqa: F811
    page = student_page
    page.goto("/lessons/containers/exercises/inside-a-container-and-a-vm/")
    step = page.locator("#step-check-container-kernel")
    # Before the work, the check says what is missing (and nothing is recorded).
    page.get_by_role("button", name="Open a container terminal").click()
    page.locator("[data-terminal-status]").filter(has_text="Connected to your container").wait_for(
        timeout=60_000
    )
    step.get_by_role("button", name="Check").click()
    step.get_by_text("/tmp/answers/kernel is missing or empty").wait_for(timeout=30_000)
    type_and_read(
        page, "mkdir -p /tmp/answers && uname -r > /tmp/answers/kernel; echo END$((1+1))", "END2"
    )
    step.get_by_role("button", name="Check").click()
    step.get_by_text("Done: the check found what this step asks for.").wait_for(timeout=30_000)
    assert "1 of 7 steps done" in page.locator("#exercise-count").inner_text()
    assert StepCompletion.objects.filter(
        user=student, step=ExerciseStep.objects.get(key="check-container-kernel")
    ).exists()
    assert not page.js_errors
