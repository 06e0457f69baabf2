"""LTI endpoints (login, launch, JWKS, tool configuration, deep linking) and the
pages for administrators (registering platforms) and instructors (a class's roster
and grade passback). docs/lti.md explains which URL goes where in Moodle and Canvas."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from lti_tool.constants import SESSION_KEY
from lti_tool.models import Key, LtiDeployment, LtiRegistration, LtiUser
from lti_tool.utils import DjangoToolConfig, sync_data_from_launch
from lti_tool.views import OIDCLoginInitView
from pylti1p3.exception import LtiException, OIDCException

from courseware.models import Attempt, Classroom, Question
from virtlab.roles import instructor_required

from . import deep_linking, grades
from .accounts import account_for, classroom_for, enrol, teaches
from .forms import RegistrationForm
from .frames import FRAME_ORIGINS_KEY, frame_origins, origin_of
from .keys import ensure_signing_key
from .launch import LaunchRefused, oidc_login, restored_launch, validated_launch
from .models import ContextClass, GradeLink
from .roster import RosterError, import_roster
from .targets import TargetError, picker_groups, resolve, target_text

# settings.AUTHENTICATION_BACKENDS has two; a launch signs in without a password.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    grades.SCORE_SCOPE,
]
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def refused(request, message: str, *, status: int = 403, signed_in: bool = False):
    """The page for a launch virtlab does not accept (or a link to nothing); with
    ``signed_in``, the launch itself was accepted and the user is signed in."""
    return render(
        request,
        "lti/refused.html",
        {
            "title": "This LMS link could not open virtlab",
            "message": message,
            "signed_in": signed_in,
        },
        status=status,
    )


# --- OIDC login and launch --------------------------------------------------------


class LoginView(OIDCLoginInitView):
    """OIDC third-party login initiation (the platform's first request).

    django-lti's view, with three changes: the state and nonce go to the shared
    database cache; the platform is always sent back to our one launch URL (the
    redirect URI registered in the LMS), whatever link is being opened; and the page
    that checks the browser keeps cookies in a frame is our own template, since
    pylti1p3's inline script would be blocked by our CSP and its page has no title and
    a javascript: link.
    """

    def get_redirect_url(self, target_link_uri: str) -> str:
        return self.request.build_absolute_uri(reverse("lti:launch"))

    def get_oidc_response(self, request, registration_uuid, params):
        if not params.get("target_link_uri"):
            return refused(request, "The LMS did not say which link to open.", status=400)
        login_request = oidc_login(request, DjangoToolConfig(registration_uuid))
        try:
            if params.get("lti1p3_new_window") or not _check_cookies(request):
                return login_request.redirect(self.get_redirect_url(params["target_link_uri"]))
            # The first request inside a frame: make sure cookies survive there first.
            login_request.validate_oidc_login()
        except (OIDCException, LtiException) as error:
            return refused(
                request,
                f"The LMS's login request was refused: {error}. Check that the platform is "
                "registered in virtlab with this issuer and client id.",
                status=400,
            )
        again = {key: value for key, value in params.items() if value}
        again["lti1p3_new_window"] = "1"
        url = f"{request.path}?{urlencode(again)}"
        return render(request, "lti/cookie_check.html", {"continue_url": url})


def _check_cookies(request) -> bool:
    # Only over HTTPS does SameSite=None exist (lti/frames.py); over HTTP a framed
    # session cannot work anyway, and the launch page says so.
    return request.is_secure()


@csrf_exempt  # the platform posts the id_token from its own page; it is signed instead
@require_POST
def launch(request):
    ensure_signing_key()
    try:
        lti_launch = validated_launch(request)
    except LaunchRefused as error:
        return refused(request, str(error))
    sync_data_from_launch(lti_launch)  # django-lti's rows: user, context, membership, link
    claims = lti_launch.get_launch_data()
    if not claims.get("sub"):
        return refused(request, "Anonymous launches are not supported: virtlab needs a user.")
    teaching = teaches(lti_launch.roles_claim)
    account = account_for(claims["iss"], claims["sub"], claims)
    user = account.user
    LtiUser.objects.filter(registration=lti_launch.registration, sub=claims["sub"]).update(
        auth_user=user
    )
    classroom = None
    if lti_launch.context_claim and lti_launch.context_claim.get("id"):
        classroom = classroom_for(lti_launch.context)
        enrol(user, classroom, teaching=teaching)
    login(request, user, backend=MODEL_BACKEND)
    request.session[SESSION_KEY] = lti_launch.get_launch_id()
    request.session[FRAME_ORIGINS_KEY] = frame_origins(lti_launch.registration)

    if lti_launch.is_deep_link_launch:
        if not teaching:
            return refused(request, "Only the course's instructors choose virtlab content.")
        return _picker(request, lti_launch)
    if not lti_launch.is_resource_launch:
        return refused(request, "virtlab opens links and deep-linking requests only.", status=400)
    text = target_text(
        claims.get("https://purl.imsglobal.org/spec/lti/claim/custom"),
        claims.get("https://purl.imsglobal.org/spec/lti/claim/target_link_uri"),
    )
    if text is None:
        return HttpResponseRedirect(reverse("courseware:home"))
    try:
        target = resolve(text)
    except TargetError as error:
        return refused(
            request, f"{error} Ask your instructor to fix the link.", status=404, signed_in=True
        )
    if target.graded and not teaching:
        _remember_grade_link(lti_launch, account, target, classroom)
    return HttpResponseRedirect(target.url)


def _remember_grade_link(lti_launch, account, target, classroom) -> None:
    """Where this student's score for the lesson goes, if the link has a line item."""
    ags = lti_launch.ags_claim or {}
    scopes = list(ags.get("scope") or [])
    if not ags.get("lineitem") or grades.SCORE_SCOPE not in scopes:
        return
    if not Question.objects.active().filter(quiz__lesson=target.lesson).exists():
        return  # a lesson without a quiz has no score to send

    link, _ = GradeLink.objects.update_or_create(
        account=account,
        lineitem_url=ags["lineitem"],
        defaults={
            "registration": lti_launch.registration,
            "lesson": target.lesson,
            "classroom": classroom,
            "scopes": scopes,
        },
    )
    # Work done before this launch (or outside the LMS) counts from the start.
    if Attempt.objects.filter(user=account.user, question__quiz__lesson=target.lesson).exists():
        grades.queue_for(account.user_id, [target.lesson.pk])


# --- Deep linking -----------------------------------------------------------------


def _picker(request, lti_launch, *, error: str = "", chosen=(), status: int = 200):
    return render(
        request,
        "lti/pick.html",
        {
            "groups": picker_groups(),
            "multiple": deep_linking.accepts_multiple(lti_launch),
            "error": error,
            "chosen": set(chosen),
            "platform_title": deep_linking.link_settings(lti_launch).get("title", ""),
        },
        status=status,
    )


@login_required
@require_POST
def deep_link_return(request):
    launch_id = request.session.get(SESSION_KEY)
    if not launch_id:
        return refused(request, "Open virtlab's content picker from your LMS.")
    try:
        lti_launch = restored_launch(request, launch_id)
    except LaunchRefused as error:
        return refused(request, str(error))
    if not lti_launch.is_deep_link_launch or not teaches(lti_launch.roles_claim):
        return refused(request, "Open virtlab's content picker from your LMS.")
    keys = [key for key in request.POST.getlist("target") if key]
    if not keys:
        return _picker(request, lti_launch, error="Choose a lesson, quiz or lab.", status=400)
    if len(keys) > 1 and not deep_linking.accepts_multiple(lti_launch):
        return _picker(
            request,
            lti_launch,
            error="Your LMS takes one item here: choose one.",
            chosen=keys,
            status=400,
        )
    try:
        targets = [resolve(key) for key in keys]
    except TargetError as error:
        return _picker(request, lti_launch, error=str(error), chosen=keys, status=400)
    resources = [deep_linking.resource_for(request, target) for target in targets]
    return_url = deep_linking.link_settings(lti_launch)["deep_link_return_url"]
    response = render(
        request,
        "lti/deep_link_return.html",
        {
            "return_url": return_url,
            "jwt": deep_linking.response_jwt(lti_launch, resources),
            "titles": [target.title for target in targets],
        },
    )
    # This one page posts to the platform (the only cross-origin form virtlab sends).
    response._csp_config = {
        **settings.SECURE_CSP,
        "form-action": [CSP.SELF, origin_of(return_url)],
    }
    return response


# --- What the platform's administrator pastes -------------------------------------


@require_GET
def jwks(request):
    ensure_signing_key()
    return JsonResponse(Key.objects.as_jwks())


def tool_urls(request) -> dict[str, str]:
    def absolute(name: str) -> str:
        return request.build_absolute_uri(reverse(name))

    return {
        "login": absolute("lti:login"),
        "launch": absolute("lti:launch"),
        "jwks": absolute("lti:jwks"),
        "config": absolute("lti:config"),
        "deep_link": absolute("lti:launch"),
    }


def tool_configuration(request) -> dict:
    """Canvas's LTI 1.3 developer key JSON; the same URLs go into Moodle's form."""
    urls = tool_urls(request)
    deep_linking_placement = {
        "text": "virtlab",
        "message_type": "LtiDeepLinkingRequest",
        "target_link_uri": urls["launch"],
    }
    return {
        "title": "virtlab",
        "description": "Lessons, quizzes and labs on real containers and VMs.",
        "oidc_initiation_url": urls["login"],
        "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"],
        "scopes": [*AGS_SCOPES, NRPS_SCOPE],
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": request.get_host().split(":")[0],
                "tool_id": "virtlab",
                "privacy_level": "public",
                "settings": {
                    "text": "virtlab",
                    "placements": [
                        {"placement": "link_selection", **deep_linking_placement},
                        {"placement": "assignment_selection", **deep_linking_placement},
                    ],
                },
            }
        ],
        "custom_fields": {},
    }


@require_GET
def config(request):
    return JsonResponse(tool_configuration(request), json_dumps_params={"indent": 2})


# --- Registering platforms (administrators) ---------------------------------------

MANAGE = "lti_tool.change_ltiregistration"


@permission_required(MANAGE, raise_exception=True)
def setup(request):
    import json

    registrations = LtiRegistration.objects.annotate(
        active_deployments=Count("deployments", filter=Q(deployments__is_active=True)),
        waiting_deployments=Count("deployments", filter=Q(deployments__is_active=False)),
    ).order_by("name")
    failing = (
        GradeLink.objects.filter(failures__gt=0)
        .select_related("account__user", "lesson", "classroom")
        .order_by("-last_error_at")[:20]
    )
    return render(
        request,
        "lti/setup.html",
        {
            "urls": tool_urls(request),
            "config_json": json.dumps(tool_configuration(request), indent=2),
            "registrations": registrations,
            "failing": failing,
        },
    )


@permission_required(MANAGE, raise_exception=True)
def platform_edit(request, registration_id: int | None = None):
    registration = (
        get_object_or_404(LtiRegistration, pk=registration_id) if registration_id else None
    )
    form = RegistrationForm(request.POST or None, registration=registration)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Saved the registration “{saved.name}”.")
        return redirect("lti:setup")
    waiting = (
        LtiDeployment.objects.filter(registration=registration, is_active=False)
        if registration
        else []
    )
    return render(
        request,
        "lti/platform_form.html",
        {
            "form": form,
            "registration": registration,
            "waiting": waiting,
            "urls": tool_urls(request),
            "login_with_uuid": registration
            and request.build_absolute_uri(
                reverse("lti:login_registration", args=[registration.uuid])
            ),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- A class from an LMS (its instructors) ----------------------------------------


def _lms_class(request, class_id: int) -> tuple[Classroom, ContextClass | None]:
    classroom = get_object_or_404(Classroom.objects.taught_by(request.user), pk=class_id)
    link = (
        ContextClass.objects.filter(classroom=classroom)
        .select_related("context__deployment__registration")
        .first()
    )
    return classroom, link


@instructor_required
def class_lti(request, class_id: int):
    classroom, link = _lms_class(request, class_id)
    grade_links = (
        GradeLink.objects.filter(classroom=classroom)
        .select_related("account__user", "lesson")
        .order_by("-failures", "account__user__username", "lesson__title")
    )
    return render(
        request,
        "lti/class.html",
        {
            "classroom": classroom,
            "link": link,
            "grade_links": grade_links,
            "failed": sum(1 for g in grade_links if g.failures),
        },
    )


@instructor_required
@require_POST
def class_roster(request, class_id: int):
    classroom, link = _lms_class(request, class_id)
    if link is None:
        messages.error(request, "This class is not linked to an LMS course.")
        return redirect("lti:class", class_id=classroom.pk)
    ensure_signing_key()
    try:
        result = import_roster(link.context)
    except RosterError as error:
        messages.error(request, f"The roster was not imported: {error}")
    else:
        messages.success(request, f"Roster imported: {result.summary()}")
    return redirect("lti:class", class_id=classroom.pk)


@instructor_required
@require_POST
def class_resend(request, class_id: int):
    """Queue the sends again: every failed one, or the one named."""
    classroom, _ = _lms_class(request, class_id)
    links = GradeLink.objects.filter(classroom=classroom)
    if request.POST.get("link"):
        if not request.POST["link"].isdigit():
            messages.error(request, "That is not one of this class's scores.")
            return redirect("lti:class", class_id=classroom.pk)
        links = links.filter(pk=int(request.POST["link"]))
    else:
        links = links.filter(failures__gt=0)
    ids = list(links.values_list("pk", flat=True))
    for link_id in ids:
        grades.send_grade.enqueue(link_id, force=True)
    messages.success(
        request, f"Queued {len(ids)} score{'s' if len(ids) != 1 else ''} to send again."
    )
    return redirect("lti:class", class_id=classroom.pk)
