"""Registering a platform, our JWKS and the tool configuration JSON."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from lti_tool.models import Key, LtiDeployment, LtiRegistration

from lti.models import PlatformFrames

User = get_user_model()

FORM = {
    "name": "School Moodle",
    "issuer": "https://moodle.school.test",
    "client_id": "AbC123",
    "deployment_ids": "1\n2\n",
    "keyset_url": "https://moodle.school.test/mod/lti/certs.php",
    "auth_url": "https://moodle.school.test/mod/lti/auth.php",
    "token_url": "https://moodle.school.test/mod/lti/token.php",
    "audience": "",
    "extra_origins": "https://school.test/some/path",
    "is_active": "on",
}


@pytest.fixture
def admin_client(db):
    admin = User.objects.create_superuser("admin", password="a-long-test-passphrase-42")
    client = Client()
    client.force_login(admin)
    return client


def test_only_administrators_reach_the_lti_pages(student_client, instructor_client, client):
    for url in (reverse("lti:setup"), reverse("lti:platform_new")):
        assert student_client.get(url).status_code == 403
        assert instructor_client.get(url).status_code == 403
        assert client.get(url).status_code == 403


def test_registering_a_platform(admin_client):
    response = admin_client.post(reverse("lti:platform_new"), FORM)
    assert response.status_code == 302
    registration = LtiRegistration.objects.get()
    assert (registration.issuer, registration.client_id) == ("https://moodle.school.test", "AbC123")
    deployments = dict(registration.deployments.values_list("deployment_id", "is_active"))
    assert deployments == {"1": True, "2": True}
    assert PlatformFrames.objects.get().extra_origins == "https://school.test"
    page = admin_client.get(reverse("lti:setup")).content.decode()
    assert "School Moodle" in page and "http://testserver/lti/login/" in page

    # Editing: a deployment left out is switched off, not deleted.
    edit = reverse("lti:platform_edit", args=[registration.pk])
    assert "AbC123" in admin_client.get(edit).content.decode()
    assert admin_client.post(edit, {**FORM, "deployment_ids": "2"}).status_code == 302
    deployments = dict(registration.deployments.values_list("deployment_id", "is_active"))
    assert deployments == {"1": False, "2": True}


def test_bad_registration_input_is_explained_and_saves_nothing(admin_client):
    bad = {**FORM, "keyset_url": "not a url", "deployment_ids": "  \n", "extra_origins": "ftp://x"}
    response = admin_client.post(reverse("lti:platform_new"), bad)
    assert response.status_code == 400
    text = response.content.decode()
    assert "Enter a valid URL." in text
    assert "Give at least one deployment ID." in text
    assert "is not an http(s) origin" in text
    assert not LtiRegistration.objects.exists() and not LtiDeployment.objects.exists()
    admin_client.post(reverse("lti:platform_new"), FORM)
    again = admin_client.post(reverse("lti:platform_new"), {**FORM, "name": "Twice"})
    assert again.status_code == 400
    assert "already registered" in again.content.decode()
    assert LtiRegistration.objects.count() == 1


def test_our_keyset_is_made_once_and_published(client, db):
    first = client.get(reverse("lti:jwks")).json()
    second = client.get(reverse("lti:jwks")).json()
    assert first == second and len(first["keys"]) == 1
    key = first["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key  # never the private half
    assert Key.objects.count() == 1


def test_tool_configuration_json(client, db):
    config = client.get(reverse("lti:config")).json()
    assert config["oidc_initiation_url"] == "http://testserver/lti/login/"
    assert config["target_link_uri"] == "http://testserver/lti/launch/"
    assert config["public_jwk_url"] == "http://testserver/lti/jwks.json"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in config["scopes"]
    assert (
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
        in config["scopes"]
    )
    placements = config["extensions"][0]["settings"]["placements"]
    assert {p["message_type"] for p in placements} == {"LtiDeepLinkingRequest"}
