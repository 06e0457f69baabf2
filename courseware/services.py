"""Writes that touch more than one row, as small typed functions."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone

from virtlab.prepared import Param, Prepared, update
from virtlab.roles import instructors_group

from .models import Lesson, LessonProgress

# Every lesson view reads and touches the student's progress row: prepared queries.
_PROGRESS_FIELDS = [f.attname for f in LessonProgress._meta.concrete_fields]
_PROGRESS = Prepared(
    lambda _: (
        LessonProgress.objects.filter(user=Param("user"), lesson=Param("lesson"))
        .order_by()
        .values_list(*_PROGRESS_FIELDS)
    )
)
_TOUCH = Prepared(
    lambda _: update(
        LessonProgress.objects.filter(pk=Param("id")),
        last_opened_at=Param("now", models.DateTimeField()),
    )
)


def progress_open(*, user, lesson: Lesson) -> LessonProgress | None:
    """Record that ``user`` opened ``lesson``; a done lesson stays done."""
    if not user.is_authenticated:
        return None
    now = timezone.now()
    rows = _PROGRESS.rows(user=user.pk, lesson=lesson.pk)
    if not rows:  # the first time (get_or_create: another request may just have made it)
        progress, created = LessonProgress.objects.get_or_create(
            user=user, lesson=lesson, defaults={"first_opened_at": now, "last_opened_at": now}
        )
        if created:
            return progress
    else:
        progress = LessonProgress.from_db(connection.alias, _PROGRESS_FIELDS, rows[0])
    _TOUCH.execute(id=progress.pk, now=now)
    progress.last_opened_at = now
    return progress


def progress_set_done(*, user, lesson: Lesson, done: bool) -> LessonProgress:
    now = timezone.now()
    progress, _ = LessonProgress.objects.get_or_create(
        user=user, lesson=lesson, defaults={"first_opened_at": now, "last_opened_at": now}
    )
    if done:
        progress.state = LessonProgress.State.DONE
        progress.completed_at = progress.completed_at or now
    else:
        progress.state = LessonProgress.State.IN_PROGRESS
        progress.completed_at = None
    progress.save(update_fields=["state", "completed_at"])
    return progress


def instructor_grant(*, username: str) -> bool:
    """Make ``username`` an instructor; False if they already were."""
    user = get_user_model().objects.get(username=username)
    group = instructors_group()
    if user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.add(group)
    return True


def demo_users_create() -> dict[str, str] | None:
    """Create a demo instructor and student when there are no users at all.

    Returns ``{username: password}`` for the accounts made (to print once), or None
    when users already exist — a class server's real accounts are never touched.
    """
    User = get_user_model()
    with transaction.atomic():
        if User.objects.exists():
            return None
        passwords = {name: secrets.token_urlsafe(12) for name in ("instructor", "student")}
        instructor = User.objects.create_user("instructor", password=passwords["instructor"])
        instructor.groups.add(instructors_group())
        User.objects.create_user("student", password=passwords["student"])
    return passwords
