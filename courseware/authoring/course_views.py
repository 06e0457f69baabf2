"""Authoring: the course's modules and the course exam's settings.

Instructors only, like every authoring view (``instructor_required``); changes are
POSTs with CSRF.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Max
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from virtlab.roles import instructor_required

from ..models import Course, Lesson, Module
from . import revisions
from .forms import ModuleForm
from .views import lesson_or_404

# --- Modules --------------------------------------------------------------------------


@instructor_required
def module_new(request):
    course = Course.objects.order_by("pk").first()
    if course is None:
        raise Http404("There is no course yet: import one first.")
    form = ModuleForm(request.POST or None, course=course)
    if request.method == "POST" and form.is_valid():
        last = course.modules.aggregate(last=Max("order"))["last"] or 0
        module = Module.objects.create(
            course=course,
            slug=form.cleaned_data["slug"],
            title=form.cleaned_data["title"],
            order=last + 1,
        )
        revisions.record(None, request.user, "created module", module.title)
        messages.success(request, f"Module “{module.title}” added at the end of the course.")
        return redirect(reverse("courseware:author_outline") + f"#module-{module.pk}")
    return render(request, "courseware/authoring/module.html", {"form": form, "module": None})


@instructor_required
def module_edit(request, module_id: int):
    module = get_object_or_404(Module, pk=module_id)
    form = ModuleForm(request.POST or None, module=module, initial={"title": module.title})
    if request.method == "POST" and request.POST.get("action") == "delete":
        if module.lessons.exists():
            messages.error(
                request,
                "Only an empty module can be deleted: move its lessons to another module "
                "first (lessons in the trash count too).",
            )
        else:
            revisions.record(None, request.user, "deleted module", module.title)
            module.delete()
            messages.success(request, f"Module “{module.title}” deleted.")
            return redirect("courseware:author_outline")
    elif request.method == "POST" and form.is_valid():
        old = module.title
        Module.objects.filter(pk=module.pk).update(title=form.cleaned_data["title"])
        revisions.record(
            None, request.user, "renamed module", f"{old} → {form.cleaned_data['title']}"
        )
        messages.success(request, "Module renamed.")
        return redirect(reverse("courseware:author_outline") + f"#module-{module.pk}")
    return render(request, "courseware/authoring/module.html", {"form": form, "module": module})


@instructor_required
@require_POST
def lesson_to_module(request, slug: str):
    """Move a lesson to the end of another module."""
    lesson = lesson_or_404(slug)
    target = Module.objects.filter(pk=request.POST.get("module")).first()
    if target is None or target.course_id != lesson.module.course_id:
        messages.error(request, "Choose one of the course's modules.")
    elif target.pk != lesson.module_id:
        last = target.lessons.aggregate(last=Max("order"))["last"] or 0
        Lesson.objects.filter(pk=lesson.pk).update(module=target, order=last + 1)
        revisions.record(lesson, request.user, "moved", f"to module {target.title}")
        messages.success(request, f"“{lesson.title}” is now the last lesson of “{target.title}”.")
    return redirect(reverse("courseware:author_outline") + f"#lesson-{lesson.slug}")


# --- The course exam's settings -------------------------------------------------------


class ExamSettingsForm(forms.ModelForm):
    class Meta:
        model = Course
        fields = ["exam_questions", "exam_minutes"]
        labels = {"exam_questions": "Questions per sitting", "exam_minutes": "Minutes allowed"}

    def clean_exam_questions(self) -> int:
        value = self.cleaned_data["exam_questions"]
        if not 1 <= value <= 100:
            raise forms.ValidationError("Between 1 and 100 questions.")
        return value

    def clean_exam_minutes(self) -> int:
        value = self.cleaned_data["exam_minutes"]
        if value > 600:
            raise forms.ValidationError("At most 600 minutes (0 for no limit).")
        return value


@instructor_required
def exam_settings(request):
    course = Course.objects.order_by("pk").first()
    if course is None:
        raise Http404("There is no course yet.")
    form = ExamSettingsForm(request.POST or None, instance=course)
    if request.method == "POST" and form.is_valid():
        form.save()
        revisions.record(
            None,
            request.user,
            "changed the exam",
            f"{course.exam_questions} questions, {course.exam_minutes or 'no'} minute limit",
        )
        messages.success(request, "Exam settings saved; sittings already started keep theirs.")
        return redirect("courseware:author_outline")
    return render(request, "courseware/authoring/exam_settings.html", {"form": form})
