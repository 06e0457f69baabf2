"""Showing virtlab inside a platform's page (an LMS shows tools in an iframe).

Two things stop a framed page from working, and both are relaxed only for a session
an LTI launch started, only for the platform that launched it:

1. **Framing.** virtlab sends ``X-Frame-Options: DENY`` and CSP ``frame-ancestors
   'none'`` (settings.py) so no other site can frame it (clickjacking). For a launched
   session, this middleware drops X-Frame-Options (it cannot name an origin) and sets
   ``frame-ancestors 'self'`` plus the launching platform's origins — its issuer's and
   authorisation URL's, and any an administrator added to the registration — so only
   that LMS may frame it, and a normal sign-in keeps ``'none'``.
2. **Cookies.** Inside an LMS on another site, the browser sends our cookies only if
   they are ``SameSite=None``, which browsers accept only with ``Secure``. Over HTTPS
   (``VIRTLAB_HTTPS=1``), the session and CSRF cookies of a launched session are
   marked so; Django's CSRF checks (token and Origin) still apply to every POST. Over
   plain HTTP nothing can be done: the cookies stay ``Lax`` and a cross-site frame
   cannot keep a session (docs/lti.md; the launch then offers a new window).

The OIDC login comes before any session: it is the first page the LMS's frame loads,
and over HTTPS it answers with a page (the cookie check), not a redirect. That page
may be framed by the origins of the registration the login names (issuer and client
id, or the registration's own login URL), so the LMS can show it at all; so may the
page saying why a launch was refused, by the registration its id_token names.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from django.conf import settings
from django.middleware.csp import get_nonce
from django.utils.csp import CSP, build_policy
from lti_tool.models import LtiRegistration

FRAME_ORIGINS_KEY = "lti_frame_origins"
LOGIN_VIEWS = {"lti:login", "lti:login_registration"}
LAUNCH_VIEW = "lti:launch"


def origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


def frame_origins(registration) -> list[str]:
    """The origins that may frame virtlab after a launch from this registration."""
    urls = [registration.issuer, registration.auth_url]
    extra = getattr(registration, "virtlab_frames", None)
    if extra is not None:
        urls += extra.extra_origins.split()
    return sorted({origin for url in urls if (origin := origin_of(url))})


def login_frame_origins(request) -> list[str]:
    """Before a session: the origins of the one active registration that the OIDC
    login names, or that a refused launch's id_token names, else none. Neither is
    verified here, but they can only pick among registered platforms, and the pages
    they unlock (the cookie check, a refusal) only lead on to that platform's login
    or say why nothing happened."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return []
    if match.view_name == LAUNCH_VIEW and request.method == "POST":
        claims = _unverified_claims(request.POST.get("id_token", ""))
        audience = claims.get("aud")
        if isinstance(audience, list):
            audience = audience[0] if audience else None
        lookups = {"issuer": str(claims.get("iss") or ""), "client_id": str(audience or "")}
    elif match.view_name in LOGIN_VIEWS:
        params = request.POST if request.method == "POST" else request.GET
        lookups = {"issuer": params.get("iss") or ""}
        if params.get("client_id"):
            lookups["client_id"] = params["client_id"]
        if match.kwargs.get("registration_uuid"):
            lookups["uuid"] = match.kwargs["registration_uuid"]
        if len(lookups) == 1:  # an issuer alone may name several registrations
            return []
    else:
        return []
    found = list(LtiRegistration.objects.active().filter(**lookups)[:2])
    return frame_origins(found[0]) if len(found) == 1 else []


def _unverified_claims(token: str) -> dict:
    """A JWT's payload, unchecked ({} if it is not one): only to pick a registration."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


class LtiFrameMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        origins = session.get(FRAME_ORIGINS_KEY) if session is not None else None
        if not origins:
            origins = login_frame_origins(request)
        if not origins:
            return response
        if "X-Frame-Options" in response:
            del response["X-Frame-Options"]
        # The view may have chosen its own policy (csp_override); keep it, but for its
        # frame-ancestors. The nonce is the one the page's scripts were given.
        config = getattr(response, "_csp_config", settings.SECURE_CSP)
        if config:
            config = {**config, "frame-ancestors": [CSP.SELF, *origins]}
            response.headers[str(CSP.HEADER_ENFORCE)] = build_policy(config, get_nonce(request))
        if request.is_secure():
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
                if name in response.cookies:
                    response.cookies[name]["samesite"] = "None"
                    response.cookies[name]["secure"] = True
        return response
