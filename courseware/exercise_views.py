"""The exercise page and its Check buttons (courseware/exercises.py does the work).

Each step's Check is a form posting to ``exercise_check``. With htmx the response is
the step's fragment, outcome included; without JavaScript the browser follows a
redirect back to the step, and the outcome waits in the session for that one view.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from .exercises import Outcome, check_step, done_keys, record_done
from .models import Exercise, ExerciseStep
from .outline import visible_lesson

# The outcome of a check posted without JavaScript, shown once on the next view.
OUTCOME_KEY = "virtlab_exercise_outcome"


def _exercise(request, slug: str, exercise_slug: str) -> Exercise:
    lesson = visible_lesson(request, slug)
    return get_object_or_404(Exercise.objects.active(), lesson=lesson, slug=exercise_slug)


def _step_context(step: ExerciseStep, *, done: bool, outcome: Outcome | None) -> dict:
    return {"step": step, "step_done": done, "outcome": outcome}


@login_required
def exercise_detail(request, slug: str, exercise: str):
    exercise = _exercise(request, slug, exercise)
    steps = list(exercise.steps.filter(retired=False))
    done = done_keys(request.user, exercise)
    pending = request.session.pop(OUTCOME_KEY, None)
    items = []
    for step in steps:
        outcome = None
        if pending and pending.get("step") == step.pk:
            outcome = Outcome(pending["done"], pending["message"])
        items.append(_step_context(step, done=step.key in done, outcome=outcome))
    return render(
        request,
        "courseware/exercises/exercise.html",
        {
            "lesson": exercise.lesson,
            "exercise": exercise,
            "items": items,
            "done_count": sum(1 for step in steps if step.key in done),
            "step_count": len(steps),
            "kinds": list(dict.fromkeys(step.sandbox for step in steps)),
        },
    )


@require_POST
def exercise_check(request, slug: str, exercise: str, step: str):
    # Imported here: the terminals app builds on courseware's pages, not the reverse.
    from terminals.services import NoLiveTerminal, TerminalError, run_check

    exercise = _exercise(request, slug, exercise)
    if not request.user.is_authenticated:  # the session ended: sign in, come back here
        login_url = f"{reverse('login')}?{urlencode({'next': exercise.get_absolute_url()})}"
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login_url  # a whole-page visit, not a swapped step
            return response
        return redirect(login_url)
    step = get_object_or_404(exercise.steps.filter(retired=False), key=step)
    try:
        # The script is the stored step's; nothing from the request reaches it.
        outcome = check_step(
            step,
            lambda script, timeout: run_check(request.user, step.sandbox, script, timeout),
        )
    except NoLiveTerminal as exc:
        outcome = Outcome(False, str(exc))
    except TerminalError as exc:
        outcome = Outcome(False, f"The check could not run: {exc}")
    if outcome.done:
        record_done(user=request.user, step=step)
    done_so_far = done_keys(request.user, exercise)
    done = step.key in done_so_far  # now, or at an earlier check
    if request.htmx:
        # The step, and the page's count of steps done out of band.
        keys = set(exercise.steps.filter(retired=False).values_list("key", flat=True))
        html = render_to_string(
            "courseware/exercises/exercise.html#count",
            {"done_count": len(keys & done_so_far), "step_count": len(keys), "oob": True},
        )
        html += render_to_string(
            "courseware/exercises/exercise.html#step",
            {
                "lesson": exercise.lesson,
                "exercise": exercise,
                "item": _step_context(step, done=done, outcome=outcome),
            },
            request=request,
        )
        return HttpResponse(html)
    request.session[OUTCOME_KEY] = {
        "step": step.pk,
        "done": outcome.done,
        "message": outcome.message,
    }
    return redirect(f"{exercise.get_absolute_url()}#step-{step.key}")
