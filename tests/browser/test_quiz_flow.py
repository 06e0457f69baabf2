import csv
import io
from pathlib import Path

import pytest

from courseware.models import Attempt, Question, Quiz
from courseware.quizzes.grading import item_key
from tests.conftest import PASSWORD
from tests.courseware.quiz_helpers import seed_class

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def tab_to(page, selector, limit=80):
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"could not reach {selector} with the keyboard")


def test_student_answers_a_quiz_with_the_keyboard_only(page, course, student):
    log_in(page, student.username)
    page.goto("/lessons/hypervisor-types/quiz/")

    # Single choice: Tab into the radio group, pick the first option with Space, submit.
    tab_to(page, "#q-hv-type1-host input[name=choice]")
    page.keyboard.press("Space")
    tab_to(page, "#q-hv-type1-host button[type=submit]")
    page.keyboard.press("Enter")
    result = page.locator("#q-hv-type1-host .question-result")
    result.wait_for()
    assert "Correct." in result.inner_text()
    # The result takes the focus, so a screen reader announces it.
    assert page.evaluate("document.activeElement.classList.contains('question-result')")
    assert page.url.endswith("/lessons/hypervisor-types/quiz/")  # swapped in place by htmx

    # Ordering: each step has a position select; typing a digit picks the position.
    question = Question.objects.get(qid="hv-order-vm-exit")
    items = question.spec["items"]
    for _ in items:
        tab_to(page, "#q-hv-order-vm-exit select:not([data-done])")
        key = page.evaluate("document.activeElement.name").removeprefix("pos-")
        position = (
            next(i for i, text in enumerate(items) if item_key(question.qid, text) == key) + 1
        )
        page.keyboard.press(str(position))
        page.evaluate("document.activeElement.dataset.done = '1'")
    tab_to(page, "#q-hv-order-vm-exit button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#q-hv-order-vm-exit .question-result").wait_for()
    assert "Correct." in page.locator("#q-hv-order-vm-exit .question-result").inner_text()

    # A wrong true/false answer says so, keeps the answer hidden while tries remain
    # (after_last policy) and updates the score out of band.
    tab_to(page, "#q-hv-tf-nested input[value=true]")
    page.keyboard.press("Space")
    tab_to(page, "#q-hv-tf-nested button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#q-hv-tf-nested .question-result").wait_for()
    text = page.locator("#q-hv-tf-nested .question-result").inner_text()
    assert "Not correct." in text and "Explanation" not in text and "Correct answer" not in text
    assert "2 attempts left" in page.locator("#q-hv-tf-nested").inner_text()
    size = Quiz.objects.get(lesson__slug="hypervisor-types").questions.active().count()
    score = f"Your score: {round(200 / size)} %"  # 2 questions right, out of band
    assert score in page.locator("#quiz-score").inner_text()

    attempts = Attempt.objects.filter(user=student).order_by("pk")
    assert [(a.qid, a.correct) for a in attempts] == [
        ("hv-type1-host", True),
        ("hv-order-vm-exit", True),
        ("hv-tf-nested", False),
    ]
    assert page.console_errors == []


def test_a_failed_submission_says_so_and_keeps_the_answer(page, course, student):
    """htmx swaps nothing on an error; the page must still tell the student."""
    log_in(page, student.username)
    page.goto("/lessons/hypervisor-types/quiz/")
    box = page.locator("#q-hv-text-device")
    box.locator("input[name=value]").fill("/dev/kvm")
    # The question is withdrawn while the page is open: the server answers 404.
    Question.objects.filter(qid="hv-text-device").update(retired=True)
    box.get_by_role("button", name="Check answer").click()
    note = box.locator(".request-error")
    note.wait_for()
    assert "error 404" in note.inner_text() and note.get_attribute("role") == "alert"
    assert box.locator("input[name=value]").input_value() == "/dev/kvm"
    assert not Attempt.objects.exists()


def test_instructor_opens_the_gradebook_and_downloads_the_csv(page, course, instructor):
    classroom, _ = seed_class(instructor)
    log_in(page, instructor.username)
    page.get_by_role("link", name="Classes").click()
    page.get_by_role("link", name="Seeded class").first.click()
    page.wait_for_url(f"**{classroom.get_absolute_url()}")
    table = page.get_by_role("table")
    assert table.get_by_role("row").count() == 5  # heading + 4 students
    row = table.get_by_role("row").filter(has_text="ana")
    # seed_class: ana has 4 points and ben 11/3 on hypervisor-types (see test_gradebook.py)
    size = Quiz.objects.get(lesson__slug="hypervisor-types").questions.active().count()
    assert "Done" in row.inner_text() and f"{round(400 / size)} %" in row.inner_text()

    page.get_by_role("link", name="Overall").click()  # sort by the overall score
    page.wait_for_url("**sort=overall**")
    names = [cell.inner_text() for cell in table.locator("tbody th").all()]
    assert names == ["dee", "cy", "ben", "ana"]

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == "gradebook-seeded-class.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["username", "overall score", "lessons mastered", "labs run"]
    by_name = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_name) == ["ana", "ben", "cy", "dee"]
    assert by_name["ana"]["hypervisor-types score"] == f"{4 / size:.3f}"
    assert by_name["ben"]["hypervisor-types score"] == f"{11 / 3 / size:.3f}"

    page.get_by_role("link", name="Question analytics").first.click()
    hard = page.locator('tr[data-qid="wv-tf-minutes"]')
    assert "too hard" in hard.inner_text() and "negative discrimination" in hard.inner_text()
    assert page.console_errors == []
