"""Names and Role Provisioning Services: a platform course's roster into its class.

Every active member gets the account their own launch would give them (same issuer +
``sub`` key, lti/accounts.py), then joins the class, or teaches it when their roles
say so. Members the platform lists as inactive or deleted are counted and left alone:
their work stays in the class.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from lti_tool.models import LtiContext
from pylti1p3.exception import LtiException
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

from courseware.models import Membership

from .accounts import account_for, classroom_for, enrol, teaches
from .http import platform_session
from .models import ContextClass, PlatformAccount


class RosterError(Exception):
    """The roster could not be fetched; the message says why."""


@dataclass
class RosterResult:
    learners: int = 0
    instructors: int = 0
    new_accounts: int = 0
    joined: int = 0
    inactive: int = 0

    def summary(self) -> str:
        return (
            f"{_count(self.learners, 'learner')} and {_count(self.instructors, 'instructor')} "
            f"in the LMS roster; {_count(self.new_accounts, 'new virtlab account')}, "
            f"{self.joined} joined the class now"
            + (f"; {self.inactive} inactive in the LMS, left as they were" if self.inactive else "")
            + "."
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def fetch_members(context: LtiContext) -> list[dict]:
    if not context.memberships_url:
        raise RosterError(
            "The LMS has not offered its roster service (Names and Role Provisioning) for "
            "this course. Turn it on in the tool's settings in the LMS, then launch virtlab "
            "from the course once."
        )
    registration = context.deployment.registration.to_registration()
    service = NamesRolesProvisioningService(
        ServiceConnector(registration, platform_session()),
        {"context_memberships_url": context.memberships_url},
    )
    try:
        return list(service.get_members())
    except (LtiException, OSError, ValueError, KeyError) as error:
        response = getattr(error, "response", None)
        if response is not None:
            raise RosterError(
                f"The LMS refused the roster request (HTTP {response.status_code})."
            ) from error
        raise RosterError(f"The LMS could not be reached for the roster: {error}") from error


def import_roster(context: LtiContext) -> RosterResult:
    members = fetch_members(context)  # before any write: a failed fetch changes nothing
    classroom = classroom_for(context)
    issuer = context.deployment.registration.issuer
    known = set(
        PlatformAccount.objects.filter(
            issuer=issuer, sub__in=[m.get("user_id") for m in members]
        ).values_list("sub", flat=True)
    )
    result = RosterResult()
    for member in members:
        sub = member.get("user_id")
        if not sub:
            continue
        if member.get("status", "Active") != "Active":
            result.inactive += 1
            continue
        user = account_for(issuer, str(sub), member).user
        result.new_accounts += sub not in known
        teaching = teaches(member.get("roles"))
        if teaching:
            result.instructors += 1
        else:
            result.learners += 1
            result.joined += not Membership.objects.filter(classroom=classroom, user=user).exists()
        enrol(user, classroom, teaching=teaching)
    ContextClass.objects.filter(context=context).update(
        roster_imported_at=timezone.now(), roster_summary=result.summary()[:300]
    )
    return result
