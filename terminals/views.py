"""Pages and forms of the browser terminals. Every one needs a signed-in user and
shows or changes only that user's own sessions (anything else is a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .models import TerminalSession
from .services import TerminalError, end_session, open_sessions, start_session


def _next_url(request, default: str) -> str:
    """Back to the page the form was on, if that page is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
def terminals(request):
    """The student's terminals: the open one (with the terminal itself) and the ended."""
    sessions = TerminalSession.objects.filter(user=request.user)[:20]
    return render(
        request,
        "terminals/index.html",
        {"sessions": sessions, "kinds": list(TerminalSession.Kind.values)},
    )


@login_required
def session_page(request, public_id):
    session = get_object_or_404(TerminalSession, public_id=public_id, user=request.user)
    return render(
        request,
        "terminals/session.html",
        {"session": session, "kinds": list(TerminalSession.Kind.values)},
    )


@login_required
@require_POST
def start(request):
    kind = request.POST.get("kind", "")
    back = _next_url(request, "")
    try:
        session = start_session(request.user, kind, replace=request.POST.get("replace") == "1")
    except TerminalError as error:
        messages.error(request, str(error))
        return redirect(back or "terminals:index")
    # Back to the page it was opened from (its panel shows the new terminal), or to
    # the terminal's own page.
    return redirect(back or session.get_absolute_url())


@login_required
@require_POST
def end(request, public_id):
    session = get_object_or_404(TerminalSession, public_id=public_id, user=request.user)
    end_session(session, "Ended by the student.")
    messages.success(request, "Your terminal has ended; everything in it is gone.")
    return redirect(_next_url(request, "terminals:index"))


def open_session_for(user, kinds: list[str]) -> tuple[TerminalSession | None, bool]:
    """The user's open session, and whether it is of a kind this page offers."""
    if not user.is_authenticated:
        return None, False
    sessions = open_sessions(user)
    for session in sessions:
        if session.kind in kinds:
            return session, True
    return (sessions[0], False) if sessions else (None, False)
