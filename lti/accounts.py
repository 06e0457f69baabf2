"""Platform users → virtlab accounts, platform courses → classes, LTI roles → ours.

An account is keyed by the platform's issuer and the user's ``sub``
(``PlatformAccount``). The first launch creates it; every later launch, and a roster
import, finds the same one. Creation is race-safe: two first launches at once (two
tabs, a double click in the LMS) both try to insert; the unique constraint lets one
win and the other reads the winner's row.
"""

from __future__ import annotations

import hashlib
import re

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from lti_tool.lti_core.utils import normalize_role
from lti_tool.models import LtiContext

from courseware.classes.services import new_join_code
from courseware.models import Classroom, Membership
from virtlab.roles import instructors_group

from .models import ContextClass, PlatformAccount

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
# Context roles that teach. Only the context's roles count: Canvas also sends
# institution roles (a teacher elsewhere in the school taking this course as a student
# is "institution/person#Instructor" here, and a learner in this course).
TEACHING_ROLES = {MEMBERSHIP + name for name in ("Instructor", "Administrator", "ContentDeveloper")}
# Sub-roles such as ".../membership/Instructor#TeachingAssistant".
TEACHING_SUBROLE_PREFIXES = ("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#",)


def teaches(roles) -> bool:
    """Whether a launch's (or a roster member's) roles make them an instructor here."""
    for role in roles or ():
        full = normalize_role(str(role))
        if full in TEACHING_ROLES or full.startswith(TEACHING_SUBROLE_PREFIXES):
            return True
    return False


def _username_base(claims: dict) -> str:
    email = claims.get("email") or ""
    name = claims.get("name") or " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if part
    )
    base = slugify(name) or slugify(email.split("@")[0]) or "learner"
    return re.sub(r"[^\w.+-]", "", base)[:40]


def _profile(claims: dict) -> dict:
    """Name and email from the claims a platform chose to share (any may be absent)."""
    profile = {}
    if claims.get("given_name") or claims.get("family_name"):
        profile["first_name"] = str(claims.get("given_name") or "")[:150]
        profile["last_name"] = str(claims.get("family_name") or "")[:150]
    elif claims.get("name"):
        profile["first_name"] = str(claims["name"])[:150]
    if claims.get("email"):
        profile["email"] = str(claims["email"])[:254]
    return profile


def account_for(issuer: str, sub: str, claims: dict) -> PlatformAccount:
    """This platform user's account (``.user`` is the virtlab user), created on first
    sight. ``claims`` may hold given_name, family_name, name and email; they refresh
    the user's profile."""
    found = PlatformAccount.objects.filter(issuer=issuer, sub=sub).select_related("user").first()
    if found is None:
        found = _create_account(issuer, sub, claims)
    user = found.user
    profile = _profile(claims)
    changed = [name for name, value in profile.items() if getattr(user, name) != value]
    if changed:
        for name in changed:
            setattr(user, name, profile[name])
        user.save(update_fields=changed)
    return found


def _create_account(issuer: str, sub: str, claims: dict) -> PlatformAccount:
    digest = hashlib.sha256(f"{issuer}\n{sub}".encode()).hexdigest()
    # The suffix makes the name unique per platform user and the same in both racers,
    # so the loser of a race collides on it too; a longer one only when a local
    # account already took the short name.
    for length in (6, 12, 24):
        username = f"{_username_base(claims)}-{digest[:length]}"
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(username=username, **_profile(claims))
                user.set_unusable_password()  # signs in through the platform only
                user.save(update_fields=["password"])
                return PlatformAccount.objects.create(issuer=issuer, sub=sub, user=user)
        except IntegrityError:
            winner = PlatformAccount.objects.filter(issuer=issuer, sub=sub).first()
            if winner is not None:
                return winner
    raise RuntimeError(f"could not create an account for {sub!r} at {issuer!r}")


def classroom_for(context: LtiContext) -> Classroom:
    """The virtlab class of a platform's course, created at its first launch (with no
    instructor until one launches). Race-safe like accounts: one link per context."""
    link = ContextClass.objects.filter(context=context).select_related("classroom").first()
    if link is not None:
        return link.classroom
    name = (context.title or context.label or "Class from the LMS")[:120]
    for _ in range(10):
        try:
            with transaction.atomic():
                classroom = Classroom.objects.create(name=name, join_code=new_join_code())
                ContextClass.objects.create(context=context, classroom=classroom)
                return classroom
        except IntegrityError:  # another launch linked it first, or a join code collided
            link = ContextClass.objects.filter(context=context).select_related("classroom").first()
            if link is not None:
                return link.classroom
    raise RuntimeError(f"could not create a class for {context}")


def enrol(user, classroom: Classroom, *, teaching: bool) -> None:
    """Put a user in a class: instructors teach it (and join virtlab's instructors
    group, virtlab/roles.py), everyone else is a member. Never taken away by a later
    launch: someone who teaches one course may well be a learner in another."""
    if teaching:
        classroom.instructors.add(user)
        user.groups.add(instructors_group())
    else:
        Membership.objects.get_or_create(classroom=classroom, user=user)
