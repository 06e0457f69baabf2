"""Sign-in throttling: the per-address budget, and the page a locked-out visitor sees.

django-axes locks an account (by the username typed, whether or not it exists, so
the answer never tells which accounts exist) after ``AXES_FAILURE_LIMIT`` wrong
passwords, for ``AXES_COOLOFF_TIME``; it calls ``locked_out`` for the response.
Failures per client address are counted here (throttle.py) and checked by
``LoginThrottleMiddleware`` on both sign-in forms, ours and the admin's.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render
from django.urls import reverse

from . import throttle

LOCKED_STATUS = 429


@receiver(user_login_failed)
def count_failure_for_address(sender, credentials, request=None, **kwargs):
    if request is not None:
        throttle.spend(throttle.LOGIN_FAILURES_PER_ADDRESS, throttle.client_address(request))


def _refusal(request, message: str):
    response = render(
        request,
        "registration/login.html",
        {"form": AuthenticationForm(request), "throttle_message": message},
        status=LOCKED_STATUS,
    )
    return response


def locked_out(request, original_response=None, credentials=None):
    """axes' lockout response: the sign-in page, saying why and for how long."""
    wait = throttle.describe_wait(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return _refusal(
        request,
        "Too many failed sign-ins for this account, so it is locked for "
        f"{wait}. Try again then, or ask your instructor to unlock it.",
    )


class LoginThrottleMiddleware:
    """Refuses sign-in attempts from an address that has failed too often lately."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.guarded_paths = None

    def __call__(self, request):
        if request.method == "POST" and request.path in self._paths():
            address = throttle.client_address(request)
            if wait := throttle.wait_seconds(throttle.LOGIN_FAILURES_PER_ADDRESS, address):
                return _refusal(
                    request,
                    "Too many failed sign-ins from your network. "
                    f"Try again in {throttle.describe_wait(wait)}.",
                )
        return self.get_response(request)

    def _paths(self) -> set[str]:
        if self.guarded_paths is None:  # URLs resolve only once the URLconf is loaded
            self.guarded_paths = {reverse("login"), reverse("admin:login")}
        return self.guarded_paths
