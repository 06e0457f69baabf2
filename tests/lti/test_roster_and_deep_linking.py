"""Names and Role Provisioning (the roster into the class) and Deep Linking (a
teacher picks virtlab content from inside the LMS)."""

from __future__ import annotations

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from courseware.models import Classroom, Membership
from lti.models import ContextClass, PlatformAccount
from virtlab.roles import is_instructor

from .conftest import launch
from .platform import INSTRUCTOR, LEARNER

User = get_user_model()


@pytest.fixture
def lms(course, registration, platform):
    return platform


def member(sub: str, name: str, roles, status: str = "Active") -> dict:
    given, family = name.split()
    return {
        "user_id": sub,
        "name": name,
        "given_name": given,
        "family_name": family,
        "email": f"{given.lower()}@example.test",
        "roles": roles,
        "status": status,
    }


def test_roster_import_creates_accounts_and_fills_the_class(lms):
    launch(Client(), lms)  # student-42 has launched already
    teacher = Client()
    launch(teacher, lms, sub="teacher-1", roles=[INSTRUCTOR])
    classroom = Classroom.objects.get()
    lms.members = [
        member("teacher-1", "Tim Berners", [INSTRUCTOR]),
        member("teacher-2", "Barbara Liskov", ["Instructor"]),  # short form of the role
        member("student-42", "Ada Lovelace", [LEARNER]),
        member("student-43", "Grace Hopper", [LEARNER]),
        member("student-44", "Alan Turing", [LEARNER], status="Inactive"),
    ]
    response = teacher.post(reverse("lti:class_roster", args=[classroom.pk]), follow=True)
    text = response.content.decode()
    assert "Roster imported: 2 learners and 2 instructors" in text
    assert "2 new virtlab accounts, 1 joined the class now" in text
    assert "1 inactive in the LMS" in text

    [request] = lms.recorded("/memberships")
    assert request.headers["Accept"] == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    token = request.headers["Authorization"].removeprefix("Bearer ")
    assert "contextmembership.readonly" in lms.issued_tokens[token]

    subs = set(PlatformAccount.objects.values_list("sub", flat=True))
    assert subs == {"teacher-1", "teacher-2", "student-42", "student-43"}
    grace = PlatformAccount.objects.get(sub="student-43").user
    assert (grace.first_name, grace.last_name) == ("Grace", "Hopper")
    members = set(Membership.objects.filter(classroom=classroom).values_list("user", flat=True))
    assert members == set(
        PlatformAccount.objects.filter(sub__in=["student-42", "student-43"]).values_list(
            "user", flat=True
        )
    )
    barbara = PlatformAccount.objects.get(sub="teacher-2").user
    assert barbara in classroom.instructors.all() and is_instructor(barbara)
    # Importing again adds no one twice.
    teacher.post(reverse("lti:class_roster", args=[classroom.pk]))
    assert PlatformAccount.objects.count() == 4
    assert Membership.objects.filter(classroom=classroom).count() == 2
    assert ContextClass.objects.get().roster_summary.startswith("2 learners")


def test_roster_refused_by_the_platform_changes_nothing(lms):
    teacher = Client()
    launch(teacher, lms, sub="teacher-1", roles=[INSTRUCTOR])
    classroom = Classroom.objects.get()
    lms.tool_jwks = {"keys": []}  # the platform cannot check our assertion any more
    lms.members = [member("student-50", "Edsger Dijkstra", [LEARNER])]
    response = teacher.post(reverse("lti:class_roster", args=[classroom.pk]), follow=True)
    assert "The roster was not imported" in response.content.decode()
    assert not PlatformAccount.objects.filter(sub="student-50").exists()
    assert ContextClass.objects.get().roster_imported_at is None


# --- deep linking ---------------------------------------------------------------------


def deep_link_launch(client: Client, lms, roles=(INSTRUCTOR,)):
    return launch(client, lms, sub="teacher-1", roles=roles, message_type="LtiDeepLinkingRequest")


def test_deep_linking_returns_a_signed_well_formed_response(lms, registration):
    client = Client()
    picker = deep_link_launch(client, lms)
    assert picker.status_code == 200
    html = picker.content.decode()
    assert 'value="quiz/hypervisor-types"' in html and 'value="lab/boot-race"' in html
    assert 'type="checkbox"' in html  # the platform accepts several

    response = client.post(
        reverse("lti:deep_link_return"), {"target": ["quiz/hypervisor-types", "lab/boot-race"]}
    )
    assert response.status_code == 200
    assert response.context["return_url"] == f"{lms.base}/deep-link-return"
    assert f'action="{lms.base}/deep-link-return"' in response.content.decode()
    assert f"form-action 'self' {lms.base}" in response["Content-Security-Policy"]

    # The platform checks our signature against our JWKS, as it would.
    token = response.context["jwt"]
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in lms.tool_jwks["keys"] if k["kid"] == kid)
    key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=lms.issuer)
    lti = "https://purl.imsglobal.org/spec/lti/claim/"
    assert claims["iss"] == lms.client_id and claims["aud"] == [lms.issuer]
    assert claims[lti + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[lti + "version"] == "1.3.0"
    assert claims[lti + "deployment_id"] == lms.deployment_id
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-platform-data"
    quiz, lab = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert quiz["type"] == "ltiResourceLink"
    assert quiz["url"] == "http://testserver/lti/launch/"
    assert quiz["custom"] == {"virtlab_target": "quiz/hypervisor-types"}
    assert quiz["lineItem"]["scoreMaximum"] == 100
    assert quiz["lineItem"]["resourceId"] == "quiz/hypervisor-types"
    assert lab["custom"] == {"virtlab_target": "lab/boot-race"} and "lineItem" not in lab


def test_deep_linking_with_nothing_chosen_asks_again(lms):
    client = Client()
    deep_link_launch(client, lms)
    response = client.post(reverse("lti:deep_link_return"), {})
    assert response.status_code == 400
    assert "Choose a lesson, quiz or lab." in response.content.decode()
    response = client.post(reverse("lti:deep_link_return"), {"target": "quiz/no-such"})
    assert response.status_code == 400


def test_deep_linking_is_for_instructors_only(lms):
    client = Client()
    response = deep_link_launch(client, lms, roles=[LEARNER])
    assert response.status_code == 403
    response = client.post(reverse("lti:deep_link_return"), {"target": "lab/boot-race"})
    assert response.status_code == 403


def test_a_picker_post_without_a_deep_link_launch_is_refused(instructor_client):
    response = instructor_client.post(reverse("lti:deep_link_return"), {"target": "lab/boot-race"})
    assert response.status_code == 403
