"""The test LMS (tests/lti/platform.py) registered with a live server, for browser tests."""

from __future__ import annotations

from urllib.parse import urlencode

import requests

from tests.lti.platform import Platform
from tests.lti.registration import register_platform


def registered_platform(live_server) -> Platform:
    # "localhost", like the live server: one site, so plain-HTTP cookies reach the frame.
    lms = Platform(host="localhost")
    register_platform(lms)
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
