"""Sessions and their users read by prepared queries (virtlab/sessions.py): the same
answers as Django's own backends, every time, for a password sign-in and a forced one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from virtlab.sessions import MODEL_BACKEND, SESSION_USER_BACKEND, SessionStore

from .conftest import PASSWORD


def signed_in(client: Client) -> str | None:
    """The username the page header shows, or None for a visitor."""
    html = client.get(reverse("courseware:home")).content.decode()
    if '<span class="who">' not in html:
        return None
    return html.split('<span class="who">', 1)[1].split("<", 1)[0]


@pytest.fixture
def by_password(student):
    client = Client()
    page = client.post(reverse("login"), {"username": "stu", "password": PASSWORD})
    assert page.status_code == 302
    return client


def test_a_session_reads_as_djangos_own_store_reads_it(by_password):
    key = by_password.cookies["sessionid"].value
    ours, django_s = SessionStore(key).load(), DjangoStore(key).load()
    assert django_s[BACKEND_SESSION_KEY] == MODEL_BACKEND  # what sign-in wrote
    assert ours == {**django_s, BACKEND_SESSION_KEY: SESSION_USER_BACKEND}
    # Read only: the row keeps what sign-in wrote.
    assert DjangoStore(key).load()[BACKEND_SESSION_KEY] == MODEL_BACKEND


def test_an_unknown_or_expired_session_reads_empty_and_drops_its_key(by_password):
    key = by_password.cookies["sessionid"].value
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))
    expired = SessionStore(key)
    assert expired.load() == {} and expired.session_key is None
    assert signed_in(by_password) is None


def test_signed_in_by_password_or_forced_the_page_knows_the_student(by_password, student):
    assert signed_in(by_password) == "stu"
    forced = Client()
    forced.force_login(student)
    assert signed_in(forced) == "stu"


def test_the_user_is_read_afresh_on_every_page(by_password, student):
    assert signed_in(by_password) == "stu"
    get_user_model().objects.filter(pk=student.pk).update(username="renamed")
    assert signed_in(by_password) == "renamed"


def test_a_deactivated_account_is_signed_out_at_once(by_password, student):
    student.is_active = False
    student.save()
    assert signed_in(by_password) is None


def test_a_password_changed_elsewhere_ends_the_session(by_password, student):
    student.set_password("another-long-passphrase-77")
    student.save()
    assert signed_in(by_password) is None


def test_signing_out_ends_the_session(by_password):
    key = by_password.cookies["sessionid"].value
    by_password.post(reverse("logout"))
    assert signed_in(by_password) is None
    assert SessionStore(key).load() == {}


def test_a_session_of_a_user_deleted_since_has_no_user(by_password, student):
    student.delete()
    assert signed_in(by_password) is None


def test_the_backend_signs_no_one_in(student):
    from virtlab.sessions import SessionUserBackend

    assert SessionUserBackend().authenticate(None, username="stu", password=PASSWORD) is None
    assert SessionUserBackend().get_user(student.pk).username == "stu"
