from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from virtlab.roles import instructor_required

from . import fragments
from .classes.assignments import due_for_student
from .glossary import link_first_uses, load_glossary, terms_for_lesson
from .models import Classroom, Lesson, LessonProgress
from .outline import build_outline, course_score, neighbours, visible_lesson
from .quizzes.state import build_quiz_view, load_quiz
from .quizzes.views import pending_answer
from .services import progress_open, progress_set_done


def home(request):
    course, modules, resume = build_outline(request.user)
    overall = course_score(modules) if request.user.is_authenticated else None
    context = {"course": course, "modules": modules, "resume": resume, "overall": overall}
    # The assignments of the student's classes, soonest due first.
    context["due"] = due_for_student(request.user)
    if overall is not None:
        context["overall_percent"] = round(overall * 100)
        context["mastered"] = sum(
            1 for m in modules for item in m.lessons if item.quiz and item.quiz.mastered
        )
        context["with_quiz"] = sum(1 for m in modules for item in m.lessons if item.quiz)
    return render(request, "courseware/home.html", context)


def lesson_detail(request, slug: str):
    lesson = visible_lesson(request, slug)
    if lesson.refresh_rendering():  # cached before the renderer last changed
        lesson.save(update_fields=["body_hash", "body_html", "toc"])
    progress = progress_open(user=request.user, lesson=lesson)
    previous, following = neighbours(lesson)
    terms = terms_for_lesson(lesson.slug)
    focus = pending_answer(request, lesson)
    quiz_html = ""
    if loaded := load_quiz(lesson, request.user):
        quiz_html = fragments.quiz_section(
            request,
            loaded,
            "lesson",
            lambda: build_quiz_view(lesson, request.user, focus=focus, loaded=loaded),
            # An answer typed before a login, filled back in, is this view's own.
            keep=focus is None,
        )
    text_seconds, text_key = fragments.lesson_text(lesson, terms)
    return render(
        request,
        "courseware/lesson.html",
        {
            "lesson": lesson,
            "progress": progress,
            "done": bool(progress and progress.state == LessonProgress.State.DONE),
            "previous": previous,
            "next": following,
            # The quiz, rendered on its own (courseware/fragments.py keeps it per student).
            "quiz_html": quiz_html,
            "terms": terms,
            # The first use of each of those terms links to its glossary entry (called
            # by the template only when the lesson's text is not kept already).
            "body_html": partial(
                link_first_uses, lesson.body_html, terms, reverse("courseware:glossary")
            ),
            "text_seconds": text_seconds,
            "text_key": text_key,
        },
    )


def glossary(request):
    """Every term two or more lessons use, each with the published lessons that use it."""
    lessons = list(Lesson.objects.published().select_related("module"))  # in course order
    entries = [
        (entry, [lesson for lesson in lessons if lesson.slug in entry.lessons])
        for entry in load_glossary()
    ]
    groups: dict[str, list] = {}
    for entry, used_in in entries:  # already sorted by term
        letter = entry.term[0].upper() if entry.term[0].isalpha() else "#"
        groups.setdefault(letter, []).append((entry, used_in))
    return render(request, "courseware/glossary.html", {"groups": list(groups.items())})


@login_required
@require_POST
def lesson_mark_done(request, slug: str):
    lesson = visible_lesson(request, slug)
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
    # Only the students of this instructor's classes: other classes are not theirs to see.
    mine = Q(progress__user__class_memberships__classroom__instructors=request.user)
    done = Q(progress__state=LessonProgress.State.DONE)
    lessons = Lesson.objects.in_outline_order().annotate(
        started=Count("progress", filter=mine, distinct=True),
        finished=Count("progress", filter=mine & done, distinct=True),
    )
    classes = Classroom.objects.taught_by(request.user)
    return render(request, "courseware/teach.html", {"lessons": lessons, "classes": classes})
