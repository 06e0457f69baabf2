from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from courseware.models import Lesson
from courseware.roles import is_instructor

from .capabilities import lab_status
from .csv_export import run_csv
from .experiments import all_labs, get_lab
from .forms import lab_form
from .models import LabRun
from .presenters import present
from .services import RunRefused, run_cancel, run_create


def _lab_or_404(slug: str):
    lab = get_lab(slug)
    if lab is None:
        raise Http404("There is no such lab.")
    return lab


def _visible_run(request, slug: str, run_id: int) -> LabRun:
    run = get_object_or_404(LabRun, pk=run_id, lab=slug)
    if run.user_id != request.user.id and not is_instructor(request.user):
        raise Http404("There is no such run.")
    return run


def catalogue(request):
    entries = [(lab, lab_status(lab)) for lab in all_labs()]
    return render(request, "labs/catalogue.html", {"entries": entries})


def lab_detail(request, slug: str, form=None):
    lab = _lab_or_404(slug)
    status = lab_status(lab)
    my_runs = LabRun.objects.for_user(request.user).for_lab(slug)[:20]
    lessons = Lesson.objects.published().filter(slug__in=lab.lessons).only("slug", "title")
    return render(
        request,
        "labs/lab_detail.html",
        {
            "lab": lab,
            "status": status,
            "form": form or lab_form(lab),
            "my_runs": my_runs,
            "lessons": lessons,
        },
    )


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


def run_detail(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    view = present(run)
    template = "labs/run_detail.html#run_panel" if request.htmx else "labs/run_detail.html"
    return render(request, template, {"view": view, "run": run, "lab": view.lab})


@login_required
@require_POST
def run_stop(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    if run.is_active:
        run_cancel(run=run)
        messages.info(request, "Cancel requested: the run stops at its next step.")
    return redirect(run)


def run_download(request, slug: str, run_id: int):
    run = _visible_run(request, slug, run_id)
    response = HttpResponse(run_csv(run, _lab_or_404(slug)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="virtlab-{slug}-run{run.pk}.csv"'
    return response
