"""Writes for classes: an instructor creates one, a student joins it with its code."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from ..models import Classroom, Membership

JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
JOIN_CODE_LENGTH = 8


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalise_join_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def class_create(*, instructor, name: str) -> Classroom:
    for _ in range(10):
        try:
            with transaction.atomic():
                classroom = Classroom.objects.create(name=name.strip(), join_code=new_join_code())
                classroom.instructors.add(instructor)
                return classroom
        except IntegrityError:  # a join code collision; draw another
            continue
    raise RuntimeError("could not find a free join code")


class JoinError(Exception):
    pass


def class_join(*, user, code: str) -> tuple[Classroom, bool]:
    """Add ``user`` to the class with ``code``; returns (class, joined now?)."""
    classroom = Classroom.objects.filter(join_code=normalise_join_code(code)).first()
    if classroom is None:
        raise JoinError("No class has that join code. Check it with your instructor.")
    _, created = Membership.objects.get_or_create(classroom=classroom, user=user)
    return classroom, created
