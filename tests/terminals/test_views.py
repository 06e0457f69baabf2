"""The terminal pages and forms: sign-in, ownership, the per-student limit."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from terminals.models import TerminalSession
from terminals.services import TooManyTerminals, start_session


@pytest.fixture
def no_host(settings):
    settings.VIRTLAB_TERMINAL_SOCKET = "/run/virtlab/no-such-terminal-host.sock"


def test_every_terminal_page_needs_a_signed_in_user(db, student):
    session = start_session(student, "container")
    anonymous = Client()
    for name, args, method in [
        ("terminals:index", [], "get"),
        ("terminals:session", [session.public_id], "get"),
        ("terminals:start", [], "post"),
        ("terminals:end", [session.public_id], "post"),
    ]:
        response = getattr(anonymous, method)(reverse(name, args=args), {"kind": "vm"})
        assert response.status_code == 302 and "/login" in response["Location"], name
    assert TerminalSession.objects.count() == 1
    assert TerminalSession.objects.get().status == "waiting"


def test_a_student_sees_and_ends_only_their_own_terminals(db, student, instructor, no_host):
    theirs = start_session(instructor, "vm")
    client = Client()
    client.force_login(student)
    assert client.get(reverse("terminals:session", args=[theirs.public_id])).status_code == 404
    assert client.get(reverse("terminals:session", args=[uuid.uuid4()])).status_code == 404
    response = client.post(reverse("terminals:end", args=[theirs.public_id]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "waiting"


def test_starting_opens_a_session_and_the_page_shows_its_terminal(student_client, student):
    response = student_client.post(
        reverse("terminals:start"), {"kind": "container", "next": "/terminals/"}
    )
    assert response.status_code == 302 and response["Location"] == "/terminals/"
    session = TerminalSession.objects.get(user=student)
    assert session.kind == "container" and session.status == "waiting"
    page = student_client.get("/terminals/").content.decode()
    assert f'data-ws="/ws/terminals/{session.public_id}/"' in page
    assert "10 minutes without typing" in page and "45 minutes in all" in page


def test_one_terminal_at_a_time_unless_the_student_replaces_it(student_client, student, no_host):
    first = start_session(student, "container")
    with pytest.raises(TooManyTerminals):
        start_session(student, "vm")
    response = student_client.post(reverse("terminals:start"), {"kind": "vm"}, follow=True)
    assert "terminal open at a time" in response.content.decode()
    assert TerminalSession.objects.filter(user=student).count() == 1
    student_client.post(reverse("terminals:start"), {"kind": "vm", "replace": "1"})
    first.refresh_from_db()
    assert first.status == "ended" and first.end_reason == "Replaced by a new terminal."
    assert TerminalSession.objects.get(user=student, status="waiting").kind == "vm"


def test_bad_input_changes_nothing(student_client, student):
    response = student_client.post(reverse("terminals:start"), {"kind": "mainframe"}, follow=True)
    assert "There is no “mainframe” terminal" in response.content.decode()
    assert not TerminalSession.objects.exists()
    assert student_client.get(reverse("terminals:start")).status_code == 405


def test_a_next_address_off_the_site_is_ignored(student_client):
    response = student_client.post(
        reverse("terminals:start"), {"kind": "container", "next": "https://evil.example/"}
    )
    assert response["Location"].startswith("/terminals/")


def test_ending_says_so_and_an_ended_terminal_offers_a_new_one(student_client, student, no_host):
    session = start_session(student, "container")
    response = student_client.post(reverse("terminals:end", args=[session.public_id]), follow=True)
    assert "Your terminal has ended" in response.content.decode()
    page = student_client.get(session.get_absolute_url()).content.decode()
    assert "This terminal has ended: Ended by the student." in page
    assert "Open a container terminal" in page and "data-ws=" not in page


def test_a_page_that_never_connected_does_not_count_against_the_limit(student, settings, no_host):
    from datetime import timedelta

    from django.utils import timezone

    stale = start_session(student, "container")
    TerminalSession.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.VIRTLAB_TERMINAL_GRACE_SECONDS + 5)
    )
    assert start_session(student, "vm").kind == "vm"
    stale.refresh_from_db()
    assert stale.status == "ended" and stale.end_reason == "The page never connected."


def test_a_lab_page_offers_the_terminals_its_lab_names(student_client, client):
    page = student_client.get(reverse("labs:detail", args=["sandboxed-containers"])).content
    page = page.decode()
    for label in ("container", "VM", "container-in-a-VM"):
        assert f"Open a {label} terminal" in page
    assert (
        "Look for yourself"
        not in student_client.get(reverse("labs:detail", args=["networking"])).content.decode()
    )
    # A visitor who is not signed in is offered nothing to press.
    anonymous = client.get(reverse("labs:detail", args=["isolation"])).content.decode()
    assert "Open a container terminal" not in anonymous
