"""Taking a quiz: the quiz page, submitting an answer, revealing hints, own attempts.

Each question is a form that posts to ``question_submit``. With htmx the response is
the question's fragment (plus the score line, out of band); without JavaScript the
browser follows a redirect back to the question, whose state comes from the database.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_POST

from .. import fragments
from ..models import Attempt, Lesson, Question
from ..outline import visible_lesson
from .grading import AnswerError, small_int
from .scores import graded_attempts
from .services import SubmissionRejected, attempt_submit
from .state import QuizView, build_quiz_view, submitted_values
from .types import ANSWER_FIELD_RE


def _hints_from(params) -> dict[str, int]:
    qid, shown = params.get("hint", ""), small_int(params.get("shown", ""))
    return {qid: shown} if qid and shown is not None else {}


def _question(quiz_view: QuizView, qid: str):
    for view in quiz_view.questions:
        if view.qid == qid:
            return view
    raise Http404("No such question in this quiz.")


def _fragment(request, quiz_view: QuizView, qid: str, *, with_score: bool) -> HttpResponse:
    context = {
        "quiz_view": quiz_view,
        "item": _question(quiz_view, qid),
        "source": request.POST.get("source") or request.GET.get("source", "quiz"),
    }
    html = render_to_string("courseware/_quiz.html#question", context, request=request)
    if with_score:
        html += render_to_string(
            "courseware/_quiz.html#score", {**context, "oob": True}, request=request
        )
    return HttpResponse(html)


# An answer posted after the session ended waits here (in the new anonymous session,
# which logging in keeps) until the quiz page fills it back in.
PENDING_ANSWER = "virtlab_pending_answer"


def _question_url(request, lesson: Lesson, qid: str) -> str:
    """The question on the page its form was posted from: the lesson or the quiz page."""
    if request.POST.get("source") == "lesson":
        page = lesson.get_absolute_url()
    else:
        page = reverse("courseware:quiz", args=[lesson.slug])
    return f"{page}#q-{qid}"


def _keep_for_after_login(request, lesson: Lesson, qid: str) -> HttpResponse:
    """The session ended before the student pressed Check: nothing can be recorded
    for nobody, but the typed answer must not be lost. Keep it and send them to log in."""
    # Only the answer's own fields, capped: the session of an anonymous visitor must
    # not become a store for whatever they post.
    form = {
        key[:100]: [value[:500] for value in request.POST.getlist(key)[:20]]
        for key in list(request.POST)[:50]
        if ANSWER_FIELD_RE.match(key)
    }
    request.session[PENDING_ANSWER] = {"lesson": lesson.slug, "qid": qid, "form": form}
    back = _question_url(request, lesson, qid)
    login_url = f"{reverse('login')}?{urlencode({'next': back})}"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login_url  # a whole-page visit, not a swap of the form
        return response
    return redirect(login_url)


def pending_answer(request, lesson: Lesson) -> dict | None:
    """The answer kept by ``_keep_for_after_login``, as a ``focus`` for this quiz."""
    pending = request.session.get(PENDING_ANSWER)
    if not pending or not request.user.is_authenticated or pending.get("lesson") != lesson.slug:
        return None
    del request.session[PENDING_ANSWER]
    question = Question.objects.active().filter(quiz__lesson=lesson, qid=pending["qid"]).first()
    if question is None:
        return None
    return {
        "qid": question.qid,
        "values": submitted_values(question, MultiValueDict(pending["form"])),
        "notice": "Your session had ended, so this answer was not checked yet. "
        "It is filled back in: check it and press the button again.",
    }


def quiz_detail(request, slug: str):
    lesson = visible_lesson(request, slug)
    quiz_view = build_quiz_view(
        lesson, request.user, hints=_hints_from(request.GET), focus=pending_answer(request, lesson)
    )
    if quiz_view is None:
        raise Http404("This lesson has no quiz.")
    qid = request.GET.get("hint")
    if request.htmx and qid:
        response = _fragment(request, quiz_view, qid, with_score=False)
    else:
        fragments.question_fragments(request, quiz_view, "quiz")
        response = render(
            request,
            "courseware/quiz.html",
            {"lesson": lesson, "quiz_view": quiz_view, "source": "quiz"},
        )
    # The same URL answers htmx with one question alone: caches must keep the two apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_POST
def question_submit(request, slug: str, qid: str):
    lesson = visible_lesson(request, slug)
    question = get_object_or_404(
        Question.objects.active().select_related("quiz"), qid=qid, quiz__lesson=lesson
    )
    if not request.user.is_authenticated:
        return _keep_for_after_login(request, lesson, qid)
    hints = small_int(request.POST.get("hints", ""))
    hints_shown = {qid: hints} if hints is not None else {}
    try:
        form = {key: request.POST.getlist(key) for key in request.POST}
        attempt_submit(user=request.user, question=question, form=form)
    except (SubmissionRejected, AnswerError) as exc:
        focus = {"qid": qid, "error": str(exc), "values": submitted_values(question, request.POST)}
        quiz_view = build_quiz_view(lesson, request.user, hints=hints_shown, focus=focus)
        if request.htmx:
            return _fragment(request, quiz_view, qid, with_score=False)
        context = {"lesson": lesson, "quiz_view": quiz_view, "source": "quiz"}
        return render(request, "courseware/quiz.html", context, status=400)
    if request.htmx:
        quiz_view = build_quiz_view(
            lesson, request.user, hints=hints_shown, focus={"qid": qid, "just_answered": True}
        )
        return _fragment(request, quiz_view, qid, with_score=True)
    messages.success(request, f"Answer to question {question.order + 1} recorded.")
    return redirect(_question_url(request, lesson, qid))


@login_required
def my_attempts(request):
    """A student's own attempts, newest first (nobody else's, ever)."""
    attempts = (
        Attempt.objects.for_user(request.user)
        .select_related("question__quiz__lesson")
        .order_by("-created_at", "-pk")[:500]
    )
    return render(
        request,
        "courseware/attempts.html",
        {
            "attempts": graded_attempts(request.user.pk, list(attempts)),
            "subject": request.user,
            "own": True,
        },
    )
