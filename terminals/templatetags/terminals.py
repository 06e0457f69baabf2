"""``{% terminal_panel kinds %}``: a terminal for the signed-in student on any page
(exercise, lesson, lab): the live one if they have it open, else buttons to open one.
``kinds`` is a list or a space-separated string of "container" / "vm"."""

from django import template
from django.conf import settings

from ..models import TerminalSession
from ..views import open_session_for

register = template.Library()
LABELS = dict(TerminalSession.Kind.choices)
# As in "open a VM terminal".
NOUNS = {"container": "container", "vm": "VM", "vm-container": "container-in-a-VM"}


def _minutes(seconds: int) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def limits_text() -> str:
    per_student = settings.VIRTLAB_TERMINALS_PER_STUDENT
    grace = settings.VIRTLAB_TERMINAL_GRACE_SECONDS
    return (
        f"{'One terminal' if per_student == 1 else f'Up to {per_student} terminals'} at a "
        f"time. It ends after {_minutes(settings.VIRTLAB_TERMINAL_IDLE_SECONDS)} without "
        f"typing, after {_minutes(settings.VIRTLAB_TERMINAL_LIFETIME_SECONDS)} in all, or "
        f"{grace} seconds after you leave the page (come back sooner and the same shell is "
        "there). Inside: half a CPU core, 128 MiB of memory, 64 processes and no network."
    )


@register.inclusion_tag("terminals/_panel_body.html", takes_context=True)
def terminal_panel(context, kinds="container vm", session=None):
    if isinstance(kinds, str):
        kinds = kinds.split()
    kinds = [kind for kind in kinds if kind in LABELS] or list(LABELS)
    request = context.get("request")
    user = getattr(request, "user", None)
    matches = True
    if session is None and user is not None:
        session, matches = open_session_for(user, kinds)
    elif session is not None and not session.is_open:
        session = None
    return {
        "request": request,
        "user": user,
        "csrf_token": context.get("csrf_token"),
        "session": session,
        "matches": matches,
        "kinds": [(kind, NOUNS[kind]) for kind in kinds],
        "other_kinds": [
            (kind, NOUNS[kind]) for kind in kinds if session is None or kind != session.kind
        ],
        "noun": NOUNS.get(session.kind, "") if session is not None else "",
        "next": request.get_full_path() if request is not None else "",
        "limits": limits_text(),
    }
