"""Import the course files into the database and export them back.

``course_import`` validates the whole directory first and then applies it in one
transaction, so a malformed file means nothing is imported. It is idempotent:
unchanged lessons are left alone (not even re-saved). Lessons that exist in the
database but not in the files are never deleted — they are reported, because an
instructor may have written them in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from ..authoring import revisions
from ..models import Course, Lesson, Module
from . import lesson_files as cf
from .exercise_sync import exercise_export_files, exercise_import
from .image_sync import image_import
from .quiz_sync import quiz_export_files, quiz_import


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    only_in_database: list[str] = field(default_factory=list)
    # Seeding an existing course: shipped changes saved as drafts, and new lessons
    # in the files that were not added.
    drafted: list[str] = field(default_factory=list)
    only_in_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )
        if self.drafted:
            text += f", {len(self.drafted)} offered as drafts"
        return text


def _upsert(model, lookup: dict, values: dict) -> tuple[object, str]:
    """Create or update one row, saving only when a field differs."""
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        return model.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return obj, "unchanged"
    for name in changed:
        setattr(obj, name, values[name])
    obj.save(update_fields=changed)
    return obj, "updated"


def _lesson_values(spec: cf.LessonSpec, module: Module) -> dict:
    return {
        "module": module,
        "title": spec.title,
        "order": spec.order,
        "summary": spec.summary,
        "objectives": spec.objectives,
        "labs": spec.labs,
        "body": spec.body,
        "published": spec.published,
        "source_dir": spec.source_dir,
    }


def course_import(
    *,
    root: Path,
    seed: bool = False,
    origin: str = revisions.Origin.FILES,
    author=None,
) -> ImportReport:
    """Apply the files at ``root`` to the database; each lesson that changed gets a
    new revision (origin "files"), so history is kept, never rewritten.

    ``seed`` is what ``make run`` uses: the files fill an empty database, but a course
    already there belongs to its instructors and is left as they made it — a shipped
    lesson that changed since becomes a draft revision for them to review and publish.
    """
    content = cf.read_course(root)  # raises ContentError before any write
    if seed and Course.objects.filter(slug=content.course.slug).exists():
        return _offer_shipped_changes(content)
    report = ImportReport()
    with transaction.atomic():
        course, state = _upsert(
            Course,
            {"slug": content.course.slug},
            {"title": content.course.title, "description": content.course.description},
        )
        if state != "unchanged":
            getattr(report, state).append(f"course {course.slug}")
        modules: dict[str, Module] = {}
        for spec in content.course.modules:
            module, state = _upsert(
                Module,
                {"course": course, "slug": spec.slug},
                {"title": spec.title, "order": spec.order},
            )
            modules[spec.slug] = module
            if state != "unchanged":
                getattr(report, state).append(f"module {spec.slug}")
        for spec in content.lessons:
            lesson, state = _upsert(
                Lesson, {"slug": spec.slug}, _lesson_values(spec, modules[spec.module])
            )
            getattr(report, state).append(f"lesson {spec.slug}")
            for what, hook in IMPORT_HOOKS:
                hook_state = hook(lesson=lesson, spec=spec)
                if hook_state and hook_state != "unchanged":
                    getattr(report, hook_state).append(f"{what} {spec.slug}")
            revisions.record_import(lesson, spec, origin=origin, author=author)
        file_slugs = {spec.slug for spec in content.lessons}
        report.only_in_database = sorted(
            Lesson.objects.filter(module__course=course)
            .exclude(slug__in=file_slugs)
            .values_list("slug", flat=True)
        )
    return report


def _offer_shipped_changes(content: cf.CourseContent) -> ImportReport:
    """Seeding a course that exists: nothing students see changes. A shipped lesson
    whose files differ from every revision the lesson has had becomes a draft revision
    (so each change is offered once); lessons new in the files are only reported."""
    report = ImportReport()
    with transaction.atomic():
        for spec in content.lessons:
            lesson = Lesson.objects.filter(slug=spec.slug).first()
            if lesson is None:
                report.only_in_files.append(spec.slug)
                continue
            offered = revisions.content_of_spec(spec)
            revisions.ensure_history(lesson)
            if lesson.revisions.filter(content_hash=revisions.hash_of(offered)).exists():
                report.unchanged.append(f"lesson {spec.slug}")
                continue
            revisions.save_revision(
                lesson,
                offered,
                author=None,
                based_on=None,
                origin=revisions.Origin.SHIPPED,
                note="The course shipped with virtlab changed this lesson",
            )
            report.drafted.append(f"lesson {spec.slug}")
    return report


# Other parts of the courseware (quizzes) register functions here: an import hook
# is (what it reports as, function): it stores its part of the lesson folder
# (``spec.extra_files``, ``spec.images``, ``spec.exercise_specs``, already validated by
# read_course) and
# returns created/updated/unchanged or None; an export hook returns {filename: text}.
IMPORT_HOOKS: list = [
    ("quiz", quiz_import),
    ("images of", image_import),
    ("exercises of", exercise_import),
]
EXPORT_HOOKS: list = [quiz_export_files]


def course_export(*, root: Path, course: Course | None = None, drafts: bool = False) -> list[Path]:
    """Write the published course (with ``drafts``, each lesson's newest revision
    instead) in the layout ``course_import`` reads. Lessons in the trash, and lessons
    written in the browser that were never published (unless ``drafts``), are left out."""
    course = course or Course.objects.order_by("pk").first()
    if course is None:
        raise cf.ContentError(["there is no course in the database to export"])
    modules = list(course.modules.order_by("order", "slug"))
    lessons = Lesson.objects.filter(module__course=course).not_trashed().in_outline_order()
    specs = []
    for lesson in lessons:
        newest = revisions.newest(lesson)
        if drafts and newest is not None and newest.pk != lesson.published_revision_id:
            spec = revisions.to_spec(lesson, newest.content)
            spec.body = cf.normalise_body(spec.body)
            spec.images = {image.name: bytes(image.data) for image in lesson.images.all()}
            specs.append(spec)
            continue
        if newest is not None and lesson.published_revision_id is None:
            continue  # written in the browser and never published: nothing to export
        extra: dict[str, str] = {}
        for hook in EXPORT_HOOKS:
            extra.update(hook(lesson=lesson))
        images = {image.name: bytes(image.data) for image in lesson.images.all()}
        specs.append(
            cf.LessonSpec(
                source_dir=lesson.source_dir or f"{lesson.order:02d}-{lesson.slug}",
                slug=lesson.slug,
                title=lesson.title,
                order=lesson.order,
                module=lesson.module.slug,
                summary=lesson.summary,
                objectives=list(lesson.objectives),
                labs=list(lesson.labs),
                body=cf.normalise_body(lesson.body),
                published=lesson.published,
                extra_files=extra,
                images=images,
                exercises=exercise_export_files(lesson),
            )
        )
    course_spec = cf.CourseSpec(
        slug=course.slug,
        title=course.title,
        description=course.description,
        modules=[cf.ModuleSpec(m.slug, m.title, m.order) for m in modules],
    )
    return cf.write_course(root, cf.CourseContent(course=course_spec, lessons=specs))
