"""The WebSocket end (consumers.py, virtlab/asgi.py): who may attach, and the relay."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from terminals import records
from terminals.consumers import ELSEWHERE, REFUSED
from terminals.models import TerminalSession
from terminals.services import start_session
from virtlab.asgi import application

from .conftest import run_async

ORIGIN = (b"origin", b"http://localhost")


def cookie_of(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def connect(path: str, headers: list) -> tuple[bool, object]:
    """Whether the handshake succeeded, and the close code that followed it (None when
    the socket stayed open: the attach went through to the host)."""

    async def attempt():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=10)
        if not connected:
            return connected, code
        try:
            message = await communicator.receive_output(timeout=1)
        except TimeoutError:
            message = {}
        await communicator.disconnect()
        return connected, message.get("code") if message.get("type") == "websocket.close" else None

    return run_async(attempt)


def refused(outcome: tuple[bool, object]) -> bool:
    # Accepted and closed at once with the code the page reads as "not yours, or
    # signed out" (a handshake refused outright reaches a browser as code 1006).
    return outcome == (True, REFUSED)


@pytest.fixture
def session(transactional_db, student):
    return start_session(student, "container")


def test_an_anonymous_websocket_is_refused(session):
    assert refused(connect(f"/ws/terminals/{session.public_id}/", [ORIGIN]))


def test_another_students_session_is_refused_like_one_that_does_not_exist(session, instructor):
    # The URL of someone else's terminal, replayed with another signed-in user's cookie.
    theirs = connect(f"/ws/terminals/{session.public_id}/", [ORIGIN, cookie_of(instructor)])
    made_up = connect(f"/ws/terminals/{uuid.uuid4()}/", [ORIGIN, cookie_of(instructor)])
    assert theirs == made_up and refused(theirs)


def test_a_websocket_from_another_site_is_refused(session, student):
    evil = (b"origin", b"http://evil.example")
    assert connect(f"/ws/terminals/{session.public_id}/", [evil, cookie_of(student)])[0] is False


def test_the_owner_is_told_plainly_when_no_terminal_host_runs(session, student, settings):
    settings.VIRTLAB_TERMINAL_SOCKET = "/run/virtlab/no-such-terminal-host.sock"
    headers = [ORIGIN, cookie_of(student)]

    async def scenario():
        communicator = WebsocketCommunicator(
            application, f"/ws/terminals/{session.public_id}/", headers=headers
        )
        connected, _ = await communicator.connect(timeout=10)
        message = json.loads(await communicator.receive_from(timeout=10))
        await communicator.disconnect()
        return connected, message

    connected, message = run_async(scenario)
    assert connected and message == {
        "state": "ended",
        "reason": "The terminal server is not running.",
    }


def first_message(path: str, headers: list) -> tuple[bool, dict]:
    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        message = json.loads(await communicator.receive_from(timeout=10))
        await communicator.disconnect()
        return connected, message

    return run_async(scenario)


def test_a_terminal_of_another_server_is_ended_here_with_the_reason(session, student):
    # Two web servers on one database each have their own terminal host; a page sent
    # to the other one (no sticky routing) is told so rather than attached to nothing.
    TerminalSession.objects.filter(pk=session.pk).update(server="another-server")
    connected, message = first_message(
        f"/ws/terminals/{session.public_id}/", [ORIGIN, cookie_of(student)]
    )
    assert connected and message == {"state": "ended", "reason": ELSEWHERE}
    # And this server's terminal host would not even find it.
    assert records.load(str(session.public_id)) is None


def test_a_restarted_terminal_host_closes_only_its_own_servers_rows(transactional_db, student):
    mine = start_session(student, "container")
    theirs = TerminalSession.objects.create(user=student, kind="vm", server="another-server")
    TerminalSession.objects.filter(pk__in=[mine.pk, theirs.pk]).update(status="live")
    records.recover()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.end_reason) == ("ended", records.RESTARTED)
    assert theirs.status == "live"


@pytest.mark.sandbox
def test_the_owner_types_into_a_real_shell_through_the_websocket(
    start_host, session, student, runc
):
    start_host()
    headers = [ORIGIN, cookie_of(student)]

    async def scenario():
        communicator = WebsocketCommunicator(
            application, f"/ws/terminals/{session.public_id}/", headers=headers
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        states, output = [], b""
        async with asyncio.timeout(60):
            while not states or states[-1]["state"] != "live":
                message = await communicator.receive_output(timeout=60)
                if "text" in message:
                    states.append(json.loads(message["text"]))
            await communicator.send_to(
                text_data=json.dumps({"op": "resize", "rows": 30, "cols": 91})
            )
            await communicator.send_to(bytes_data=b"stty size; echo done-$((2*21))\n")
            while b"done-42" not in output:
                message = await communicator.receive_output(timeout=60)
                output += message.get("bytes") or b""
            # Whatever else the browser sends as JSON goes nowhere: no checks from here.
            await communicator.send_to(text_data=json.dumps({"op": "check", "script": "id"}))
            await communicator.send_to(text_data=json.dumps({"op": "end"}))
            while not states or states[-1]["state"] != "ended":
                message = await communicator.receive_output(timeout=60)
                if "text" in message:
                    states.append(json.loads(message["text"]))
        await communicator.disconnect()
        return states, output

    states, output = run_async(scenario)
    assert b"30 91" in output
    assert states[-1] == {"state": "ended", "reason": "Ended by the student."}
    session.refresh_from_db()
    assert session.status == "ended"


def test_a_terminal_on_another_server_does_not_count_against_the_limit_here(
    transactional_db, student
):
    from terminals.services import open_sessions

    TerminalSession.objects.create(user=student, kind="vm", server="another-server", status="live")
    assert open_sessions(student) == []
    here = start_session(student, "container")
    assert [session.pk for session in open_sessions(student)] == [here.pk]


def test_a_check_runs_in_this_servers_live_terminal_not_anothers(transactional_db, student):
    from terminals.services import live_session

    here = TerminalSession.objects.create(user=student, kind="container", status="live")
    # Newer, but its shell is in another web server's terminal host, which this
    # server's host cannot reach: a check sent there would find nothing.
    TerminalSession.objects.create(
        user=student, kind="container", server="another-server", status="live"
    )
    assert live_session(student, "container") == here
    TerminalSession.objects.filter(pk=here.pk).update(status="ended")
    assert live_session(student, "container") is None
