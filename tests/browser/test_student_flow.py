import pytest
from django.contrib.auth import get_user_model

from courseware.models import LessonProgress
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_signs_up_reads_and_marks_a_lesson_done(page, course):
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")
    assert "Welcome, ada" in page.content()

    page.get_by_role("link", name="Hypervisor types").click()
    page.wait_for_url("**/lessons/hypervisor-types/")
    assert page.get_by_role("navigation", name="On this page").is_visible()

    # Marked done through htmx: the button is swapped in place, no page load.
    page.get_by_role("button", name="Mark as done").click()
    page.get_by_text("You marked this lesson as done").wait_for()
    assert page.get_by_role("button", name="Mark as not done").is_visible()

    page.get_by_role("link", name="Course", exact=True).click()
    item = page.locator(".outline-item", has_text="Hypervisor types")
    assert item.locator(".state").inner_text() == "Done"
    user = get_user_model().objects.get(username="ada")
    assert LessonProgress.objects.get(user=user, lesson__slug="hypervisor-types").state == "done"
    assert page.console_errors == []


def test_anonymous_user_is_sent_to_login_from_an_instructor_page(page, course):
    page.goto("/teach/")
    page.wait_for_url("**/accounts/login/?next=/teach/")
    assert page.get_by_role("heading", name="Log in").is_visible()


def test_lesson_is_keyboard_usable(page, course):
    page.goto("/lessons/what-is-virtualization/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
