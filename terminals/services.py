"""What the web side asks of terminals: open one, end one, run a check in one.

The rules a student meets before a shell exists live here (how many at once); the
rules of a running shell (clocks, capacity, output) live in the terminal host.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from labs.sandbox import ownership

from . import protocol
from .models import TerminalSession, this_server

log = logging.getLogger(__name__)
HOST_TIMEOUT = 5.0


class TerminalError(Exception):
    """Something a student can be told in one sentence."""


class TooManyTerminals(TerminalError):
    def __init__(self, open_sessions: list[TerminalSession]) -> None:
        self.open_sessions = open_sessions
        limit = settings.VIRTLAB_TERMINALS_PER_STUDENT
        super().__init__(
            f"You can have {limit} terminal{'s' if limit != 1 else ''} open at a time: "
            "go back to yours, or end it to start another."
        )


class NoLiveTerminal(TerminalError):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        label = dict(TerminalSession.Kind.choices).get(kind, kind).lower()
        super().__init__(f"Open a {label} terminal first: this step is checked inside it.")


class HostUnavailable(TerminalError):
    def __init__(self) -> None:
        super().__init__(
            "The terminal server is not running (scripts/serve starts it with the site)."
        )


def socket_path() -> str:
    """The terminal host's socket: one per instance, so a second virtlab on this host
    (another server, a test run) never reaches this one's shells."""
    if settings.VIRTLAB_TERMINAL_SOCKET:
        return settings.VIRTLAB_TERMINAL_SOCKET
    return str(ownership.CLAIMS_DIR.parent / f"terminals-{ownership.instance().id}.sock")


def host_request(message: dict, *, timeout: float = HOST_TIMEOUT) -> dict:
    try:
        return protocol.request(socket_path(), message, timeout=timeout)
    except (OSError, protocol.ProtocolError) as error:
        log.warning("terminal host request %s failed: %s", message.get("op"), error)
        raise HostUnavailable from error


def open_sessions(user) -> list[TerminalSession]:
    """The user's sessions on this server that hold (or wait for) a sandbox. A row
    never attached within the grace period belongs to a page that never connected: it
    is closed here rather than counted. (Rows of another web server of the class are
    that server's: its terminal host holds them, and its limits count them.)"""
    stale = timezone.now() - timedelta(seconds=settings.VIRTLAB_TERMINAL_GRACE_SECONDS)
    sessions = list(
        TerminalSession.objects.filter(
            user=user, status__in=TerminalSession.OPEN, server=this_server()
        )
    )
    never_connected = [
        session.pk
        for session in sessions
        if session.status == TerminalSession.Status.WAITING and session.created_at < stale
    ]
    if never_connected:  # a write only when there is one: panels render on many pages
        TerminalSession.objects.filter(
            pk__in=never_connected, status=TerminalSession.Status.WAITING
        ).update(
            status=TerminalSession.Status.ENDED,
            ended_at=timezone.now(),
            end_reason="The page never connected.",
        )
    return [session for session in sessions if session.pk not in never_connected]


def start_session(user, kind: str, *, replace: bool = False) -> TerminalSession:
    """A new session row for ``user``; the host starts its sandbox when the page
    attaches. With ``replace``, the user's open sessions are ended first."""
    if kind not in TerminalSession.Kind.values:
        raise TerminalError(f"There is no “{kind[:40]}” terminal: choose a container or a VM.")
    if replace:
        # Outside the transaction below: the host writes the ended rows meanwhile.
        for session in open_sessions(user):
            end_session(session, "Replaced by a new terminal.")
    with transaction.atomic():
        # Serialise one user's starts: two clicks must not both pass the limit.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        existing = open_sessions(user)
        if len(existing) >= settings.VIRTLAB_TERMINALS_PER_STUDENT:
            raise TooManyTerminals(existing)
        return TerminalSession.objects.create(user=user, kind=kind)


def end_session(session: TerminalSession, reason: str) -> None:
    """End it now: the host removes its sandbox; the row says why."""
    if session.status == TerminalSession.Status.ENDED:
        return
    # No host, no sandbox: then only the row is left to close.
    with contextlib.suppress(HostUnavailable):
        host_request({"op": "end", "session": str(session.public_id), "reason": reason})
    TerminalSession.objects.filter(pk=session.pk).exclude(
        status=TerminalSession.Status.ENDED
    ).update(status=TerminalSession.Status.ENDED, ended_at=timezone.now(), end_reason=reason)
    session.refresh_from_db()


def live_session(user, kind: str) -> TerminalSession | None:
    """The user's live terminal of ``kind`` on this server: a check goes to this
    server's terminal host, which holds only this server's shells."""
    return (
        TerminalSession.objects.filter(
            user=user,
            kind=kind,
            status=TerminalSession.Status.LIVE,
            server=this_server(),
        )
        .order_by("-created_at")
        .first()
    )


def run_check(user, kind: str, script: str, timeout: float) -> tuple[int | None, str]:
    """Run an exercise's check script inside ``user``'s live terminal of ``kind``, out
    of band (never typed into the shell). Returns (exit status or None when it ran
    out of time, output). The script must come from the server's stored exercise."""
    session = live_session(user, kind)
    if session is None:
        raise NoLiveTerminal(kind)
    answer = host_request(
        {"op": "check", "session": str(session.public_id), "script": script, "timeout": timeout},
        timeout=timeout + HOST_TIMEOUT,
    )
    if answer.get("error") == "not-live":
        raise NoLiveTerminal(kind)
    if "error" in answer:
        raise TerminalError(str(answer["error"]))
    return answer.get("status"), str(answer.get("output", ""))
