"""A complete LTI 1.3 launch against a platform whose keys the test made (see
platform.py), and every way a launch must be refused."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from lti_tool.models import LtiDeployment

from courseware.models import Classroom, Membership
from lti.accounts import _create_account, account_for
from lti.models import ContextClass, GradeLink, PlatformAccount
from virtlab.roles import is_instructor

from .conftest import launch, login_step, post_id_token
from .platform import INSTRUCTOR

User = get_user_model()
QUIZ_URL = "/lessons/hypervisor-types/quiz/"


@pytest.fixture
def lms(course, registration, platform):
    return platform


def signed_in_user(client: Client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_first_launch_creates_the_account_signs_in_and_opens_the_quiz(lms):
    client = Client()
    response = launch(client, lms)
    assert response.status_code == 302 and response["Location"] == QUIZ_URL
    user = signed_in_user(client)
    assert user is not None
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "ada@example.test")
    assert not user.has_usable_password()
    account = PlatformAccount.objects.get()
    assert (account.issuer, account.sub, account.user) == (lms.issuer, "student-42", user)
    # The platform's course is a class, with the student in it, not teaching it.
    classroom = ContextClass.objects.get().classroom
    assert classroom.name == "Virtualization 101"
    assert Membership.objects.filter(classroom=classroom, user=user).exists()
    assert not classroom.instructors.exists() and not is_instructor(user)
    # The quiz link carried a line item: the score will go there.
    link = GradeLink.objects.get()
    assert link.lineitem_url == lms.lineitem_url(1) and link.lesson.slug == "hypervisor-types"
    # And the page opens, signed in.
    assert client.get(QUIZ_URL).status_code == 200


def test_second_launch_reuses_the_account(lms):
    launch(Client(), lms)
    other_browser = Client()
    response = launch(other_browser, lms, given_name="Ada", family_name="King")
    assert response.status_code == 302
    assert PlatformAccount.objects.count() == 1
    user = PlatformAccount.objects.get().user
    assert signed_in_user(other_browser) == user
    assert User.objects.filter(platform_accounts__isnull=False).count() == 1
    user.refresh_from_db()
    assert user.last_name == "King"  # the profile follows the platform
    assert Classroom.objects.count() == 1 and Membership.objects.count() == 1


def test_a_second_platform_user_gets_a_second_account(lms):
    launch(Client(), lms)
    launch(Client(), lms, sub="student-43", name="Grace Hopper", given_name=None, family_name=None)
    assert PlatformAccount.objects.count() == 2
    grace = PlatformAccount.objects.get(sub="student-43").user
    assert grace.username.startswith("grace-hopper-")


def test_creating_an_account_that_a_concurrent_launch_just_made_returns_that_one(db):
    """The losing side of a race: its insert collides, and it reads the winner's row."""
    first = _create_account("https://lms.example.test", "s-1", {"name": "Ada Lovelace"})
    again = _create_account("https://lms.example.test", "s-1", {"name": "Ada Lovelace"})
    assert again.pk == first.pk
    assert User.objects.count() == 1
    assert account_for("https://lms.example.test", "s-1", {}).pk == first.pk


def test_a_local_account_with_the_same_name_does_not_block_creation(db):
    taken = _create_account("https://a.test", "s-1", {"name": "Ada"}).user.username
    User.objects.filter(username=taken).update(username=taken + "-moved")
    User.objects.create_user(taken)  # a local account now holds the short name
    PlatformAccount.objects.all().delete()
    account = _create_account("https://a.test", "s-1", {"name": "Ada"})
    assert account.user.username != taken and account.user.username.startswith("ada-")


def test_instructor_role_makes_an_instructor_of_the_class(lms):
    client = Client()
    response = launch(client, lms, sub="teacher-1", roles=[INSTRUCTOR])
    assert response.status_code == 302
    user = signed_in_user(client)
    assert is_instructor(user)
    classroom = ContextClass.objects.get().classroom
    assert list(classroom.instructors.all()) == [user]
    assert not Membership.objects.filter(user=user).exists()
    assert not GradeLink.objects.exists()  # instructors' scores are not sent
    # and they reach the class's LMS page
    assert client.get(reverse("lti:class", args=[classroom.pk])).status_code == 200


def test_launch_into_a_lesson_and_a_lab(lms):
    response = launch(Client(), lms, target="lesson/hypervisor-types")
    assert response["Location"] == "/lessons/hypervisor-types/"
    response = launch(Client(), lms, target="lab/boot-race", lineitem=None)
    assert response["Location"] == "/labs/boot-race/"


def test_a_link_configured_by_hand_names_its_target_in_the_tool_url(lms):
    response = launch(
        Client(),
        lms,
        target=None,
        **{
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": (
                "http://testserver/lti/launch/?target=quiz/hypervisor-types"
            )
        },
    )
    assert response["Location"] == QUIZ_URL


def test_a_link_to_something_missing_says_so(lms):
    response = launch(Client(), lms, target="lesson/no-such-lesson")
    assert response.status_code == 404
    assert "no published lesson called" in response.content.decode()


# --- refusals ------------------------------------------------------------------------


def refused(response, words: str) -> None:
    assert response.status_code == 403, response.content[:300]
    text = response.content.decode()
    assert words in text, text[:2000]


def test_replayed_launch_is_refused(lms):
    client = Client()
    params = login_step(client, lms)
    token = lms.id_token(lms.claims(nonce=params["nonce"]))
    assert post_id_token(client, params, token).status_code == 302
    refused(post_id_token(client, params, token), "already used")
    # From another browser, which never had the state cookie, too: pylti1p3 alone would
    # accept it there (it remembers the state as validated with this very id_token).
    refused(post_id_token(Client(), params, token), "already used")
    assert PlatformAccount.objects.count() == 1


def test_state_must_match_the_login(lms):
    client = Client()
    params = login_step(client, lms)
    token = lms.id_token(lms.claims(nonce=params["nonce"]))
    refused(post_id_token(client, {**params, "state": "state-forged"}, token), "State not found")
    assert not PlatformAccount.objects.exists()


def test_nonce_must_be_one_we_issued(lms):
    client = Client()
    params = login_step(client, lms)
    token = lms.id_token(lms.claims(nonce="a-nonce-we-never-issued"))
    refused(post_id_token(client, params, token), "Invalid Nonce")
    assert signed_in_user(client) is None


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"iss": "https://other-lms.example.test"}, "Registration not found"),
        ({"aud": "someone-elses-client"}, "Registration not found"),
        ({"iat": int(time.time()) - 900, "exp": int(time.time()) - 60}, "expired"),
    ],
    ids=["wrong-issuer", "wrong-audience", "expired"],
)
def test_wrong_issuer_audience_or_expired_token_is_refused(lms, claims, words):
    client = Client()
    params = login_step(client, lms)
    token = lms.id_token(lms.claims(nonce=params["nonce"], **claims))
    refused(post_id_token(client, params, token), words)
    assert not PlatformAccount.objects.exists() and signed_in_user(client) is None


def test_unknown_deployment_is_refused_and_listed_for_activation(lms):
    client = Client()
    params = login_step(client, lms)
    claims = lms.claims(nonce=params["nonce"])
    claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = "deployment-unknown"
    refused(post_id_token(client, params, lms.id_token(claims)), "not activated")
    waiting = LtiDeployment.objects.get(deployment_id="deployment-unknown")
    assert not waiting.is_active
    assert not PlatformAccount.objects.exists() and not Classroom.objects.exists()


def test_token_signed_with_another_key_is_refused(lms):
    client = Client()
    params = login_step(client, lms)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = lms.id_token(lms.claims(nonce=params["nonce"]), key=impostor)
    refused(post_id_token(client, params, token), "Signature verification failed")
    assert not PlatformAccount.objects.exists()


def test_login_from_an_unregistered_platform_is_refused(lms):
    response = Client().post(
        reverse("lti:login"),
        {
            "iss": "https://unknown.example.test",
            "login_hint": "x",
            "target_link_uri": "http://testserver/lti/launch/",
            "client_id": "nobody",
        },
    )
    assert response.status_code == 400
    assert "registered in virtlab" in response.content.decode()


# --- inside the LMS's frame -------------------------------------------------------------


def test_a_launched_session_may_be_framed_by_its_platform_only(lms, student_client):
    normal = student_client.get(QUIZ_URL)
    assert normal["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in normal["Content-Security-Policy"]

    client = Client()
    launch(client, lms)
    framed = client.get(QUIZ_URL)
    assert "X-Frame-Options" not in framed
    policy = framed["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {lms.base} https://lms.example.test" in policy
    assert "script-src 'self' 'nonce-" in policy  # the rest of the policy is unchanged


def test_over_https_the_launched_session_cookies_are_samesite_none(lms):
    client = Client()
    response = launch(client, lms, secure=True)
    assert response.status_code == 302
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name]
        assert cookie["samesite"] == "None" and cookie["secure"] is True, name
    # A page in that session renews them the same way.
    page = client.get(QUIZ_URL, secure=True)
    assert page.status_code == 200
    if "csrftoken" in page.cookies:
        assert page.cookies["csrftoken"]["samesite"] == "None"


def test_over_https_the_login_first_checks_that_the_frame_keeps_cookies(lms):
    response = Client().post(
        reverse("lti:login"),
        {
            "iss": lms.issuer,
            "login_hint": "x",
            "target_link_uri": "http://testserver/lti/launch/",
            "client_id": lms.client_id,
        },
        secure=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Open virtlab in a new window" in text and "lti1p3_new_window=1" in text


def test_the_cookie_check_page_may_be_framed_by_the_platform_the_login_names(lms, registration):
    # It is the first page the LMS's frame loads, before any session: with the usual
    # frame-ancestors 'none' the browser would show nothing there at all.
    login = {
        "iss": lms.issuer,
        "login_hint": "x",
        "target_link_uri": "http://testserver/lti/launch/",
        "client_id": lms.client_id,
    }
    response = Client().post(reverse("lti:login"), login, secure=True)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {lms.base} https://lms.example.test" in policy

    by_uuid = Client().get(
        reverse("lti:login_registration", args=[registration.uuid]),
        {**login, "client_id": ""},
        secure=True,
    )
    assert f"frame-ancestors 'self' {lms.base}" in by_uuid["Content-Security-Policy"]

    # A login naming no registered platform may be framed by nobody.
    unknown = Client().post(
        reverse("lti:login"), {**login, "client_id": "someone-else"}, secure=True
    )
    assert "frame-ancestors 'none'" in unknown["Content-Security-Policy"]


def test_a_token_also_meant_for_another_tool_is_refused(lms):
    for claims, words in [
        ({"aud": [lms.client_id, "another-tool"]}, "also meant for other tools"),
        ({"azp": "another-tool"}, "issued to another tool"),
    ]:
        client = Client()
        params = login_step(client, lms)
        token = lms.id_token(lms.claims(nonce=params["nonce"], **claims))
        refused(post_id_token(client, params, token), words)
        assert not PlatformAccount.objects.exists() and signed_in_user(client) is None
    # The same token naming only us, as a list and as our authorised party, is fine.
    client = Client()
    params = login_step(client, lms)
    claims = lms.claims(nonce=params["nonce"], aud=[lms.client_id], azp=lms.client_id)
    assert post_id_token(client, params, lms.id_token(claims)).status_code == 302
    assert signed_in_user(client) is not None


def test_over_https_a_launch_without_the_login_cookies_is_refused_not_an_error(lms):
    # Another browser, or one that dropped pylti1p3's session cookie after the login:
    # pylti1p3 raises as the launch is read, before any check.
    client = Client()
    params = login_step(client, lms, secure=True)
    token = lms.id_token(lms.claims(nonce=params["nonce"]))
    refused(post_id_token(Client(), params, token, secure=True), "did not come back")
    assert not PlatformAccount.objects.exists() and signed_in_user(client) is None
    # The browser that logged in still launches.
    assert post_id_token(client, params, token, secure=True).status_code == 302


def test_a_refused_launch_can_be_read_in_the_lms_frame(lms):
    # Refused before anyone is signed in, so no session names the platform: the page
    # saying why is framed by the registration the id_token names, or by nobody.
    client = Client()
    params = login_step(client, lms)
    token = lms.id_token(lms.claims(nonce=params["nonce"]))
    response = post_id_token(client, {**params, "state": "state-forged"}, token)
    refused(response, "State not found")
    assert f"frame-ancestors 'self' {lms.base}" in response["Content-Security-Policy"]

    garbage = post_id_token(Client(), params, "not.a-jwt")
    assert garbage.status_code == 403
    assert "frame-ancestors 'none'" in garbage["Content-Security-Policy"]
