"""Instructor role: membership of the "instructors" group (superusers count too).

A group rather than a flag so the Django admin grants it with the usual user form,
and `manage.py make_instructor` does the same from the shell.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from .prepared import Param, Prepared

INSTRUCTORS_GROUP = "instructors"
# Asked on every signed-in page (the navigation shows "Teach" to instructors).
_IN_GROUP = Prepared(
    lambda _: Group.objects.filter(user=Param("user"), name=INSTRUCTORS_GROUP).values_list("pk")[:1]
)


def is_instructor(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_virtlab_is_instructor", None)
    if cached is None:
        cached = bool(_IN_GROUP.rows(user=user.pk))
        user._virtlab_is_instructor = cached
    return cached


def instructors_group() -> Group:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
    return group


def instructor_required(view):
    """Anonymous users go to the login page; signed-in students get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_instructor(request.user):
            raise PermissionDenied("This page is for instructors.")
        return view(request, *args, **kwargs)

    return wrapper
