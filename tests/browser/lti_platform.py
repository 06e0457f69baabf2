"""The test LMS (tests/lti/platform.py) registered with a live server, for browser tests."""

from __future__ import annotations

from urllib.parse import urlencode

import requests
from lti_tool.models import LtiDeployment, LtiRegistration

from tests.lti.platform import Platform


def registered_platform(live_server) -> Platform:
    # "localhost", like the live server: one site, so plain-HTTP cookies reach the frame.
    lms = Platform(host="localhost")
    registration = LtiRegistration.objects.create(
        name="Test LMS",
        issuer=lms.issuer,
        client_id=lms.client_id,
        auth_url=lms.auth_url,
        token_url=lms.token_url,
        keyset_url=lms.jwks_url,
    )
    LtiDeployment.objects.create(
        registration=registration, deployment_id=lms.deployment_id, is_active=True
    )
    lms.tool_jwks = requests.get(f"{live_server.url}/lti/jwks.json", timeout=30).json()
    return lms


def login_url(live_server, lms: Platform) -> str:
    """Where the LMS sends the browser to start a launch (OIDC login initiation)."""
    query = urlencode(
        {
            "iss": lms.issuer,
            "login_hint": "opaque-login-hint",
            "target_link_uri": f"{live_server.url}/lti/launch/",
            "client_id": lms.client_id,
            "lti_deployment_id": lms.deployment_id,
        }
    )
    return f"{live_server.url}/lti/login/?{query}"
