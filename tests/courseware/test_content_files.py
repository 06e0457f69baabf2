import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from courseware.coursefiles.lesson_files import ContentError, read_course
from courseware.coursefiles.sync import course_export, course_import
from courseware.models import Course, Lesson, Module, Question, Quiz

SHIPPED = Path(settings.VIRTLAB_CONTENT_DIR)


def lesson_fields(lesson: Lesson) -> tuple:
    return (
        lesson.slug, lesson.title, lesson.order, lesson.module.slug, lesson.summary,
        lesson.objectives, lesson.labs, lesson.body, lesson.published, lesson.source_dir,
    )  # fmt: skip


def lesson_in(root: Path, folder: str):
    """The lesson read from one folder (folder names, not positions: lessons get added)."""
    return next(lesson for lesson in read_course(root).lessons if lesson.source_dir == folder)


def quiz_fields() -> tuple[dict, dict]:
    quizzes = {
        quiz.lesson.slug: (quiz.max_attempts, quiz.min_seconds_between, quiz.show_answers)
        for quiz in Quiz.objects.select_related("lesson")
    }
    questions = {
        q.qid: (q.quiz.lesson.slug, q.type, q.spec, q.content_hash, q.order)
        for q in Question.objects.active().select_related("quiz__lesson")
    }
    return quizzes, questions


def test_shipped_course_has_the_first_two_lessons():
    content = read_course(SHIPPED)
    slugs = {lesson.slug for lesson in content.lessons}
    assert {"what-is-virtualization", "hypervisor-types"} <= slugs
    for lesson in content.lessons:
        assert len(lesson.body.split()) > 300, f"{lesson.slug} is too short to teach"


@pytest.mark.django_db
def test_import_is_idempotent_and_reports(capsys):
    first = course_import(root=SHIPPED)
    assert len(first.created) >= 3 and not first.updated
    before = {lesson.pk: lesson.updated_at for lesson in Lesson.objects.all()}
    second = course_import(root=SHIPPED)
    assert not second.created and not second.updated
    assert {lesson.pk: lesson.updated_at for lesson in Lesson.objects.all()} == before


@pytest.mark.django_db
def test_changed_file_updates_its_lesson(content_copy):
    course_import(root=content_copy)
    index = next(content_copy.glob("02-*/index.md"))
    index.write_text(
        index.read_text().replace("\n## ", "\n## Updated heading\n\nNew text.\n\n## ", 1)
    )
    report = course_import(root=content_copy)
    slug = lesson_in(content_copy, index.parent.name).slug
    assert report.updated == [f"lesson {slug}"]
    assert "Updated heading" in Lesson.objects.get(slug=slug).body_html


@pytest.mark.django_db
def test_import_export_import_is_lossless(tmp_path):
    course_import(root=SHIPPED)
    original = {lesson.slug: lesson_fields(lesson) for lesson in Lesson.objects.all()}
    modules = list(Module.objects.values_list("slug", "title", "order"))
    course = Course.objects.values_list("slug", "title", "description").get()
    quizzes = quiz_fields()
    assert len(quizzes[0]) == len(original) and quizzes[1]

    first_export = tmp_path / "one"
    course_export(root=first_export)
    # A fresh database imported from the export holds exactly the same course.
    Lesson.objects.all().delete()
    Module.objects.all().delete()
    Course.objects.all().delete()
    course_import(root=first_export)
    assert {lesson.slug: lesson_fields(lesson) for lesson in Lesson.objects.all()} == original
    assert list(Module.objects.values_list("slug", "title", "order")) == modules
    assert Course.objects.values_list("slug", "title", "description").get() == course
    assert quiz_fields() == quizzes

    # And exporting again writes byte-identical files.
    second_export = tmp_path / "two"
    course_export(root=second_export)
    files = sorted(p.relative_to(first_export) for p in first_export.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(second_export) for p in second_export.rglob("*") if p.is_file()
    )
    for relative in files:
        assert (first_export / relative).read_bytes() == (second_export / relative).read_bytes()


@pytest.mark.django_db
def test_malformed_file_is_named_and_nothing_is_imported(content_copy):
    broken = next(content_copy.glob("01-*/index.md"))
    broken.write_text("---\ntitle: [unclosed\nslug: x\n---\nBody\n")
    bad_slug = next(content_copy.glob("02-*/index.md"))
    bad_slug.write_text(bad_slug.read_text().replace("slug: hypervisor-types", "slug: Bad Slug!"))
    with pytest.raises(ContentError) as error:
        course_import(root=content_copy)
    problems = "\n".join(error.value.problems)
    assert broken.parent.name in problems and "invalid YAML" in problems
    assert bad_slug.parent.name in problems and "'slug'" in problems
    assert not Course.objects.exists() and not Lesson.objects.exists()


@pytest.mark.django_db
def test_missing_front_matter_and_unknown_module(content_copy):
    (content_copy / "99-extra").mkdir()
    (content_copy / "99-extra" / "index.md").write_text("No front matter here\n")
    (content_copy / "98-other").mkdir()
    (content_copy / "98-other" / "index.md").write_text(
        "---\ntitle: Other\nslug: other\norder: 98\nmodule: nowhere\n---\nText\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("import_course", str(content_copy))
    message = str(error.value)
    assert "99-extra/index.md: must start with YAML front matter" in message
    assert "98-other/index.md: module 'nowhere' is not listed" in message
    assert not Lesson.objects.exists()


@pytest.mark.django_db
def test_files_that_would_be_silently_ignored_are_refused(content_copy):
    """A misnamed quiz, a misnamed lesson folder or a non-UTF-8 file is named, not skipped."""
    quiz = next(content_copy.glob("02-*/quiz.yaml"))
    quiz.rename(quiz.with_name("quiz.yml"))
    (content_copy / "11_new-lesson").mkdir()
    (content_copy / "11_new-lesson" / "index.md").write_text("---\ntitle: New\n---\n")
    (content_copy / "_drafts").mkdir()  # underscore: deliberately not a lesson
    latin1 = next(content_copy.glob("03-*/index.md"))
    latin1.write_bytes(latin1.read_bytes().replace(b"emulat", "\u00e9mulat".encode("latin-1"), 1))
    with pytest.raises(ContentError) as error:
        course_import(root=content_copy)
    problems = "\n".join(error.value.problems)
    assert f"{quiz.parent.name}/quiz.yml: a quiz must be named quiz.yaml" in problems
    assert "11_new-lesson/: not a lesson folder name" in problems
    assert f"{latin1.parent.name}/index.md: not UTF-8 text" in problems
    assert "_drafts" not in problems
    assert not Lesson.objects.exists() and not Question.objects.exists()


@pytest.mark.django_db
def test_lessons_only_in_database_are_kept(content_copy):
    course_import(root=content_copy)
    victim = next(content_copy.glob("01-*"))
    slug = lesson_in(content_copy, victim.name).slug
    shutil.rmtree(victim)
    report = course_import(root=content_copy)
    assert slug in report.only_in_database
    assert Lesson.objects.filter(slug=slug).exists()


@pytest.mark.django_db
def test_commands_report(capsys, tmp_path):
    call_command("import_course")
    assert "created" in capsys.readouterr().out
    call_command("import_course")
    assert "0 created, 0 updated" in capsys.readouterr().out
    call_command("export_course", str(tmp_path / "out"))
    assert (tmp_path / "out" / "course.yaml").is_file()
