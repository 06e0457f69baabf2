"""Sign-in lockouts, the per-address budgets, and unlocking."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.management import call_command
from django.urls import reverse

from courseware import throttle
from tests.conftest import PASSWORD

User = get_user_model()

# Budgets count in fixed windows (throttle.py). A test's few seconds must not straddle
# the end of one, or its count starts again half-way (this failed a CI run once): the
# smaller budgets the tests use get a window far longer than any test run.
ONE_WINDOW = 10**9


@pytest.fixture(autouse=True)
def _fresh_counters(db):
    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


def sign_in(client, username, password, url=None, address="203.0.113.7"):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_an_account_is_locked_after_five_wrong_passwords_even_for_the_right_one(client, student):
    for _ in range(4):
        assert sign_in(client, "stu", "wrong-guess").status_code == 200
    assert sign_in(client, "stu", "wrong-guess").status_code == 429  # the fifth locks it
    locked = sign_in(client, "stu", PASSWORD)
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "locked for 15 minutes" in body and "ask your instructor" in body
    assert not client.get(reverse("courseware:home")).context["user"].is_authenticated


def test_unknown_and_known_accounts_get_the_same_answers(client, student):
    def answers(username):
        seen = []
        for _ in range(6):
            response = sign_in(client, username, "wrong-guess")
            seen.append((response.status_code, _visible_text(response)))
        return seen

    assert answers("stu") == answers("nobody-by-this-name")


def _visible_text(response) -> str:
    # The sign-in page minus what differs on every request (the CSP nonce, the CSRF
    # token, the username echoed back into the form).
    body = re.sub(r'(nonce="|X-CSRFToken": ")[^"]*', "", response.content.decode())
    return "".join(
        line for line in body.splitlines() if "csrf" not in line and "value=" not in line
    )


def test_a_lockout_expires(client, student, settings):
    for _ in range(5):
        sign_in(client, "stu", "wrong-guess")
    assert sign_in(client, "stu", PASSWORD).status_code == 429
    # Move the failures back past the cool-off time instead of waiting 15 minutes.
    past = AccessAttempt.objects.get(username="stu").attempt_time - settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.update(attempt_time=past)
    assert sign_in(client, "stu", PASSWORD).status_code == 302


def test_an_admin_can_unlock_an_account(client, student):
    for _ in range(5):
        sign_in(client, "stu", "wrong-guess")
    assert sign_in(client, "stu", PASSWORD).status_code == 429
    call_command("axes_reset_username", "stu")
    assert sign_in(client, "stu", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_locked_too(client, db):
    User.objects.create_superuser("root", password=PASSWORD)
    url = reverse("admin:login")
    for _ in range(5):
        sign_in(client, "root", "wrong-guess", url=url)
    assert sign_in(client, "root", PASSWORD, url=url).status_code == 429


def test_one_address_guessing_many_accounts_is_stopped(client, student, monkeypatch):
    # A smaller budget than the real one, so the test hashes fewer passwords.
    budget = throttle.Budget("login-address", 8, ONE_WINDOW)
    monkeypatch.setattr(throttle, "LOGIN_FAILURES_PER_ADDRESS", budget)
    for index in range(budget.limit):
        assert sign_in(client, f"guess{index}", "wrong").status_code == 200
    refused = sign_in(client, "stu", PASSWORD)
    assert refused.status_code == 429
    assert "from your network" in refused.content.decode()
    # Another address is not affected, and the student's own account is not locked.
    assert sign_in(client, "stu", PASSWORD, address="198.51.100.20").status_code == 302


def test_signups_per_address_are_limited_and_a_refused_one_saves_nothing(client, db, monkeypatch):
    budget = throttle.Budget("signup-address", 3, ONE_WINDOW)
    monkeypatch.setattr(throttle, "SIGNUPS_PER_ADDRESS", budget)
    for index in range(budget.limit):
        response = client.post(
            reverse("signup"),
            {"username": f"new{index}", "password1": PASSWORD, "password2": PASSWORD},
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 302
        client.post(reverse("logout"))
    refused = client.post(
        reverse("signup"),
        {"username": "one-too-many", "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR="203.0.113.9",
    )
    assert refused.status_code == 429
    assert "nothing was saved" in refused.content.decode()
    assert not User.objects.filter(username="one-too-many").exists()


def test_the_client_address_behind_proxies(rf, settings):
    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.0.0.5", REMOTE_ADDR="10.0.0.9")
    settings.VIRTLAB_PROXY_COUNT = 0
    assert throttle.client_address(request) == "10.0.0.9"
    settings.VIRTLAB_PROXY_COUNT = 1
    assert throttle.client_address(request) == "10.0.0.5"  # what our own proxy saw
    settings.VIRTLAB_PROXY_COUNT = 2
    assert throttle.client_address(request) == "1.2.3.4"


def test_a_forged_forwarded_address_still_signs_in(client, student, settings):
    # Behind a proxy a client may write anything into X-Forwarded-For. Axes keeps the
    # address in an IP column (PostgreSQL's inet refuses "not-an-ip"): it stores none.
    settings.VIRTLAB_PROXY_COUNT = 2
    forged = {"HTTP_X_FORWARDED_FOR": "not-an-ip, 10.0.0.5", "REMOTE_ADDR": "10.0.0.9"}
    login = reverse("login")
    wrong = client.post(login, {"username": "stu", "password": "wrong"}, **forged)
    assert wrong.status_code == 200
    assert AccessAttempt.objects.get(username="stu").ip_address is None
    right = client.post(login, {"username": "stu", "password": PASSWORD}, **forged)
    assert right.status_code == 302


def test_axes_gets_an_address_or_none(rf, settings):
    settings.VIRTLAB_PROXY_COUNT = 1
    assert throttle.axes_client_address(rf.get("/", REMOTE_ADDR="2001:db8::1")) == "2001:db8::1"
    assert throttle.axes_client_address(rf.get("/", HTTP_X_FORWARDED_FOR="unknown")) is None
    assert throttle.axes_client_address(rf.get("/", REMOTE_ADDR="")) is None


def test_wait_descriptions():
    assert throttle.describe_wait(1) == "1 second"
    assert throttle.describe_wait(59) == "59 seconds"
    assert throttle.describe_wait(61) == "2 minutes"


def test_wrong_join_codes_are_limited_per_student(student_client, instructor, monkeypatch):
    from courseware.classes.services import class_create
    from courseware.models import Membership

    classroom = class_create(instructor=instructor, name="Real class")
    monkeypatch.setattr(
        throttle, "JOIN_FAILURES_PER_USER", throttle.Budget("join-user", 5, ONE_WINDOW)
    )
    url = reverse("courseware:class_join")
    for guess in range(5):
        response = student_client.post(url, {"code": f"WRONG{guess:03d}"})
        assert (
            response.status_code == 400
            and "No class has that join code" in response.content.decode()
        )
    # Now even the right code is refused until the window ends, and nothing is joined.
    refused = student_client.post(url, {"code": classroom.join_code})
    assert refused.status_code == 429
    assert "Too many wrong join codes" in refused.content.decode()
    assert not Membership.objects.filter(classroom=classroom).exists()
