"""The exercise editor (``/author/<lesson>/exercises/<slug>/``, and ``…/new/``):
one guided exercise's ``steps.md`` and check scripts as text areas.

It is not a second way in. Exercises are part of a lesson's revision content (key
``exercises``), so a save here is the lesson's next revision through
``revisions.save_revision``, differing from the newest only in this exercise, with
the revision the page was opened on as its base; publishing imports it through the
same hook as the course files. Two things are stricter than the lesson editor:

- files the parser refuses are never saved as a revision (a broken exercise in the
  history would only be a trap for the next publish); the author gets the errors and
  the text back, and the text is kept as their ``EditorDraft`` so a reload finds it.
- a stale base re-opens this page with both versions' differences and the author's
  text, based on the newest revision, so "Save" keeps theirs-then-mine explicit.

Removing an exercise is a revision too, without it: publishing that revision retires
the exercise (its steps and the students' completed steps are kept, and restoring an
older revision brings it back), so nothing anyone did is lost.

Without JavaScript every button works: Preview parses and renders, saving nothing
but the draft. Instructors only (``instructor_required``), every change a POST with
CSRF.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from virtlab.rendering import render_markdown
from virtlab.roles import instructor_required

from ..coursefiles.errors import ContentError
from ..coursefiles.exercise_files import (
    EXERCISES_DIR,
    SLUG_RE,
    STEPS_FILE,
    ExerciseSpec,
    parse_exercise,
)
from ..models import EditorDraft, Lesson, LessonRevision
from . import diffs, revisions
from .views import report_save

# "new" is the address of the page that adds one, so no exercise may take it.
RESERVED_SLUGS = {"new"}
# Far more than a step-by-step exercise needs; a bound on what one form may send.
MAX_SCRIPTS = 200

STARTER_STEPS = """---
title: A new exercise
summary: One line for the lesson page.
sandbox: container
---

What the student is about to find out, and which terminal to open.

## The first step

What to type:

```console
$ uname -r
```

```step
check: check-first.sh
hints:
  - A first hint.
```
"""
STARTER_SCRIPT = """# Exit 0 when the step is done; otherwise print what is missing as the last line.
test -e /tmp/done || { echo "There is no /tmp/done yet."; exit 1; }
"""


def _lesson(slug: str) -> Lesson:
    return get_object_or_404(Lesson.objects.select_related("module"), slug=slug)


@dataclass
class Script:
    index: int
    name: str
    text: str


@dataclass
class Posted:
    """What the editor form sent: the files it describes, and the problems of the
    form itself (names missing or repeated) that the parser cannot see."""

    slug: str
    files: dict[str, str]
    problems: list[str]


def _scripts_of(files: dict[str, str]) -> list[Script]:
    return [
        Script(i, name, text)
        for i, (name, text) in enumerate(
            (name, text) for name, text in sorted(files.items()) if name != STEPS_FILE
        )
    ]


def _read_post(post, fixed_slug: str | None) -> Posted:
    """The files from the form: steps.md, each script row not marked for removal, and
    the empty "add a script" row if anything was typed into it. A rename is the old
    name removed and the new one added, so it is just a changed name field here."""
    problems: list[str] = []
    slug = fixed_slug or post.get("exercise_slug", "").strip()
    files = {STEPS_FILE: post.get("steps", "").replace("\r\n", "\n")}
    try:
        count = int(post.get("scripts", "0"))
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_SCRIPTS:
        # Only a hand-made form sends this; refusing it beats dropping rows unread.
        problems.append(f"The form's script count is not 0 to {MAX_SCRIPTS}; reload the page")
        count = 0
    rows = [
        (post.get(f"name_{i}", ""), post.get(f"script_{i}", ""))
        for i in range(count)
        if not post.get(f"remove_{i}")
    ]
    rows.append((post.get("new_name", ""), post.get("new_script", "")))
    for name, text in rows:
        name, text = name.strip(), text.replace("\r\n", "\n")
        if not name and not text.strip():
            continue  # an empty row, e.g. the unused "add a script" one
        if not name:
            problems.append("A check script has text but no file name; name it check-….sh")
        elif name in files:
            problems.append(f"Two files are named {name}; each file needs its own name")
        else:
            files[name] = text
    return Posted(slug, files, problems)


def _check(
    lesson: Lesson, posted: Posted, *, new: bool, existing
) -> tuple[ExerciseSpec | None, list[str]]:
    """The real parser's verdict on the files (every problem as file:line: reason),
    plus the form's own problems and, for a new exercise, its name's."""
    where = f"{lesson.source_dir or lesson.slug}/{EXERCISES_DIR}/{posted.slug or '?'}"
    problems = list(posted.problems)
    if new:
        if not SLUG_RE.match(posted.slug):
            problems.append(
                "The exercise's name must be a slug: lowercase letters, digits and single "
                "hyphens, e.g. oom-by-hand"
            )
        elif posted.slug in RESERVED_SLUGS:
            problems.append(f"“{posted.slug}” is reserved; choose another name")
        elif posted.slug in existing:
            problems.append(f"This lesson already has an exercise named {posted.slug}")
    try:
        spec = parse_exercise(posted.slug or "x", posted.files, where)
    except ContentError as exc:
        return None, problems + exc.problems
    return (None if problems else spec), problems


def _rendered(spec: ExerciseSpec) -> dict:
    """The steps as the student page will show them: the same renderer and sanitiser."""
    return {
        "title": spec.title,
        "summary": spec.summary,
        "intro_html": render_markdown(spec.intro).html if spec.intro else "",
        "steps": [
            {
                "title": step.title,
                "script_name": step.script_name,
                "sandbox": step.sandbox,
                "timeout": step.timeout,
                "instructions_html": render_markdown(step.instructions).html,
                "hints_html": [render_markdown(hint).html for hint in step.hints],
            }
            for step in spec.steps
        ],
    }


def _with_exercise(content: dict, slug: str, files: dict[str, str]) -> dict:
    """``content`` with this one exercise's files replaced (or added)."""
    exercises = dict(content.get("exercises") or {})
    exercises[slug] = files
    return {**content, "exercises": exercises}


def _keep_draft(request, lesson: Lesson, base: LessonRevision, slug: str, files, based_on):
    """The author's text as their unsaved draft of the lesson (one per author and
    lesson, as for the lesson editor): the base revision with this exercise's files."""
    EditorDraft.objects.update_or_create(
        user=request.user,
        lesson=lesson,
        defaults={
            "content": revisions.normalise(_with_exercise(base.content, slug, files)),
            "based_on": based_on,
        },
    )


def _draft_files(request, lesson: Lesson, slug: str, head: LessonRevision):
    """This author's unsaved text of this exercise, if it differs from the newest."""
    draft = EditorDraft.objects.filter(user=request.user, lesson=lesson).first()
    if draft is None:
        return None, None
    files = (draft.content.get("exercises") or {}).get(slug)
    if not files or files == (head.content.get("exercises") or {}).get(slug):
        return None, None
    return draft, files


def _page(request, lesson, head, *, slug, files, based_on, new, status=200, **extra):
    if "problems" not in extra:  # opened, not posted: preview what the page holds
        posted = Posted("x" if new else slug, files, [])
        spec, problems = _check(lesson, posted, new=False, existing={})
        extra.update(problems=problems, preview=_rendered(spec) if spec else None)
    scripts = _scripts_of(files)
    context = {
        "lesson": lesson,
        "head": head,
        "slug": slug,
        "new": new,
        "based_on": based_on,
        "steps_text": files.get(STEPS_FILE, ""),
        "scripts": scripts,
        "script_count": len(scripts),
        "published": lesson.published_revision,
        "autosave_key": f"exercise:{lesson.slug}:{slug if not new else 'new'}",
        **extra,
    }
    return render(request, "courseware/authoring/exercise_edit.html", context, status=status)


@instructor_required
def exercise_edit(request, slug: str, exercise: str | None = None):
    lesson = _lesson(slug)
    head = revisions.ensure_history(lesson)
    existing = head.content.get("exercises") or {}
    new = exercise is None
    if not new and exercise not in existing:
        raise Http404("This lesson has no exercise of that name.")
    key = exercise or "new"

    if request.method != "POST":
        files = (
            dict(existing[exercise])
            if not new
            else {
                STEPS_FILE: STARTER_STEPS,
                "check-first.sh": STARTER_SCRIPT,
            }
        )
        draft, draft_files = _draft_files(request, lesson, key, head)
        if draft and request.GET.get("draft") == "restore":
            return _page(
                request,
                lesson,
                head,
                slug=key,
                files=draft_files,
                based_on=draft.based_on,
                new=new,
                restored_draft=draft,
            )
        return _page(
            request,
            lesson,
            head,
            slug=key,
            files=files,
            based_on=head.number,
            new=new,
            unsaved_draft=draft,
        )

    post = request.POST
    action = post.get("action", "preview")
    if action == "discard-draft":
        EditorDraft.objects.filter(user=request.user, lesson=lesson).delete()
        return redirect(request.path)
    try:
        based_on = int(post.get("based_on", ""))
    except ValueError:
        based_on = None
    if action in ("remove", "remove-publish") and not new:
        return _remove(
            request, lesson, head, exercise, based_on, publish=action == "remove-publish"
        )
    posted = _read_post(post, exercise)
    spec, problems = _check(lesson, posted, new=new, existing=existing)
    page = {
        "slug": posted.slug if new else exercise,
        "files": posted.files,
        "based_on": based_on,
        "new": new,
        "note": post.get("note", "")[:200],
        "problems": problems,
        "preview": _rendered(spec) if spec else None,
    }
    draft_key = exercise or "new"
    if action not in ("save", "publish") or problems:
        # Preview, or a save the parser refused: nothing is written but the author's
        # own text, kept so that a reload or a closed tab loses nothing.
        base = _revision_or_head(lesson, based_on, head)
        _keep_draft(request, lesson, base, draft_key, posted.files, based_on)
        refused = action in ("save", "publish")
        return _page(request, lesson, head, status=422 if refused else 200, refused=refused, **page)
    try:
        revision, created = revisions.save_revision(
            lesson,
            _with_exercise(head.content, posted.slug, posted.files),
            author=request.user,
            based_on=based_on,
            note=page["note"] or f"Exercise {posted.slug} edited",
        )
    except revisions.EditConflict as conflict:
        theirs = conflict.newest
        _keep_draft(request, lesson, theirs, draft_key, posted.files, based_on)
        theirs_files = (theirs.content.get("exercises") or {}).get(posted.slug, {})
        compared = diffs.compare(
            {"exercises": {posted.slug: theirs_files}},
            {"exercises": {posted.slug: posted.files}},
            f"r{theirs.number}",
            "yours",
        )
        # The page is now based on theirs, so saving again is "keep yours", knowingly.
        page.update(based_on=theirs.number)
        return _page(
            request,
            lesson,
            theirs,
            status=409,
            conflict=theirs,
            started_from=based_on,
            conflict_files=[f for f in compared if f.changed],
            **page,
        )
    EditorDraft.objects.filter(user=request.user, lesson=lesson).delete()
    report_save(request, revision, created, action, problems_at="in the lesson editor")
    return redirect("courseware:author_exercise", slug=lesson.slug, exercise=posted.slug)


def _remove(
    request,
    lesson: Lesson,
    head: LessonRevision,
    slug: str,
    based_on: int | None,
    *,
    publish: bool,
):
    """Save (and, when asked, publish) the lesson's next revision without this
    exercise. It needs the confirmation box, and the revision the page was opened on
    must still be the newest: removing what someone else has just edited would throw
    their work out of the next revision unseen."""
    files = dict((head.content.get("exercises") or {})[slug])
    if not request.POST.get("confirm_remove"):
        return _page(
            request,
            lesson,
            head,
            slug=slug,
            files=files,
            based_on=head.number,
            new=False,
            status=422,
            problems=["Nothing was removed: tick “Yes, remove this exercise” to confirm."],
            preview=None,
        )
    content = {
        **head.content,
        "exercises": {
            name: exercise_files
            for name, exercise_files in (head.content.get("exercises") or {}).items()
            if name != slug
        },
    }
    try:
        revision, created = revisions.save_revision(
            lesson,
            content,
            author=request.user,
            based_on=based_on,
            note=f"Exercise {slug} removed",
        )
    except revisions.EditConflict as conflict:
        return _page(
            request,
            lesson,
            conflict.newest,
            slug=slug,
            files=dict((conflict.newest.content.get("exercises") or {}).get(slug) or files),
            based_on=conflict.newest.number,
            new=False,
            status=409,
            problems=[
                f"Nothing was removed: revision {conflict.newest.number} was saved after "
                "you opened this page. Look at it here, then remove again if you still want to."
            ],
            preview=None,
        )
    report_save(
        request,
        revision,
        created,
        "publish" if publish else "save",
        problems_at="in the lesson editor",
    )
    messages.info(
        request,
        f"The exercise {slug} is not in revision {revision.number}. Students' completed "
        "steps are kept; restoring an earlier revision from the history brings it back.",
    )
    return redirect("courseware:author_edit", slug=lesson.slug)


def _revision_or_head(lesson: Lesson, number: int | None, head: LessonRevision) -> LessonRevision:
    """The revision the author started from, so their draft is that plus their text."""
    if number is None:
        return head
    return lesson.revisions.filter(number=number).first() or head
