"""Revisions of a lesson: saving, conflicts, publishing, restoring (docs/architecture.md,
"Authoring").

A lesson row holds what students see (the published state). Every save in the editor,
every restore and every import adds a ``LessonRevision``; publishing one copies it onto
the lesson row and its quiz through the same code the file import uses, so a lesson
written in the browser and one written as files end up the same way.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from virtlab.rendering import content_hash as text_hash

from ..coursefiles.errors import ContentError
from ..coursefiles.exercise_sync import exercise_export_files, exercise_import
from ..coursefiles.lesson_files import LessonSpec, check_lesson_links_and_quiz, normalise_body
from ..coursefiles.quiz_files import QUIZ_FILE
from ..coursefiles.quiz_sync import quiz_export_text, quiz_import, refuse_kind_changes
from ..models import AuthoringEvent, Lesson, LessonRevision, Question

Origin = LessonRevision.Origin
CONTENT_FIELDS = ("title", "summary", "objectives", "labs", "body", "quiz", "exercises")


class EditConflict(Exception):
    """Somebody saved a newer revision since this author opened the editor."""

    def __init__(self, newest: LessonRevision):
        self.newest = newest
        super().__init__(f"revision {newest.number} was saved in the meantime")


class NotPublishable(ContentError):
    pass


# --- Content --------------------------------------------------------------------------


def normalise(content: dict[str, Any]) -> dict[str, Any]:
    """The one shape content is stored and compared in, whatever the form sent."""
    quiz = str(content.get("quiz") or "").replace("\r\n", "\n")
    normalised = {
        "title": str(content.get("title") or "").strip(),
        "summary": str(content.get("summary") or "").strip(),
        "objectives": [str(o).strip() for o in content.get("objectives") or [] if str(o).strip()],
        "labs": [str(slug) for slug in content.get("labs") or []],
        "body": normalise_body(str(content.get("body") or "").replace("\r\n", "\n")),
        "quiz": quiz.rstrip() + "\n" if quiz.strip() else "",
    }
    # Only lessons with exercises carry the key, so every revision saved before
    # exercises existed keeps its hash (and seeding offers no spurious drafts).
    if exercises := _normalise_exercises(content.get("exercises")):
        normalised["exercises"] = exercises
    return normalised


def _normalise_exercises(value: Any) -> dict[str, dict[str, str]]:
    """``{slug: {file name: text}}``; anything of another shape is dropped here and
    what is kept is validated like files from disk (``problems_of``)."""
    if not isinstance(value, dict):
        return {}
    return {
        str(slug): {
            str(name): str(text).replace("\r\n", "\n")
            for name, text in sorted(files.items())
            if isinstance(text, str)
        }
        for slug, files in sorted(value.items())
        if isinstance(files, dict) and files
    }


def hash_of(content: dict[str, Any]) -> str:
    return text_hash(json.dumps(normalise(content), sort_keys=True, ensure_ascii=False))


def published_content(lesson: Lesson) -> dict[str, Any]:
    """What students see now, in revision form."""
    return normalise(
        {
            "title": lesson.title,
            "summary": lesson.summary,
            "objectives": lesson.objectives,
            "labs": lesson.labs,
            "body": lesson.body,
            "quiz": quiz_export_text(lesson),
            "exercises": exercise_export_files(lesson),
        }
    )


def to_spec(lesson: Lesson, content: dict[str, Any]) -> LessonSpec:
    content = normalise(content)
    return LessonSpec(
        source_dir=lesson.source_dir or f"{lesson.order:02d}-{lesson.slug}",
        slug=lesson.slug,
        title=content["title"],
        order=lesson.order,
        module=lesson.module.slug,
        summary=content["summary"],
        objectives=content["objectives"],
        labs=content["labs"],
        body=content["body"],
        published=lesson.published,
        extra_files={QUIZ_FILE: content["quiz"]} if content["quiz"] else {},
        exercises=content.get("exercises", {}),
    )


def problems_of(lesson: Lesson, content: dict[str, Any]) -> list[str]:
    """Why this content could not be published, as "file[:line]: reason" lines."""
    spec = to_spec(lesson, content)
    problems = [] if spec.title else [f"{spec.source_dir}/index.md: the title is empty"]
    problems += check_lesson_links_and_quiz(spec)
    if spec.quiz is not None and not problems:
        # Question ids are unique across the course: attempts are keyed by them.
        taken = (
            Question.objects.filter(qid__in=spec.quiz.qids)
            .exclude(quiz__lesson=lesson)
            .select_related("quiz__lesson")
        )
        problems += [
            f"{spec.source_dir}/{QUIZ_FILE}: question id {q.qid!r} is already used in "
            f"lesson {q.quiz.lesson.title!r}; give this question another id"
            for q in taken
        ]
        existing = {q.qid: q for q in Question.objects.filter(qid__in=spec.quiz.qids)}
        try:
            refuse_kind_changes(spec, existing)
        except ContentError as exc:
            problems += exc.problems
    return problems


# --- Revisions ------------------------------------------------------------------------


def newest(lesson: Lesson) -> LessonRevision | None:
    return lesson.revisions.order_by("-number").first()


def ensure_history(lesson: Lesson) -> LessonRevision:
    """The newest revision; a lesson imported before revisions were kept gets its
    published state as revision 1 first, so every later change has something to diff
    against and to return to."""
    revision = newest(lesson)
    if revision is not None:
        return revision
    content = published_content(lesson)
    revision = LessonRevision.objects.create(
        lesson=lesson,
        number=1,
        content=content,
        content_hash=hash_of(content),
        origin=Origin.BASELINE,
        problems=[],
    )
    Lesson.objects.filter(pk=lesson.pk).update(published_revision=revision)
    lesson.published_revision = revision
    return revision


def start_history(lesson: Lesson, content: dict[str, Any], *, author) -> LessonRevision:
    """Revision 1 of a lesson written in the browser: a draft, never published yet."""
    content = normalise(content)
    return LessonRevision.objects.create(
        lesson=lesson,
        number=1,
        content=content,
        content_hash=hash_of(content),
        author=author,
        origin=Origin.BROWSER,
        note="Created",
        problems=problems_of(lesson, content),
    )


def save_revision(
    lesson: Lesson,
    content: dict[str, Any],
    *,
    author,
    based_on: int | None,
    origin: str = Origin.BROWSER,
    note: str = "",
) -> tuple[LessonRevision, bool]:
    """Save ``content`` as the lesson's next revision (a draft: students see nothing
    of it until it is published). Returns (revision, created); saving what the newest
    revision already holds creates nothing.

    ``based_on`` is the revision the author started from; if a newer one was saved
    since, ``EditConflict`` is raised and nothing is written: the author chooses.
    ``None`` means "whatever is newest" (imports and restores, which are not edits).
    """
    content = normalise(content)
    with transaction.atomic():
        # Saves of one lesson queue here, so two authors cannot both take number N+1.
        Lesson.objects.select_for_update().filter(pk=lesson.pk).first()
        head = ensure_history(lesson)
        if based_on is not None and based_on != head.number:
            raise EditConflict(head)
        digest = hash_of(content)
        if digest == head.content_hash:
            created, revision = False, head
        else:
            created = True
            try:
                with transaction.atomic():
                    revision = LessonRevision.objects.create(
                        lesson=lesson,
                        number=head.number + 1,
                        content=content,
                        content_hash=digest,
                        based_on=head.number,
                        author=author if author and author.is_authenticated else None,
                        origin=origin,
                        note=note[:200],
                        problems=problems_of(lesson, content),
                    )
            except IntegrityError:
                # Where the row lock is a no-op (SQLite), two saves can still race for
                # the number; the loser is told, as for any stale edit.
                raise EditConflict(newest(lesson)) from None
    return revision, created


def publish(revision: LessonRevision, *, by) -> None:
    """Make ``revision`` what students see: the lesson's fields and its quiz, in one
    transaction. Attempts keep the question version they answered (their hash)."""
    lesson = revision.lesson
    with transaction.atomic():
        Lesson.objects.select_for_update().filter(pk=lesson.pk).first()
        lesson.refresh_from_db()
        # Checked again now: another lesson may have taken a question id since.
        if problems := problems_of(lesson, revision.content):
            raise NotPublishable(problems)
        spec = to_spec(lesson, revision.content)
        check_lesson_links_and_quiz(spec)  # parses spec.quiz
        for name in ("title", "summary", "objectives", "labs", "body"):
            setattr(lesson, name, getattr(spec, name))
        lesson.published = True
        lesson.published_revision = revision
        lesson.save()
        quiz_import(lesson=lesson, spec=spec)
        exercise_import(lesson=lesson, spec=spec)
        record(lesson, by, "published", f"revision {revision.number}")


def restore(revision: LessonRevision, *, by) -> tuple[LessonRevision, bool]:
    """Bring an earlier revision back as the newest one (history is not rewritten)."""
    return save_revision(
        revision.lesson,
        revision.content,
        author=by,
        based_on=None,
        origin=Origin.RESTORE,
        note=f"Restored revision {revision.number}",
    )


def content_of_spec(spec: LessonSpec) -> dict[str, Any]:
    return normalise(
        {
            "title": spec.title,
            "summary": spec.summary,
            "objectives": spec.objectives,
            "labs": spec.labs,
            "body": spec.body,
            "quiz": spec.extra_files.get(QUIZ_FILE, ""),
            "exercises": spec.exercises,
        }
    )


def record_import(lesson: Lesson, spec: LessonSpec, *, origin: str, author=None) -> LessonRevision:
    """After an import wrote the lesson row from ``spec``: that state as the published
    revision (a new one when it differs from the newest), so imports show in the
    history too and a later browser edit starts from them."""
    content = content_of_spec(spec)
    with transaction.atomic():
        head = newest(lesson)
        if head is not None and head.content_hash == hash_of(content):
            revision = head
        else:
            revision = LessonRevision.objects.create(
                lesson=lesson,
                number=head.number + 1 if head else 1,
                content=content,
                content_hash=hash_of(content),
                based_on=head.number if head else None,
                author=author,
                origin=origin,
                problems=[],
            )
        if lesson.published_revision_id != revision.pk:
            Lesson.objects.filter(pk=lesson.pk).update(published_revision=revision)
            lesson.published_revision = revision
    return revision


def record(lesson: Lesson | None, actor, action: str, detail: str = "") -> None:
    AuthoringEvent.objects.create(
        lesson=lesson,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        detail=detail[:300],
        at=timezone.now(),
    )


def has_unpublished_changes(lesson: Lesson) -> bool:
    head = newest(lesson)
    return head is not None and head.pk != lesson.published_revision_id
