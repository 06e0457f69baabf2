from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from .platform import Platform
from .registration import register_platform


@pytest.fixture
def platform():
    lms = Platform()
    yield lms
    lms.close()


@pytest.fixture
def registration(db, platform):
    registration = register_platform(platform)
    # The platform fetches our keyset from our JWKS URL, as a real LMS does.
    platform.tool_jwks = Client().get(reverse("lti:jwks")).json()
    return registration


def login_step(client: Client, platform: Platform, *, secure: bool = False) -> dict[str, str]:
    """The platform's OIDC login initiation, and our redirect to its auth endpoint:
    returns the state, nonce and redirect_uri we sent there."""
    response = client.post(
        reverse("lti:login"),
        {
            "iss": platform.issuer,
            "login_hint": "opaque-login-hint",
            "target_link_uri": "http://testserver/lti/launch/",
            "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id,
        },
        secure=secure,
    )
    if secure and response.status_code == 200:  # the cookie check page, then on
        continue_url = response.context["continue_url"]
        response = client.get(continue_url, secure=True)
    assert response.status_code == 302, response.content[:500]
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == platform.auth_url
    params = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert params["response_type"] == "id_token" and params["scope"] == "openid"
    assert params["client_id"] == platform.client_id
    assert params["login_hint"] == "opaque-login-hint"
    return params


def post_id_token(client: Client, params: dict, token: str, *, secure: bool = False):
    path = urlsplit(params["redirect_uri"]).path
    return client.post(path, {"id_token": token, "state": params["state"]}, secure=secure)


def launch(client: Client, platform: Platform, *, secure: bool = False, **claims):
    """A whole launch: login, then the id_token the platform signs for it."""
    params = login_step(client, platform, secure=secure)
    token = platform.id_token(platform.claims(nonce=params["nonce"], **claims))
    return post_id_token(client, params, token, secure=secure)
