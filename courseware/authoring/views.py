"""Authoring in the browser: the course outline in edit mode, the lesson editor with
its live preview, history, diffs, restore, publishing, and the trash. The course as a
zip and lesson images are in ``file_views``, modules and the exam's settings in
``course_views``, the quiz as forms in ``quiz_views``.

Every view here is for instructors only (``instructor_required``: anonymous visitors
are sent to sign in, students get 403) and every change is a POST with CSRF.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from virtlab.rendering import render_markdown
from virtlab.roles import instructor_required

from ..models import (
    EditorDraft,
    Lesson,
    LessonRevision,
    Module,
)
from . import diffs, revisions
from .forms import LessonEditForm, NewLessonForm, content_from_post


def lesson_or_404(slug: str) -> Lesson:
    """The lesson at ``slug``, trashed or not (authors reach every lesson)."""
    return get_object_or_404(Lesson.objects.select_related("module"), slug=slug)


def _back(request, default: str) -> str:
    """Where a form asked to return to (``next``), if it is a page of this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _revision(lesson: Lesson, number) -> LessonRevision:
    try:
        return lesson.revisions.get(number=int(number))
    except (LessonRevision.DoesNotExist, TypeError, ValueError):
        raise Http404("There is no such revision of this lesson.") from None


# --- Outline --------------------------------------------------------------------------


@instructor_required
def outline(request):
    """The course in edit mode: every module and lesson, with its state and actions."""
    lessons = list(Lesson.objects.in_outline_order().prefetch_related("revisions"))
    heads = {
        row["lesson"]: row["newest"]
        for row in LessonRevision.objects.values("lesson").annotate(newest=Max("number"))
    }
    published_numbers = dict(
        LessonRevision.objects.filter(
            pk__in=[les.published_revision_id for les in lessons if les.published_revision_id]
        ).values_list("lesson_id", "number")
    )
    modules = []
    for module in Module.objects.order_by("order", "slug"):
        rows = []
        for lesson in (les for les in lessons if les.module_id == module.pk):
            if lesson.trashed_at:
                continue
            head, live = heads.get(lesson.pk), published_numbers.get(lesson.pk)
            rows.append({"lesson": lesson, "draft_ahead": bool(head and head != live)})
        modules.append({"module": module, "lessons": rows})
    trash = [les for les in lessons if les.trashed_at]
    return render(
        request,
        "courseware/authoring/outline.html",
        {"modules": modules, "trash": trash, "all_modules": [m["module"] for m in modules]},
    )


@instructor_required
def lesson_new(request):
    form = NewLessonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        module = form.cleaned_data["module"]
        with transaction.atomic():
            last = module.lessons.aggregate(last=Max("order"))["last"] or 0
            slug = form.cleaned_data["slug"]
            lesson = Lesson.objects.create(
                module=module,
                slug=slug,
                title=form.cleaned_data["title"],
                order=last + 1,
                published=False,  # students see it once a revision is published
                source_dir=f"{last + 1:02d}-{slug}",
            )
            revisions.start_history(
                lesson, {"title": lesson.title, "body": f"# {lesson.title}\n"}, author=request.user
            )
            revisions.record(lesson, request.user, "created", f"in module {module.title}")
        messages.success(request, "Lesson created as a draft. Students do not see it yet.")
        return redirect("courseware:author_edit", slug=lesson.slug)
    return render(request, "courseware/authoring/new.html", {"form": form})


@instructor_required
@require_POST
def lesson_move(request, slug: str):
    """Up or down one place within its module (swapping order numbers)."""
    lesson = lesson_or_404(slug)
    step = -1 if request.POST.get("direction") == "up" else 1
    siblings = list(lesson.module.lessons.not_trashed().order_by("order", "slug"))
    index = siblings.index(lesson)
    if 0 <= index + step < len(siblings):
        with transaction.atomic():
            # Renumber the module 1..n first, so equal or gapped order numbers swap too.
            siblings[index], siblings[index + step] = siblings[index + step], siblings[index]
            for number, sibling in enumerate(siblings, start=1):
                if sibling.order != number:
                    Lesson.objects.filter(pk=sibling.pk).update(order=number)
            revisions.record(lesson, request.user, "moved", "up" if step < 0 else "down")
    return redirect(reverse("courseware:author_outline") + f"#lesson-{lesson.slug}")


@instructor_required
@require_POST
def module_move(request, module_id: int):
    module = get_object_or_404(Module, pk=module_id)
    step = -1 if request.POST.get("direction") == "up" else 1
    siblings = list(Module.objects.filter(course=module.course).order_by("order", "slug"))
    index = siblings.index(module)
    if 0 <= index + step < len(siblings):
        with transaction.atomic():
            siblings[index], siblings[index + step] = siblings[index + step], siblings[index]
            for number, sibling in enumerate(siblings, start=1):
                if sibling.order != number:
                    Module.objects.filter(pk=sibling.pk).update(order=number)
            revisions.record(None, request.user, "moved module", module.title)
    return redirect(reverse("courseware:author_outline") + f"#module-{module.pk}")


@instructor_required
@require_POST
def lesson_visibility(request, slug: str):
    """Hide a published lesson from students, or show it again (its published revision)."""
    lesson = lesson_or_404(slug)
    show = request.POST.get("show") == "1"
    if show and lesson.published_revision_id is None:
        messages.error(request, "Publish a revision first: this lesson has never been published.")
    else:
        Lesson.objects.filter(pk=lesson.pk).update(published=show)
        revisions.record(lesson, request.user, "shown" if show else "unpublished")
        messages.success(
            request,
            f"“{lesson.title}” is visible to students."
            if show
            else f"“{lesson.title}” is hidden from students; nothing was deleted.",
        )
    return redirect(_back(request, reverse("courseware:author_outline")))


@instructor_required
@require_POST
def lesson_trash(request, slug: str):
    lesson = lesson_or_404(slug)
    restore = request.POST.get("restore") == "1"
    if restore:
        Lesson.objects.filter(pk=lesson.pk).update(trashed_at=None)
        revisions.record(lesson, request.user, "restored from trash")
        messages.success(request, f"“{lesson.title}” is back in the outline, still hidden.")
    else:
        # Hidden as well as trashed, so taking it out of the trash never shows it by
        # surprise. Attempts, progress and revisions are all kept.
        Lesson.objects.filter(pk=lesson.pk).update(trashed_at=timezone.now(), published=False)
        revisions.record(lesson, request.user, "moved to trash")
        messages.success(request, f"“{lesson.title}” is in the trash; you can restore it.")
    return redirect("courseware:author_outline")


# --- The editor -----------------------------------------------------------------------


def _editor(request, lesson: Lesson, form: LessonEditForm, *, status: int = 200, **extra):
    head = revisions.ensure_history(lesson)
    context = {
        "lesson": lesson,
        "form": form,
        "head": head,
        "images": list(lesson.images.only("name", "updated_at", "sha256")),
        "published": lesson.published_revision,
        "preview": extra.pop("preview", None),
        "problems": extra.pop("problems", head.problems),
        **extra,
    }
    return render(request, "courseware/authoring/edit.html", context, status=status)


@instructor_required
def lesson_edit(request, slug: str):
    lesson = lesson_or_404(slug)
    head = revisions.ensure_history(lesson)
    if request.method != "POST":
        draft = EditorDraft.objects.filter(user=request.user, lesson=lesson).first()
        if draft and request.GET.get("draft") == "restore":
            form = LessonEditForm(
                initial=LessonEditForm.initial_from(
                    revisions.normalise(draft.content), draft.based_on
                )
            )
            return _editor(request, lesson, form, restored_draft=draft)
        form = LessonEditForm(initial=LessonEditForm.initial_from(head.content, head.number))
        if draft and _only_exercises_differ(draft.content, head.content):
            draft = None  # unsaved exercise text: the exercise editor offers it back
        return _editor(request, lesson, form, unsaved_draft=draft)

    action = request.POST.get("action", "save")
    if action == "discard-draft":
        EditorDraft.objects.filter(user=request.user, lesson=lesson).delete()
        messages.info(request, "Your unsaved text was thrown away.")
        return redirect("courseware:author_edit", slug=lesson.slug)
    form = LessonEditForm(request.POST)
    if not form.is_valid():
        return _editor(request, lesson, form, status=422)
    content = form.content()
    # Exercises have their own editor (exercise_views.py); a save here keeps the
    # newest revision's as they are.
    if exercises := head.content.get("exercises"):
        content["exercises"] = exercises
    if action == "preview":  # the no-JavaScript preview: render, save nothing
        return _editor(
            request,
            lesson,
            form,
            preview=render_markdown(content["body"]).html,
            problems=revisions.problems_of(lesson, content),
        )
    try:
        revision, created = revisions.save_revision(
            lesson,
            content,
            author=request.user,
            based_on=form.cleaned_data["based_on"],
            note=form.cleaned_data["note"],
        )
    except revisions.EditConflict as conflict:
        return conflict_response(
            request, lesson, content, form.cleaned_data["based_on"], conflict.newest
        )
    # Saved (or already the newest): the text kept for this editor is not needed now.
    EditorDraft.objects.filter(user=request.user, lesson=lesson).delete()
    report_save(request, revision, created, action, problems_at="under the preview")
    return redirect("courseware:author_edit", slug=lesson.slug)


def _only_exercises_differ(draft: dict, head: dict) -> bool:
    """Whether a kept draft differs from the newest revision in its exercises alone
    (text the exercise editor kept, which this editor cannot show)."""
    mine, theirs = revisions.normalise(draft), revisions.normalise(head)
    if mine.pop("exercises", None) == theirs.pop("exercises", None):
        return False
    return mine == theirs


def report_save(request, revision: LessonRevision, created: bool, action: str, *, problems_at):
    """After an editor saved: say what was saved and, when asked and possible, publish
    it. ``problems_at`` says where that editor lists a revision's problems."""
    saved = (
        f"Saved revision {revision.number}"
        if created
        else f"No changes since revision {revision.number}, so nothing new was saved"
    )
    if revision.problems:
        messages.warning(
            request,
            f"{saved}. It cannot be published until the problems listed {problems_at} are fixed.",
        )
    elif action == "publish":
        try:
            revisions.publish(revision, by=request.user)
        except revisions.NotPublishable as exc:
            messages.error(request, f"{saved}, but not published: " + "; ".join(exc.problems))
        else:
            messages.success(request, f"{saved} and published it: students see it now.")
    elif created:
        messages.success(request, f"{saved} as a draft; students do not see it yet.")
    else:
        messages.info(request, f"{saved}.")


def conflict_response(request, lesson, mine: dict, based_on: int | None, theirs):
    """A save based on an older revision than the newest: nothing is written over the
    other author's revision, and nothing typed here is lost — it is kept as this
    author's unsaved draft and shown beside theirs, with a form to save it anyway."""
    mine = revisions.normalise(mine)
    EditorDraft.objects.update_or_create(
        user=request.user, lesson=lesson, defaults={"content": mine, "based_on": based_on}
    )
    return render(
        request,
        "courseware/authoring/conflict.html",
        {
            "lesson": lesson,
            "theirs": theirs,
            "based_on": based_on,
            "files": diffs.compare(theirs.content, mine, f"r{theirs.number}", "yours"),
            "form": LessonEditForm(initial=LessonEditForm.initial_from(mine, theirs.number)),
        },
        status=409,
    )


@instructor_required
@require_POST
def lesson_preview(request, slug: str):
    """The live preview (htmx, as the author types): the body through the same renderer
    and sanitiser as the student page, the problems that would stop publishing, and
    an autosave of what was typed."""
    lesson = lesson_or_404(slug)
    content = content_from_post(request.POST)
    try:
        based_on = int(request.POST.get("based_on") or 0) or None
    except ValueError:
        based_on = None
    # The draft is one per author and lesson; exercise text the exercise editor kept in
    # it is carried over, so typing here does not throw it away.
    kept = EditorDraft.objects.filter(user=request.user, lesson=lesson).first()
    if kept and kept.content.get("exercises"):
        content["exercises"] = kept.content["exercises"]
    EditorDraft.objects.update_or_create(
        user=request.user, lesson=lesson, defaults={"content": content, "based_on": based_on}
    )
    return render(
        request,
        "courseware/authoring/_preview.html",
        {
            "preview": render_markdown(revisions.normalise(content)["body"]).html,
            "problems": revisions.problems_of(lesson, content),
            "autosaved_at": timezone.now(),
        },
    )


@instructor_required
@require_POST
def lesson_publish(request, slug: str):
    lesson = lesson_or_404(slug)
    revision = _revision(lesson, request.POST.get("revision"))
    try:
        revisions.publish(revision, by=request.user)
    except revisions.NotPublishable as exc:
        messages.error(request, "Not published: " + "; ".join(exc.problems))
    else:
        messages.success(request, f"Revision {revision.number} is now what students see.")
    return redirect(_back(request, reverse("courseware:author_history", args=[slug])))


# --- History --------------------------------------------------------------------------


@instructor_required
def lesson_history(request, slug: str):
    lesson = lesson_or_404(slug)
    revisions.ensure_history(lesson)
    all_revisions = list(lesson.revisions.select_related("author").order_by("-number"))
    return render(
        request,
        "courseware/authoring/history.html",
        {
            "lesson": lesson,
            "revisions": all_revisions,
            "events": lesson.events.select_related("actor")[:50],
        },
    )


@instructor_required
def lesson_diff(request, slug: str):
    lesson = lesson_or_404(slug)
    revisions.ensure_history(lesson)
    head = revisions.newest(lesson)
    new = _revision(lesson, request.GET.get("to") or head.number)
    old_number = request.GET.get("from") or max(new.number - 1, 1)
    old = _revision(lesson, old_number)
    view = "unified" if request.GET.get("view") == "unified" else "side"
    return render(
        request,
        "courseware/authoring/diff.html",
        {
            "lesson": lesson,
            "old": old,
            "new": new,
            "view": view,
            "numbers": list(lesson.revisions.order_by("-number").values_list("number", flat=True)),
            "files": diffs.compare(old.content, new.content, f"r{old.number}", f"r{new.number}"),
        },
    )


@instructor_required
@require_POST
def revision_restore(request, slug: str, number: int):
    lesson = lesson_or_404(slug)
    revision, created = revisions.restore(_revision(lesson, number), by=request.user)
    if created:
        messages.success(
            request,
            f"Revision {number} is back as revision {revision.number}, a draft; publish it "
            "to show it to students.",
        )
    else:
        messages.info(request, f"The newest revision already holds what revision {number} did.")
    return redirect("courseware:author_edit", slug=slug)
