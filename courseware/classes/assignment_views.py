"""A class's assignments (list, create, edit, delete) and an instructor's time zone.

Only the class's instructors manage its assignments; for anybody else the class is a
404 (students get 403 from ``instructor_required`` first), as on the other class pages.
A refused form saves nothing and says why beside the field.
"""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from virtlab.roles import instructor_required

from ..models import Assignment, Classroom, Lesson
from ..quizzes.scores import mastery_threshold
from . import assignments as work


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Due times are entered and shown to you in this zone; students of the "
        "classes you create see them in it, with its name.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in work.zone_names()]


class AssignmentForm(forms.Form):
    work = forms.ChoiceField(label="Work", help_text="A lesson to read, a quiz or a lab.")
    due_date = forms.DateField(
        label="Due date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    due_time = forms.TimeField(
        label="Due time",
        initial=time(23, 59),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    required = forms.BooleanField(
        label="Required", required=False, help_text="Shown as required to the students."
    )

    def __init__(self, *args, classroom: Classroom, zone: str, instance=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.classroom, self.zone, self.instance = classroom, zone, instance
        self.fields["work"].choices = [("", "Choose the work…"), *work.work_choices()]
        self.fields["due_time"].help_text = f"In your time zone, {zone}."

    def clean_work(self) -> str:
        value = self.cleaned_data["work"]
        kind, _, slug = value.partition(":")
        if kind == Assignment.Kind.LAB:
            self.lab, self.lesson = slug, None
        else:
            self.lab, self.lesson = "", Lesson.objects.published().get(slug=slug)
        self.kind = kind
        duplicate = self.classroom.assignments.filter(
            kind=kind, lab=self.lab, lesson=self.lesson
        ).exclude(pk=getattr(self.instance, "pk", None))
        if duplicate.exists():
            raise forms.ValidationError(
                "This class already has this work assigned; edit that assignment instead."
            )
        return value

    def clean(self):
        data = super().clean()
        day, at = data.get("due_date"), data.get("due_time")
        if day is None or at is None:
            return data
        due = work.aware_in_zone(datetime.combine(day, at), self.zone)
        if due is None:
            self.add_error(
                "due_time", f"{at:%H:%M} does not exist on {day} in {self.zone} (clocks change)."
            )
            return data
        changed = self.instance is None or due != self.instance.due_at
        if changed and due <= timezone.now():
            self.add_error("due_date", "That due time has already passed; choose a later one.")
            return data
        data["due_at"] = due
        return data


def _taught_class(request, class_id: int) -> Classroom:
    return get_object_or_404(Classroom.objects.taught_by(request.user), pk=class_id)


def _page(request, classroom, form, *, editing=None, status=200):
    zone = work.zone_name_of(request.user)
    context = {
        "classroom": classroom,
        "form": form,
        "editing": editing,
        "rows": work.instructor_rows(classroom, zone),
        "zone": zone,
        "class_zone": work.class_zone_name(classroom),
        "done_means": work.DONE_MEANS,
        "mastery_percent": round(mastery_threshold() * 100),
    }
    return render(request, "courseware/assignments.html", context, status=status)


@instructor_required
def assignment_list(request, class_id: int):
    """The class's assignments and the form to add one (POST adds it)."""
    classroom = _taught_class(request, class_id)
    zone = work.zone_name_of(request.user)
    form = AssignmentForm(request.POST or None, classroom=classroom, zone=zone)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, classroom, form, status=400)
        Assignment.objects.create(
            classroom=classroom,
            kind=form.kind,
            lesson=form.lesson,
            lab=form.lab,
            due_at=form.cleaned_data["due_at"],
            required=form.cleaned_data["required"],
            created_by=request.user,
        )
        messages.success(request, "Assignment added.")
        return redirect("courseware:class_assignments", class_id=classroom.pk)
    return _page(request, classroom, form)


@instructor_required
def assignment_edit(request, class_id: int, assignment_id: int):
    classroom = _taught_class(request, class_id)
    assignment = get_object_or_404(classroom.assignments.select_related("lesson"), pk=assignment_id)
    zone = work.zone_name_of(request.user)
    due = work.local(assignment.due_at, zone)
    initial = {
        "work": work.work_value(assignment),
        "due_date": due.date(),
        "due_time": due.time().replace(second=0, microsecond=0),
        "required": assignment.required,
    }
    form = AssignmentForm(
        request.POST or None, classroom=classroom, zone=zone, instance=assignment, initial=initial
    )
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, classroom, form, editing=assignment, status=400)
        assignment.kind, assignment.lesson, assignment.lab = form.kind, form.lesson, form.lab
        assignment.due_at = form.cleaned_data["due_at"]
        assignment.required = form.cleaned_data["required"]
        assignment.save(update_fields=["kind", "lesson", "lab", "due_at", "required"])
        messages.success(request, "Assignment saved.")
        return redirect("courseware:class_assignments", class_id=classroom.pk)
    return _page(request, classroom, form, editing=assignment)


@instructor_required
@require_POST
def assignment_delete(request, class_id: int, assignment_id: int):
    classroom = _taught_class(request, class_id)
    assignment = get_object_or_404(classroom.assignments, pk=assignment_id)
    assignment.delete()
    messages.success(request, "Assignment deleted.")
    return redirect("courseware:class_assignments", class_id=classroom.pk)


@instructor_required
def time_zone(request):
    """The instructor's time zone for due times (GET shows it, POST changes it)."""
    current = work.zone_name_of(request.user)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": current})
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST":
        if form.is_valid():
            work.set_zone_name(request.user, form.cleaned_data["time_zone"])
            messages.success(request, f"Your time zone is now {form.cleaned_data['time_zone']}.")
            return redirect(back or reverse("courseware:time_zone"))
        status = 400
    else:
        status = 200
    context = {"form": form, "current": current, "next": back}
    return render(request, "courseware/time_zone.html", context, status=status)
