"""Checking an LTI launch: django-lti and pylti1p3 do the OIDC and JWT work; this
module wires them to virtlab's shared cache and HTTP timeouts, and adds the checks
they leave out.

pylti1p3 checks, in order: the state (against its cookie, set at the OIDC login), the
id_token's shape, that its nonce is one our login issued, the registration (issuer and
client id = ``aud``), the signature against the platform's JWKS (with ``exp`` and
``iat``), the deployment, and the message's required claims. We add:

- **one use per id_token**: pylti1p3 remembers a state it validated with a given
  id_token and accepts the pair again (so a tool page can be reloaded); a launch signs
  someone in, so its nonce is recorded (``UsedLaunch``) and a second use refused;
- **the token is for us alone**: pylti1p3 takes the first ``aud`` as the client id and
  ignores the rest and ``azp``; the LTI security framework says to refuse a token that
  also names audiences the tool does not trust, and one whose authorised party (``azp``)
  is another client;
- **deployments must be activated**: django-lti records a deployment id it has not
  seen as a new, inactive deployment (so an administrator can see and activate it);
  we refuse such launches before any of its data is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from lti_tool.models import LtiLaunch
from lti_tool.utils import DjangoToolConfig
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.exception import LtiException

from .http import platform_session
from .models import UsedLaunch

CACHE_ALIAS = "lti"  # settings.CACHES: a database cache every web worker shares
# How long a used nonce is remembered: longer than any id_token lives (platforms give
# them minutes) and than pylti1p3 keeps a nonce it issued (a day).
USED_NONCE_DAYS = 2


class LaunchRefused(Exception):
    """The launch is not accepted; the message says why, for the person launching."""


def data_storage() -> DjangoCacheDataStorage:
    # django-lti's views use the "default" cache, which is per process here (locmem):
    # a login answered by one web worker and its launch by another would not find the
    # state and nonce. The database cache is shared.
    return DjangoCacheDataStorage(cache_name=CACHE_ALIAS)


def message_launch(request, tool_conf: DjangoToolConfig | None = None) -> DjangoMessageLaunch:
    return DjangoMessageLaunch(
        request,
        tool_conf or DjangoToolConfig(),
        launch_data_storage=data_storage(),
        requests_session=platform_session(),
    )


def oidc_login(request, tool_conf: DjangoToolConfig) -> DjangoOIDCLogin:
    return DjangoOIDCLogin(request, tool_conf, launch_data_storage=data_storage())


def validated_launch(request) -> LtiLaunch:
    """The launch in this POST, fully checked, or LaunchRefused."""
    try:
        # Over HTTPS the constructor already needs pylti1p3's session cookie, set at
        # the OIDC login: a browser that lost it is refused like any other launch.
        message = message_launch(request)
        message.validate()
    except (LtiException, KeyError, TypeError, ValueError) as error:
        raise LaunchRefused(_explain(error)) from error
    _check_audience(message.get_launch_data(), message.get_client_id())
    launch = LtiLaunch(message)
    if not launch.deployment.is_active:
        raise LaunchRefused(
            "This LMS deployment is not activated in virtlab yet. An administrator can "
            f"activate deployment “{launch.deployment.deployment_id}” on virtlab's LTI page."
        )
    _use_once(launch.get_claim("iss"), launch.get_claim("nonce"))
    return launch


def restored_launch(request, launch_id: str) -> LtiLaunch:
    """A launch checked earlier in this session (kept in the shared cache)."""
    try:
        message = DjangoMessageLaunch.from_cache(
            launch_id,
            request,
            DjangoToolConfig(),
            launch_data_storage=data_storage(),
            requests_session=platform_session(),
        )
    except LtiException as error:
        raise LaunchRefused(
            "This LMS launch has expired. Open the link in your LMS again."
        ) from error
    return LtiLaunch(message)


def _check_audience(claims: dict, client_id: str) -> None:
    audiences = claims.get("aud")
    if isinstance(audiences, list) and set(audiences) != {client_id}:
        raise LaunchRefused(
            "The launch was refused: its id_token is also meant for other tools "
            f"(audiences {', '.join(map(str, audiences))})."
        )
    if "azp" in claims and claims["azp"] != client_id:
        raise LaunchRefused(
            f"The launch was refused: its id_token was issued to another tool (azp {claims['azp']})."
        )


def _use_once(issuer: str, nonce: str) -> None:
    now = timezone.now()
    UsedLaunch.objects.filter(used_at__lt=now - timedelta(days=USED_NONCE_DAYS)).delete()
    try:
        with transaction.atomic():
            UsedLaunch.objects.create(issuer=issuer, nonce=nonce, used_at=now)
    except IntegrityError:
        raise LaunchRefused(
            "This launch was already used. Open the link in your LMS again."
        ) from None


def _explain(error: Exception) -> str:
    """A sentence for the person launching; pylti1p3's own message follows it."""
    text = str(error) or error.__class__.__name__
    hints = {
        "cookie session-id": "the sign-in from your LMS did not come back to this browser "
        "(cookies blocked in the frame?). Open the link in a new window",
        "State not found": "the sign-in from your LMS did not come back to this browser "
        "(cookies blocked in the frame?). Open the link in a new window",
        "Invalid Nonce": "this launch was not started by virtlab's login step, or it expired",
        "Registration not found": "no LMS registered in virtlab has this issuer and client id",
        "Client id not registered": "no LMS registered in virtlab has this issuer and client id",
        "expired": "the launch is too old; open the link in your LMS again",
    }
    for needle, hint in hints.items():
        if needle.lower() in text.lower():
            return f"The launch was refused: {hint}. ({text})"
    return f"The launch was refused. ({text})"
