"""An instructor adds a single-choice question with the quiz forms, saves and publishes
it; a student then finds it on the quiz page and answers it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from courseware.models import Lesson, Question
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLUG = "hypervisor-types"


def log_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_instructor_adds_a_question_with_the_forms_and_a_student_answers_it(
    browser, live_server, page, course, instructor, student
):
    lesson = Lesson.objects.get(slug=SLUG)
    before = Question.objects.filter(quiz__lesson=lesson, retired=False).count()
    log_in(page, instructor.username)
    page.goto(f"/author/{SLUG}/")
    page.get_by_role("link", name="Edit the quiz as forms").click()
    page.wait_for_url(f"**/author/{SLUG}/quiz/")

    page.get_by_label("Kind of question").select_option("single")
    page.get_by_role("button", name="Add question").click()
    card = page.locator(f"#question-{before + 1}")
    expect(card.locator("legend").first).to_contain_text("Single choice")
    card.get_by_label("Question id").fill("hv-forms-added")
    card.get_by_label("Prompt (Markdown)").fill("Which hypervisor did the **forms** add?")
    card.get_by_label("Text (Markdown)").nth(0).fill("Hyper-V")
    card.get_by_label("Text (Markdown)").nth(1).fill("KVM")
    card.get_by_label("Correct answer").nth(1).check()
    card.get_by_label("Feedback when chosen (optional)").nth(0).fill("Not this one.")
    card.get_by_role("button", name="Add a choice").click()  # saves nothing
    expect(page).to_have_url(re.compile(rf"/quiz/#question-{before + 1}$"))  # back at the card
    card = page.locator(f"#question-{before + 1}")
    card.get_by_label("Text (Markdown)").nth(2).fill("Xen")
    expect(card.get_by_label("Correct answer").nth(1)).to_be_checked()
    assert lesson.revisions.count() == 1

    preview = page.locator(".quiz-preview")
    page.get_by_role("button", name="Check and preview").first.click()
    expect(preview.locator("strong", has_text="forms")).to_be_visible()
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_text("students see it now")).to_be_visible()
    lesson.refresh_from_db()
    question = Question.objects.get(qid="hv-forms-added")
    assert question.quiz.lesson == lesson and question.spec["choices"][1]["correct"] is True
    assert [c["text"] for c in question.spec["choices"]] == ["Hyper-V", "KVM", "Xen"]
    assert page.console_errors == []

    student_page = browser.new_context(base_url=live_server.url).new_page()
    log_in(student_page, student.username)
    student_page.goto(f"/lessons/{SLUG}/quiz/")
    slot = student_page.locator("#q-hv-forms-added")
    expect(slot).to_contain_text("Which hypervisor did the forms add?")
    slot.get_by_label("KVM").check()
    slot.get_by_role("button", name="Check answer").click()
    expect(slot.get_by_text("Correct.")).to_be_visible()
    student_page.context.close()


def test_text_typed_in_the_quiz_forms_survives_a_reload(page, course, instructor):
    log_in(page, instructor.username)
    page.goto(f"/author/{SLUG}/quiz/")
    prompt = page.locator("#f-0-prompt")
    prompt.fill("A prompt rewritten and not saved yet")
    page.wait_for_timeout(1000)  # the local copy is written 0.4 s after typing stops
    page.goto(f"/author/{SLUG}/quiz/")  # a fresh load, as after a crash
    expect(prompt).not_to_have_value("A prompt rewritten and not saved yet")
    page.get_by_role("button", name="Put it back").click()
    expect(prompt).to_have_value("A prompt rewritten and not saved yet")
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved revision 2")).to_be_visible()
