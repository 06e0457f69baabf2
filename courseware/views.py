from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import Lesson, LessonProgress
from .outline import build_outline, neighbours
from .quiz_state import build_quiz_view
from .roles import instructor_required, is_instructor
from .services import progress_open, progress_set_done


def home(request):
    course, modules, resume = build_outline(request.user)
    return render(
        request, "courseware/home.html", {"course": course, "modules": modules, "resume": resume}
    )


def _visible_lesson(request, slug: str) -> Lesson:
    lessons = Lesson.objects.select_related("module")
    if not is_instructor(request.user):
        lessons = lessons.published()
    return get_object_or_404(lessons, slug=slug)


def lesson_detail(request, slug: str):
    lesson = _visible_lesson(request, slug)
    progress = progress_open(user=request.user, lesson=lesson)
    previous, following = neighbours(lesson)
    return render(
        request,
        "courseware/lesson.html",
        {
            "lesson": lesson,
            "progress": progress,
            "done": bool(progress and progress.state == LessonProgress.State.DONE),
            "previous": previous,
            "next": following,
            "quiz_view": build_quiz_view(lesson, request.user),
            "source": "lesson",
        },
    )


@login_required
@require_POST
def lesson_mark_done(request, slug: str):
    lesson = _visible_lesson(request, slug)
    done = request.POST.get("done", "1") == "1"
    progress_set_done(user=request.user, lesson=lesson, done=done)
    if request.htmx:
        return render(
            request, "courseware/lesson.html#done_toggle", {"lesson": lesson, "done": done}
        )
    messages.success(request, "Marked as done." if done else "Marked as not done.")
    return redirect(lesson)


@instructor_required
def teach_overview(request):
    lessons = Lesson.objects.in_outline_order().annotate(
        started=Count("progress"),
        finished=Count("progress", filter=Q(progress__state=LessonProgress.State.DONE)),
    )
    return render(request, "courseware/teach.html", {"lessons": lessons})
