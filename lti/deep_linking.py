"""Deep Linking: the teacher's choice, signed and sent back to the platform."""

from __future__ import annotations

from django.urls import reverse
from lti_tool.models import LtiLaunch
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem

from .grades import SCORE_MAXIMUM
from .targets import CUSTOM_PARAMETER, Target

SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def link_settings(launch: LtiLaunch) -> dict:
    return launch.get_claim(SETTINGS_CLAIM) or {}


def accepts_multiple(launch: LtiLaunch) -> bool:
    return link_settings(launch).get("accept_multiple") in (True, "true")


def resource_for(request, target: Target) -> DeepLinkResource:
    """An LTI resource link to ``target``. Every link launches at our launch URL; the
    target travels as a custom parameter, so the platform signs it into each launch. A
    quiz link asks the platform for a line item (a grade column) out of 100."""
    resource = (
        DeepLinkResource()
        .set_type("ltiResourceLink")
        .set_title(target.title)
        .set_url(request.build_absolute_uri(reverse("lti:launch")))
        .set_custom_params({CUSTOM_PARAMETER: target.key})
    )
    if target.kind == "quiz":
        resource.set_lineitem(
            LineItem()
            .set_score_maximum(SCORE_MAXIMUM)
            .set_label(target.title)
            .set_resource_id(target.key)
            .set_tag("virtlab")
        )
    return resource


def response_jwt(launch: LtiLaunch, resources: list[DeepLinkResource]) -> str:
    """The LtiDeepLinkingResponse, signed with our key (pylti1p3 builds the claims)."""
    return launch.get_message_launch().get_deep_link().get_response_jwt(resources)
