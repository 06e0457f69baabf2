"""An instructor writes a lesson with a quiz entirely in the browser and publishes it; a
student reads it and answers; text typed survives a reload; a stale save is caught."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from courseware.models import Attempt, Lesson
from tests.conftest import PASSWORD
from virtlab.roles import instructors_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUIZ = """\
questions:
  - id: storage-thin-grows
    type: single
    prompt: What does a thin-provisioned disk use on the host at first?
    choices:
      - id: a
        text: Only the blocks the guest has written
        correct: true
      - id: b
        text: Its whole virtual size
    explanation: Space is allocated on the first write to each block.
"""


def log_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def new_page(browser, live_server):
    return browser.new_context(base_url=live_server.url).new_page()


def test_instructor_writes_and_publishes_a_lesson_a_student_answers_it(
    browser, live_server, page, course, instructor, student
):
    log_in(page, instructor.username)
    page.goto("/author/")
    page.get_by_role("link", name="New lesson").click()
    page.get_by_label("Title").fill("Storage basics")
    page.get_by_label("Slug").fill("storage-basics")
    page.get_by_label("Module").select_option(index=1)
    page.get_by_role("button", name="Create and start writing").click()
    page.wait_for_url("**/author/storage-basics/")

    # The preview follows the typing, through the student renderer.
    page.get_by_label("Lesson text (Markdown)").fill("# Storage\n\nA **thin** disk grows.\n")
    preview = page.locator("#preview")
    expect(preview.locator("strong")).to_have_text("thin")
    page.get_by_label("Quiz (quiz.yaml)").fill("questions: [oops")
    expect(preview).to_contain_text("Cannot be published yet")
    page.get_by_label("Quiz (quiz.yaml)").fill(QUIZ)
    expect(preview).to_contain_text("No problems")

    # A reload before saving loses nothing: the browser offers the text back.
    page.wait_for_timeout(600)  # the local copy is written 0.4 s after typing stops
    page.reload()
    expect(page.get_by_text("never saved")).to_be_visible()  # the server's copy
    page.get_by_role("button", name="Put it back").click()
    expect(page.get_by_label("Lesson text (Markdown)")).to_have_value(re.compile("thin"))

    page.keyboard.press("Control+s")  # saves a draft
    expect(page.get_by_text("Saved revision 2 as a draft")).to_be_visible()
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_text("students see it now")).to_be_visible()
    lesson = Lesson.objects.get(slug="storage-basics")
    assert lesson.published and lesson.published_revision.number == 2
    assert page.console_errors == []

    reader = new_page(browser, live_server)
    log_in(reader, student.username)
    reader.goto("/lessons/storage-basics/")
    expect(reader.locator("article strong").first).to_have_text("thin")
    reader.goto("/lessons/storage-basics/quiz/")
    reader.get_by_label("Only the blocks the guest has written").check()
    reader.locator("#q-storage-thin-grows button[type=submit]").click()
    expect(reader.locator("#q-storage-thin-grows")).to_contain_text("Correct")
    assert Attempt.objects.filter(user=student, qid="storage-thin-grows", correct=True).exists()
    reader.context.close()


def test_a_second_instructors_stale_save_is_caught(browser, live_server, page, course, instructor):
    other = get_user_model().objects.create_user("co-teacher", password=PASSWORD)
    other.groups.add(instructors_group())
    second = new_page(browser, live_server)
    log_in(page, instructor.username)
    log_in(second, other.username)
    page.goto("/author/hypervisor-types/")
    second.goto("/author/hypervisor-types/")

    page.get_by_label("Title").fill("Hypervisors: type 1 and type 2")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Saved revision 2")).to_be_visible()

    body = second.get_by_label("Lesson text (Markdown)")
    body.fill(body.input_value() + "\nA sentence from the co-teacher.\n")
    second.get_by_role("button", name="Save draft").click()
    expect(second.get_by_role("heading", level=1)).to_contain_text("Someone else saved")
    expect(second.locator(".diff-unified")).to_contain_text("Hypervisors: type 1 and type 2")
    lesson = Lesson.objects.get(slug="hypervisor-types")
    assert lesson.revisions.order_by("-number").first().content["title"] == (
        "Hypervisors: type 1 and type 2"
    )
    # Keeping their own text is a deliberate choice, and it becomes revision 3.
    second.get_by_role("button", name=re.compile("Keep yours")).click()
    expect(second.get_by_text("Saved revision 3")).to_be_visible()
    second.context.close()


def test_text_typed_while_the_connection_is_down_is_offered_back(page, course, instructor):
    log_in(page, instructor.username)
    page.goto("/author/hypervisor-types/")
    page.context.set_offline(True)
    body = page.get_by_label("Lesson text (Markdown)")
    body.fill(body.input_value() + "\nWritten on a train with no signal.\n")
    page.wait_for_timeout(1000)  # the local copy is written 0.4 s after typing stops
    page.context.set_offline(False)
    page.reload()
    # The server never got it (no preview reached it), but the browser kept it.
    expect(page.get_by_text("never saved")).to_have_count(0)
    page.get_by_role("button", name="Put it back").click()
    expect(body).to_have_value(re.compile("Written on a train"))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Saved revision 2")).to_be_visible()
    assert (
        "Written on a train"
        in Lesson.objects.get(slug="hypervisor-types").revisions.get(number=2).content["body"]
    )
