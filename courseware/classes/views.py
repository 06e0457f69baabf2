"""Classes: create and join, the gradebook (page and CSV), question analytics, one
student's attempts and every student's answers to one question. An instructor sees
only the classes they teach, and within them only their students; anything else is a
404, so class ids reveal nothing. Everything here reads; nothing changes an attempt.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from virtlab.roles import instructor_required, is_instructor

from .. import throttle
from ..forms import ClassroomForm, JoinClassForm
from ..models import Attempt, Classroom, Question
from ..quizzes.predictions import runs_of_student
from ..quizzes.scores import graded_attempts
from . import analytics
from .answers import question_text
from .gradebook import build_gradebook, gradebook_csv_text
from .services import JoinError, class_create, class_join


def _taught_class(request, class_id: int) -> Classroom:
    return get_object_or_404(Classroom.objects.taught_by(request.user), pk=class_id)


@login_required
def class_list(request):
    teaching = is_instructor(request.user)
    context = {
        "taught": Classroom.objects.taught_by(request.user).prefetch_related("memberships")
        if teaching
        else [],
        "joined": Classroom.objects.joined_by(request.user),
        "create_form": ClassroomForm() if teaching else None,
        "join_form": JoinClassForm(),
    }
    return render(request, "courseware/classes.html", context)


@instructor_required
@require_POST
def class_new(request):
    form = ClassroomForm(request.POST)
    if not form.is_valid():
        context = {
            "taught": Classroom.objects.taught_by(request.user),
            "joined": Classroom.objects.joined_by(request.user),
            "create_form": form,
            "join_form": JoinClassForm(),
        }
        return render(request, "courseware/classes.html", context, status=400)
    classroom = class_create(instructor=request.user, name=form.cleaned_data["name"])
    messages.success(
        request,
        f"Class “{classroom.name}” created. Students join it with the code {classroom.display_code}.",
    )
    return redirect(classroom)


@login_required
def class_join_view(request):
    form = JoinClassForm(request.POST or None)
    if request.method == "POST" and (wait := _join_wait(request)):
        # Guessing join codes: refused before the code is even looked at.
        form.is_valid()
        form.add_error(
            "code",
            "Too many wrong join codes. Try again in "
            f"{throttle.describe_wait(wait)}, or ask your instructor for the code.",
        )
        return render(request, "courseware/class_join.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            classroom, created = class_join(user=request.user, code=form.cleaned_data["code"])
        except JoinError as exc:
            form.add_error("code", str(exc))
            throttle.spend(throttle.JOIN_FAILURES_PER_USER, str(request.user.pk))
            throttle.spend(throttle.JOIN_FAILURES_PER_ADDRESS, throttle.client_address(request))
        else:
            if created:
                messages.success(request, f"You joined “{classroom.name}”.")
            else:
                messages.info(request, f"You are already in “{classroom.name}”.")
            return redirect("courseware:classes")
    status = 400 if request.method == "POST" else 200
    return render(request, "courseware/class_join.html", {"form": form}, status=status)


def _join_wait(request) -> int:
    """Seconds until this student (or this address) may try a join code again."""
    return max(
        throttle.wait_seconds(throttle.JOIN_FAILURES_PER_USER, str(request.user.pk)),
        throttle.wait_seconds(throttle.JOIN_FAILURES_PER_ADDRESS, throttle.client_address(request)),
    )


@instructor_required
def class_detail(request, class_id: int):
    classroom = _taught_class(request, class_id)
    gradebook = build_gradebook(
        classroom, sort=request.GET.get("sort", "student"), direction=request.GET.get("dir", "asc")
    )
    return render(
        request, "courseware/gradebook.html", {"classroom": classroom, "gradebook": gradebook}
    )


@instructor_required
def gradebook_csv(request, class_id: int):
    classroom = _taught_class(request, class_id)
    text = gradebook_csv_text(build_gradebook(classroom))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    filename = f"gradebook-{slugify(classroom.name) or classroom.pk}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@instructor_required
def class_analytics(request, class_id: int):
    classroom = _taught_class(request, class_id)
    figures = analytics.filtered_analytics(
        classroom, lesson=request.GET.get("lesson", ""), flag=request.GET.get("flag", "")
    )
    context = {
        "classroom": classroom,
        "analytics": figures,
        "flags": analytics.FLAGS,
        "common_wrong_min": analytics.COMMON_WRONG_STUDENTS,
    }
    return render(request, "courseware/analytics.html", context)


def _class_student(classroom: Classroom, user_id: int):
    return get_object_or_404(get_user_model(), pk=user_id, class_memberships__classroom=classroom)


@instructor_required
def student_attempts(request, class_id: int, user_id: int):
    """One student's attempts, newest first, with their answers, and their lab runs;
    ``?question=<id>`` keeps to one question and shows it whole."""
    classroom = _taught_class(request, class_id)
    student = _class_student(classroom, user_id)
    attempts = Attempt.objects.filter(user=student).select_related("question__quiz__lesson")
    question = None
    if qid := request.GET.get("question", ""):
        question = get_object_or_404(Question.objects.select_related("quiz__lesson"), qid=qid)
        attempts = attempts.filter(question=question)
    attempts = attempts.order_by("-created_at", "-pk")[:500]
    context = {
        "attempts": graded_attempts(student.pk, list(attempts)),
        "subject": student,
        "own": False,
        "classroom": classroom,
        "question": question,
        "question_text": question_text(question) if question else "",
        "runs": [] if question else runs_of_student(student.pk),
    }
    return render(request, "courseware/attempts.html", context)


@instructor_required
def question_answers(request, class_id: int, qid: str):
    """What each student of the class answered to one question, oldest try first."""
    classroom = _taught_class(request, class_id)
    question = get_object_or_404(Question.objects.select_related("quiz__lesson"), qid=qid)
    students = list(
        get_user_model().objects.filter(class_memberships__classroom=classroom).order_by("username")
    )
    by_student: dict[int, list[Attempt]] = {s.pk: [] for s in students}
    for attempt in Attempt.objects.filter(question=question, user__in=students).order_by(
        "created_at", "pk"
    ):
        attempt.question = question
        by_student[attempt.user_id].append(attempt)
    answered = [
        (student, graded_attempts(student.pk, by_student[student.pk]))
        for student in students
        if by_student[student.pk]
    ]
    context = {
        "classroom": classroom,
        "question": question,
        "question_text": question_text(question),
        "answered": answered,
        "unanswered": [s for s in students if not by_student[s.pk]],
    }
    return render(request, "courseware/class_question.html", context)
