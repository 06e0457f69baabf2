"""What the terminal host writes down about its sessions (synchronous ORM calls; the
host runs them in threads), and the clean-up when a new host starts."""

from __future__ import annotations

import logging

from django.db import close_old_connections
from django.utils import timezone

from labs.sandbox import naming, ownership, reaper

from .models import TerminalSession, this_server

log = logging.getLogger(__name__)
RESTARTED = "The terminal server restarted; start a new terminal."


def load(public_id: str) -> TerminalSession | None:
    close_old_connections()
    try:
        # Only this server's sessions: another's shell lives in its own terminal host.
        return TerminalSession.objects.filter(public_id=public_id, server=this_server()).first()
    except Exception:  # not a UUID, say
        return None


def mark_queued(public_id: str) -> bool:
    """The host holds the session now (queued or starting): its row is no longer a
    page that never connected. False when the row was ended meanwhile."""
    close_old_connections()
    TerminalSession.objects.filter(
        public_id=public_id, status=TerminalSession.Status.WAITING
    ).update(status=TerminalSession.Status.QUEUED)
    return TerminalSession.objects.filter(
        public_id=public_id, status__in=TerminalSession.OPEN
    ).exists()


def mark_live(public_id: str, sandbox_id: int) -> bool:
    """False when the row was ended meanwhile (the web side replaced or ended it):
    then the shell must not go on under an ended row."""
    close_old_connections()
    return bool(
        TerminalSession.objects.filter(public_id=public_id)
        .exclude(status=TerminalSession.Status.ENDED)
        .update(
            status=TerminalSession.Status.LIVE, sandbox_id=sandbox_id, started_at=timezone.now()
        )
    )


def mark_ended(public_id: str, reason: str) -> None:
    close_old_connections()
    TerminalSession.objects.filter(public_id=public_id).exclude(
        status=TerminalSession.Status.ENDED
    ).update(status=TerminalSession.Status.ENDED, ended_at=timezone.now(), end_reason=reason)


def recover() -> None:
    """A new host: the shells of the one before are gone with it. Reap what they left
    (ad-hoc ids this instance claimed from a process that no longer exists) and close
    the rows of this server it never closed."""
    close_old_connections()
    mine = ownership.instance().id
    for sandbox_id in ownership.claimed_ids():
        if (
            sandbox_id >= naming.ADHOC_FIRST_ID
            and ownership.claimant(sandbox_id) == mine
            and ownership.abandoned(sandbox_id)
        ):
            report = reaper.reap(only={sandbox_id})
            if not report.empty:
                log.info("reaped what a stopped terminal host left in vl%s", sandbox_id)
    # Only this server's rows: another web server on the same database has its own
    # terminal host, whose students' shells are alive.
    TerminalSession.objects.filter(status__in=TerminalSession.OPEN, server=mine).exclude(
        status=TerminalSession.Status.WAITING
    ).update(status=TerminalSession.Status.ENDED, ended_at=timezone.now(), end_reason=RESTARTED)
