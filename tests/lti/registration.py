"""The test LMS registered with virtlab as an administrator would register a platform:
its registration and one active deployment. Shared by the LTI tests and the browser
tests; each then gives the LMS our keyset the way it can reach us."""

from __future__ import annotations

from lti_tool.models import LtiDeployment, LtiRegistration

from .platform import Platform


def register_platform(platform: Platform) -> LtiRegistration:
    registration = LtiRegistration.objects.create(
        name="Test LMS",
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_url=platform.auth_url,
        token_url=platform.token_url,
        keyset_url=platform.jwks_url,
    )
    LtiDeployment.objects.create(
        registration=registration, deployment_id=platform.deployment_id, is_active=True
    )
    return registration
