import functools
import json

import plotly.io
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from courseware.quizzes import predictions
from virtlab.rendering import render_markdown
from virtlab.roles import instructor_required, is_instructor

from . import capabilities
from .capabilities import lab_status
from .csv_export import run_csv
from .distribution import (
    MIN_STUDENTS_FOR_STUDENTS,
    distribution_figure,
    headline_key,
    host_count,
    host_names,
    latest_values,
)
from .experiments import all_labs, get_lab
from .forms import lab_form
from .host_list import host_views, queue_view
from .hosts import forget as forget_silent_host
from .models import LabHost, LabRun
from .presenters import present
from .services import RunRefused, run_cancel, run_create

# How often the run page asks for news while a run is active (htmx polling): quickly
# until the first sample is on the page (that wait is what students notice), then
# every half second, which keeps the chart live without flooding the server.
FIRST_SAMPLE_POLL_SECONDS = 0.2
RUN_POLL_SECONDS = 0.5


def _lab_or_404(slug: str):
    lab = get_lab(slug)
    if lab is None:
        raise Http404("There is no such lab.")
    return lab


def _visible_run(request, slug: str, run_id: int) -> LabRun:
    run = get_object_or_404(LabRun, pk=run_id, lab=slug)
    if not request.user.is_authenticated:
        # An anonymous user's id is None, which would match a command-line run's owner.
        raise Http404("There is no such run.")
    if run.user_id == request.user.id:
        return run
    if is_instructor(request.user):
        allowed = predictions.students_taught_by(request.user)
        if allowed is None or run.user_id in allowed or run.user_id is None:
            return run
    raise Http404("There is no such run.")


def catalogue(request):
    caps, probed_at = capabilities.cached()  # once for every lab
    entries = [(lab, lab_status(lab, caps, probed_at)) for lab in all_labs()]
    return render(request, "labs/catalogue.html", {"entries": entries})


def _class_distribution(request, lab, *, chart: bool) -> dict | None:
    """The spread of the lab's headline figure across students, once there are enough;
    only their count when the chart is not to be shown yet."""
    key = headline_key(lab)
    if key is None:
        return None
    values = latest_values(lab, key)
    if len(values) < MIN_STUDENTS_FOR_STUDENTS:
        return None
    if not chart:
        return {"figure": None, "count": len(values)}
    mine = next((v.value for v in values if v.user_id == request.user.id), None)
    fig = distribution_figure(lab, key, values, mine=mine, names=False)
    return {
        "figure": json.loads(plotly.io.to_json(fig, validate=False)),
        "count": len(values),
        "hosts": host_count(values),
    }


@functools.cache
def explanation_html(text: str) -> SafeString:
    """A lab's explanation, Markdown rendered and sanitised exactly as lessons are."""
    return mark_safe(render_markdown(text).html)  # noqa: S308 - nh3 sanitised it


def lab_detail(request, slug: str, form=None):
    lab = _lab_or_404(slug)
    status = lab_status(lab)
    my_runs = LabRun.objects.for_user(request.user).for_lab(slug)[:20]
    lessons = predictions.lessons_for_lab(slug)
    predict_questions = predictions.predict_questions(slug)
    awaiting_prediction = predictions.awaiting_prediction(request.user, predict_questions)
    my_predictions = predictions.lab_predictions(request.user, slug) if predict_questions else []
    return render(
        request,
        "labs/lab_detail.html",
        {
            "lab": lab,
            "explanation": explanation_html(lab.explanation),
            "status": status,
            "form": form or lab_form(lab),
            "my_runs": my_runs,
            "lessons": lessons,
            "distribution": _class_distribution(request, lab, chart=not awaiting_prediction),
            "predict_questions": predict_questions,
            "my_predictions": my_predictions,
            "awaiting_prediction": awaiting_prediction,
        },
    )


@instructor_required
def lab_runs_for_instructor(request, slug: str):
    """Every student's runs of this lab, with the named distribution of its headline."""
    lab = _lab_or_404(slug)
    student_ids = predictions.students_taught_by(request.user)
    runs = LabRun.objects.for_lab(slug).filter(user__isnull=False).select_related("user")
    if student_ids is not None:
        runs = runs.filter(user_id__in=student_ids)
    key = headline_key(lab)
    figure = None
    hosts = 0
    if key:
        values = latest_values(lab, key, student_ids)
        if values:
            fig = distribution_figure(lab, key, values, mine=None, names=True)
            figure = json.loads(plotly.io.to_json(fig, validate=False))
            hosts = host_count(values)
    runs = list(runs[:500])
    # Which server ran each run, once runs came from more than one.
    names = host_names({run.host for run in runs})
    if len(names) > 1:
        for run in runs:
            run.host_name = names[run.host]
    return render(
        request,
        "labs/instructor_runs.html",
        {
            "lab": lab,
            "runs": runs,
            "several_hosts": len(names) > 1,
            "hosts": hosts,
            "figure": figure,
            "key": key,
            "key_label": lab.summary_labels.get(key, key) if key else "",
        },
    )


@instructor_required
def hosts_overview(request):
    """The lab servers: which are working, what each can run, how busy, and the queue."""
    return render(
        request,
        "labs/hosts.html",
        {
            "hosts": host_views(),
            "queue": queue_view(),
            "dead_after": settings.VIRTLAB_HOST_DEAD_AFTER,
        },
    )


@instructor_required
@require_POST
def host_forget(request, host_id: str):
    """The "Remove from this list" button of a server that has stopped answering."""
    if forget_silent_host(host_id):
        messages.success(request, f"Removed {host_id} from the lab servers.")
    elif LabHost.objects.filter(host_id=host_id).exists():
        messages.error(
            request,
            f"{host_id} is answering again, so it stays: only a server that has stopped "
            "answering can be removed.",
        )
    else:
        messages.info(request, f"{host_id} is no longer listed.")
    return redirect("labs:hosts")


@login_required
@require_POST
def run_start(request, slug: str):
    lab = _lab_or_404(slug)
    form = lab_form(lab, request.POST)
    if not form.is_valid():
        response = lab_detail(request, slug, form=form)
        response.status_code = 422 if request.htmx else 200
        return response
    try:
        run = run_create(user=request.user, lab=lab, params=form.cleaned_data)
    except RunRefused as exc:
        messages.error(request, str(exc))
        return redirect("labs:detail", slug=slug)
    return redirect(run)


def _earlier_runs(run: LabRun, lab) -> list[tuple[LabRun, object]]:
    """The same student's other finished runs of this lab with their headline value."""
    key = headline_key(lab)
    if run.user_id is None or run.is_active:
        return []
    others = (
        LabRun.objects.succeeded()
        .filter(user_id=run.user_id, lab=run.lab)
        .exclude(pk=run.pk)
        .order_by("-finished_at")[:10]
    )
    return [(other, other.summary.get(key) if key else None) for other in others]


def _predictions_of_run(request, run: LabRun) -> dict:
    """The owner's predictions this run scores (as soon as it has finished), and those
    it will score when it does; nobody else's prediction is shown on it."""
    if run.user_id is None or run.user_id != request.user.id:
        return {"scored": [], "waiting": []}
    mine = [p for p in predictions.lab_predictions(request.user, run.lab) if p.made_at]
    waiting = []
    if run.is_active:
        # The first run started after a prediction scores it: this one, unless an
        # earlier one started since the prediction may still (or already did).
        for p in mine:
            if p.run_id is not None or p.made_at >= run.created_at:
                continue
            before = LabRun.objects.filter(
                user_id=run.user_id,
                lab=run.lab,
                created_at__gt=p.made_at,
                created_at__lt=run.created_at,
                status__in=(*LabRun.ACTIVE, LabRun.Status.SUCCEEDED),
            )
            if not before.exists():
                waiting.append(p)
    return {"scored": [p for p in mine if p.run_id == run.pk], "waiting": waiting}


def run_detail(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    view = present(run)
    template = "labs/run_detail.html#run_panel" if request.htmx else "labs/run_detail.html"
    poll = RUN_POLL_SECONDS if run.samples else FIRST_SAMPLE_POLL_SECONDS
    context = {
        "view": view,
        "run": run,
        "lab": view.lab,
        "poll_ms": int(poll * 1000),
        "earlier": _earlier_runs(run, view.lab),
        "predictions": _predictions_of_run(request, run),
    }
    response = render(request, template, context)
    # The same URL answers htmx with the panel alone: caches must keep the two apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_POST
def run_stop(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    # Seeing a student's run is not owning it: only they (or an administrator) cancel it.
    if run.user_id != request.user.id and not request.user.is_superuser:
        raise PermissionDenied("Only the student who started this run can cancel it.")
    if run.is_active:
        run_cancel(run=run)
        messages.info(request, "Cancel requested: the run stops at its next step.")
    return redirect(run)


def run_download(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    response = HttpResponse(run_csv(run, _lab_or_404(slug)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="virtlab-{slug}-run{run.pk}.csv"'
    return response
