"""Authoring in the browser: revisions, drafts and publishing, conflicts, restore,
diffs, the trash, seeding, and who may do any of it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courseware.authoring import revisions
from courseware.coursefiles.sync import course_export, course_import
from courseware.models import (
    Attempt,
    AuthoringEvent,
    CourseUpload,
    EditorDraft,
    Lesson,
    LessonRevision,
    Question,
)
from tests.courseware.quiz_helpers import correct_form
from virtlab.rendering import render_markdown

SLUG = "hypervisor-types"


@pytest.fixture
def lesson(course) -> Lesson:
    return Lesson.objects.get(slug=SLUG)


def editor_fields(lesson: Lesson, **changes) -> dict:
    """The editor form as an author would post it, from the newest revision."""
    head = revisions.ensure_history(lesson)
    content = head.content
    fields = {
        "title": content["title"],
        "summary": content["summary"],
        "objectives": "\n".join(content["objectives"]),
        "labs": content["labs"],
        "body": content["body"],
        "quiz": content["quiz"],
        "note": "",
        "based_on": head.number,
        "action": "save",
    }
    fields.update(changes)
    return fields


def edit_url(lesson: Lesson) -> str:
    return reverse("courseware:author_edit", args=[lesson.slug])


# --- Drafts and publishing ------------------------------------------------------------


def test_a_save_is_a_draft_that_students_see_only_once_published(
    lesson, instructor_client, student_client
):
    body = lesson.body + "\nA paragraph the instructor added.\n"
    response = instructor_client.post(edit_url(lesson), editor_fields(lesson, body=body))
    assert response.status_code == 302
    lesson.refresh_from_db()
    head = revisions.newest(lesson)
    assert head.number == 2 and head.author.username == "teacher"
    assert head.origin == LessonRevision.Origin.BROWSER and head.problems == []
    assert "instructor added" not in lesson.body  # the published state is untouched
    page = student_client.get(lesson.get_absolute_url()).content.decode()
    assert "instructor added" not in page

    instructor_client.post(
        reverse("courseware:author_publish", args=[lesson.slug]), {"revision": head.number}
    )
    lesson.refresh_from_db()
    assert lesson.published_revision == head
    assert "instructor added" in student_client.get(lesson.get_absolute_url()).content.decode()
    assert AuthoringEvent.objects.filter(lesson=lesson, action="published").exists()


def test_saving_unchanged_text_adds_no_revision(lesson, instructor_client):
    instructor_client.post(edit_url(lesson), editor_fields(lesson))
    assert lesson.revisions.count() == 1  # only the baseline


def test_save_and_publish_in_one_step(lesson, instructor_client, student_client):
    fields = editor_fields(lesson, title="Hypervisors, type 1 and 2", action="publish")
    instructor_client.post(edit_url(lesson), fields)
    lesson.refresh_from_db()
    assert lesson.title == "Hypervisors, type 1 and 2"
    assert lesson.published_revision.number == 2
    assert (
        "Hypervisors, type 1 and 2"
        in student_client.get(lesson.get_absolute_url()).content.decode()
    )


def test_a_broken_quiz_is_kept_as_a_draft_and_never_published(lesson, instructor_client):
    quiz = lesson.revisions.get().content["quiz"].replace("type: single", "type: nonsense", 1)
    response = instructor_client.post(
        edit_url(lesson), editor_fields(lesson, quiz=quiz, action="publish"), follow=True
    )
    head = revisions.newest(lesson)
    assert head.number == 2 and head.problems
    assert any("quiz.yaml:" in problem for problem in head.problems)
    assert "cannot be published" in response.content.decode()
    lesson.refresh_from_db()
    assert lesson.published_revision.number == 1
    refused = instructor_client.post(
        reverse("courseware:author_publish", args=[lesson.slug]), {"revision": 2}, follow=True
    )
    assert "Not published" in refused.content.decode()
    lesson.refresh_from_db()
    assert lesson.published_revision.number == 1
    assert Question.objects.filter(qid="hv-type1-host", type="single").exists()


def test_a_question_id_used_by_another_lesson_is_refused(lesson, instructor_client):
    quiz = (
        lesson.revisions.get()
        .content["quiz"]
        .replace(
            "id: hv-type1-host", "id: " + Question.objects.exclude(quiz__lesson=lesson).first().qid
        )
    )
    instructor_client.post(edit_url(lesson), editor_fields(lesson, quiz=quiz))
    head = revisions.newest(lesson)
    assert any("already used in lesson" in problem for problem in head.problems)


def test_attempts_keep_the_question_version_they_answered(
    lesson, instructor_client, student_client, student
):
    question = Question.objects.get(qid="hv-type1-host")
    quiz_url = reverse("courseware:quiz", args=[lesson.slug])
    student_client.post(
        reverse("courseware:question_submit", args=[lesson.slug, question.qid]),
        correct_form(question),
    )
    attempt = Attempt.objects.get(user=student, qid=question.qid)
    old_hash = question.content_hash
    assert attempt.content_hash == old_hash

    quiz = (
        lesson.revisions.get()
        .content["quiz"]
        .replace("What defines a **type 1** hypervisor?", "What makes a hypervisor **type 1**?")
    )
    instructor_client.post(edit_url(lesson), editor_fields(lesson, quiz=quiz, action="publish"))
    question.refresh_from_db()
    attempt.refresh_from_db()
    assert question.content_hash != old_hash
    assert attempt.content_hash == old_hash  # the attempt still names what it answered
    assert "What makes a hypervisor" in student_client.get(quiz_url).content.decode()


# --- Conflicts ------------------------------------------------------------------------


def test_a_stale_save_is_caught_and_nothing_is_overwritten_or_lost(lesson, instructor, course):
    from django.contrib.auth import get_user_model

    from courseware.models import Lesson as LessonModel
    from virtlab.roles import instructors_group

    other = get_user_model().objects.create_user("other-teacher", password="x")
    other.groups.add(instructors_group())
    first, second = Client(), Client()
    first.force_login(instructor)
    second.force_login(other)
    # Both open the editor on revision 1.
    assert first.get(edit_url(lesson)).status_code == 200
    assert second.get(edit_url(lesson)).status_code == 200
    stale = editor_fields(lesson, body=lesson.body + "\nSecond author's sentence.\n")

    first.post(edit_url(lesson), editor_fields(lesson, body=lesson.body + "\nFirst wins.\n"))
    response = second.post(edit_url(lesson), stale)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Nothing was overwritten" in page and "Second author" in page
    assert "First wins." in page  # the diff shows what the other author wrote
    head = revisions.newest(LessonModel.objects.get(pk=lesson.pk))
    assert head.number == 2 and "First wins." in head.content["body"]
    kept = EditorDraft.objects.get(user=other, lesson=lesson)
    assert "Second author's sentence." in kept.content["body"]

    # Choosing "keep yours" posts against the newest revision and saves revision 3.
    keep = {**stale, "based_on": 2}
    assert second.post(edit_url(lesson), keep).status_code == 302
    head = revisions.newest(lesson)
    assert head.number == 3 and head.author == other and head.based_on == 2
    assert not EditorDraft.objects.filter(user=other, lesson=lesson).exists()
    assert lesson.revisions.count() == 3  # the first author's revision is still there


# --- Preview and autosave -------------------------------------------------------------


def test_the_preview_uses_the_student_renderer_and_keeps_the_text(lesson, instructor_client):
    body = "# Title\n\nSome **bold** text.\n\n<script>alert(1)</script>\n"
    response = instructor_client.post(
        reverse("courseware:author_preview", args=[lesson.slug]),
        editor_fields(lesson, body=body),
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert render_markdown(body).html in html
    assert "<script>alert" not in html and "<strong>bold</strong>" in html
    draft = EditorDraft.objects.get(lesson=lesson)
    assert draft.content["body"] == body and draft.based_on == 1
    # Reopening the editor offers it back.
    page = instructor_client.get(edit_url(lesson)).content.decode()
    assert "never saved" in page
    restored = instructor_client.get(edit_url(lesson) + "?draft=restore").content.decode()
    assert "Some **bold** text." in restored


def test_the_preview_lists_quiz_problems_with_their_line(lesson, instructor_client):
    quiz = "questions:\n  - id: x1\n    type: single\n    prompt: Which?\n"
    response = instructor_client.post(
        reverse("courseware:author_preview", args=[lesson.slug]), editor_fields(lesson, quiz=quiz)
    )
    html = response.content.decode()
    assert "Cannot be published yet" in html and "quiz.yaml:" in html


def test_preview_without_javascript_saves_nothing(lesson, instructor_client):
    fields = editor_fields(lesson, body="Only *previewed*.\n", action="preview")
    page = instructor_client.post(edit_url(lesson), fields).content.decode()
    assert "<em>previewed</em>" in page
    assert lesson.revisions.count() == 1


# --- History, diffs, restore ----------------------------------------------------------


def test_history_diff_and_restore(lesson, instructor_client):
    original_title = lesson.title
    instructor_client.post(edit_url(lesson), editor_fields(lesson, title="Renamed lesson"))
    history = instructor_client.get(reverse("courseware:author_history", args=[lesson.slug]))
    assert "Renamed lesson" not in history.content.decode() or history.status_code == 200
    side = instructor_client.get(
        reverse("courseware:author_diff", args=[lesson.slug]) + "?from=1&to=2"
    ).content.decode()
    assert original_title in side and "Renamed lesson" in side
    unified = instructor_client.get(
        reverse("courseware:author_diff", args=[lesson.slug]) + "?from=1&to=2&view=unified"
    ).content.decode()
    assert f"-title: {original_title}" in unified and "+title: Renamed lesson" in unified

    instructor_client.post(reverse("courseware:author_restore", args=[lesson.slug, 1]))
    head = revisions.newest(lesson)
    assert head.number == 3 and head.origin == LessonRevision.Origin.RESTORE
    assert head.content["title"] == original_title
    assert lesson.revisions.get(number=2).content["title"] == "Renamed lesson"  # kept


def test_an_unknown_revision_is_a_404(lesson, instructor_client):
    url = reverse("courseware:author_diff", args=[lesson.slug]) + "?from=1&to=99"
    assert instructor_client.get(url).status_code == 404


def test_revisions_are_append_only(lesson):
    revision = revisions.ensure_history(lesson)
    revision.note = "rewritten"
    with pytest.raises(ValueError):
        revision.save()


# --- The outline: new lessons, moving, hiding, the trash ------------------------------


def test_a_new_lesson_is_written_and_published_in_the_browser(
    course, instructor_client, student_client
):
    module = course.modules.first()
    response = instructor_client.post(
        reverse("courseware:author_new"),
        {"title": "Storage basics", "slug": "storage-basics", "module": module.pk},
    )
    assert response.status_code == 302
    lesson = Lesson.objects.get(slug="storage-basics")
    assert not lesson.published
    assert student_client.get(lesson.get_absolute_url()).status_code == 404
    instructor_client.post(
        edit_url(lesson),
        editor_fields(lesson, body="Disks are **block devices**.\n", action="publish"),
    )
    page = student_client.get(lesson.get_absolute_url())
    assert page.status_code == 200 and "<strong>block devices</strong>" in page.content.decode()


def test_new_lesson_refuses_bad_and_taken_slugs(course, instructor_client):
    module = course.modules.first()
    count = Lesson.objects.count()
    for slug in ("Bad Slug", SLUG, "new"):
        response = instructor_client.post(
            reverse("courseware:author_new"), {"title": "T", "slug": slug, "module": module.pk}
        )
        assert response.status_code == 200 and 'class="errors"' in response.content.decode()
    assert Lesson.objects.count() == count


def test_moving_a_lesson_swaps_it_with_its_neighbour(lesson, instructor_client):
    siblings = list(lesson.module.lessons.order_by("order", "slug"))
    if len(siblings) < 2:
        pytest.skip("the module has one lesson")
    index = siblings.index(lesson)
    direction = "up" if index > 0 else "down"
    neighbour = siblings[index - 1] if index > 0 else siblings[index + 1]
    instructor_client.post(
        reverse("courseware:author_move", args=[lesson.slug]), {"direction": direction}
    )
    order = list(lesson.module.lessons.order_by("order").values_list("slug", flat=True))
    assert order.index(lesson.slug) == order.index(neighbour.slug) + (
        -1 if direction == "up" else 1
    )


def test_unpublish_trash_and_restore(lesson, instructor_client, student_client):
    url = lesson.get_absolute_url()
    instructor_client.post(
        reverse("courseware:author_visibility", args=[lesson.slug]), {"show": "0"}
    )
    assert student_client.get(url).status_code == 404
    instructor_client.post(
        reverse("courseware:author_visibility", args=[lesson.slug]), {"show": "1"}
    )
    assert student_client.get(url).status_code == 200

    instructor_client.post(reverse("courseware:author_trash", args=[lesson.slug]))
    lesson.refresh_from_db()
    assert lesson.trashed_at and not lesson.published
    assert student_client.get(url).status_code == 404
    outline = instructor_client.get(reverse("courseware:author_outline")).content.decode()
    assert "Restore" in outline
    instructor_client.post(reverse("courseware:author_trash", args=[lesson.slug]), {"restore": "1"})
    lesson.refresh_from_db()
    assert lesson.trashed_at is None and not lesson.published  # back, still hidden
    assert Question.objects.filter(quiz__lesson=lesson).exists()


# --- Files and the site agree ---------------------------------------------------------


def test_seeding_leaves_an_authored_course_alone_and_offers_shipped_changes_once(
    lesson, instructor, content_copy
):
    revision, _ = revisions.save_revision(
        lesson,
        {**revisions.published_content(lesson), "title": "Ours"},
        author=instructor,
        based_on=None,
    )
    revisions.publish(revision, by=instructor)
    index = content_copy / lesson.source_dir / "index.md"
    index.write_text(index.read_text() + "\nA sentence the new release added.\n")

    report = course_import(root=content_copy, seed=True)
    lesson.refresh_from_db()
    assert lesson.title == "Ours" and "new release added" not in lesson.body
    assert report.drafted == [f"lesson {lesson.slug}"]
    offered = revisions.newest(lesson)
    assert offered.origin == LessonRevision.Origin.SHIPPED
    assert "new release added" in offered.content["body"]
    assert course_import(root=content_copy, seed=True).drafted == []  # offered once


def test_importing_files_over_browser_edits_adds_revisions(lesson, instructor, content_copy):
    revision, _ = revisions.save_revision(
        lesson,
        {**revisions.published_content(lesson), "title": "Browser title"},
        author=instructor,
        based_on=None,
    )
    revisions.publish(revision, by=instructor)
    before = list(lesson.revisions.values_list("number", "content_hash"))
    course_import(root=content_copy)
    lesson.refresh_from_db()
    assert lesson.title != "Browser title"  # the files were applied
    after = list(lesson.revisions.order_by("number").values_list("number", "content_hash"))
    assert after[: len(before)] == sorted(before)  # history kept as it was
    assert revisions.newest(lesson).origin == LessonRevision.Origin.FILES
    assert lesson.published_revision == revisions.newest(lesson)


def test_export_writes_what_was_published_in_the_browser_and_reimports_unchanged(
    lesson, instructor, tmp_path
):
    quiz = lesson.revisions.get().content["quiz"]
    quiz = "# Written in the browser; this comment survives export.\n" + quiz
    revision, _ = revisions.save_revision(
        lesson,
        {**revisions.published_content(lesson), "quiz": quiz, "title": "Exported"},
        author=instructor,
        based_on=None,
    )
    revisions.publish(revision, by=instructor)
    course_export(root=tmp_path)
    written = (tmp_path / lesson.source_dir / "quiz.yaml").read_text()
    assert written.startswith("# Written in the browser")
    assert "title: Exported" in (tmp_path / lesson.source_dir / "index.md").read_text()
    report = course_import(root=tmp_path)
    assert report.created == [] and report.updated == []


# --- Permissions ----------------------------------------------------------------------

AUTHORING_URLS = [
    ("get", "courseware:author_outline", []),
    ("get", "courseware:author_new", []),
    ("post", "courseware:author_new", []),
    ("get", "courseware:author_edit", [SLUG]),
    ("post", "courseware:author_edit", [SLUG]),
    ("post", "courseware:author_preview", [SLUG]),
    ("post", "courseware:author_publish", [SLUG]),
    ("get", "courseware:author_history", [SLUG]),
    ("get", "courseware:author_diff", [SLUG]),
    ("post", "courseware:author_restore", [SLUG, 1]),
    ("post", "courseware:author_move", [SLUG]),
    ("post", "courseware:author_visibility", [SLUG]),
    ("post", "courseware:author_trash", [SLUG]),
    ("post", "courseware:author_module_move", [1]),
    ("get", "courseware:author_download", []),
    ("get", "courseware:author_upload", []),
    ("post", "courseware:author_upload", []),
    ("get", "courseware:author_upload_review", [1]),
    ("post", "courseware:author_upload_review", [1]),
    ("post", "courseware:author_image_upload", [SLUG]),
    ("get", "courseware:author_image", [SLUG, "a.png"]),
    ("post", "courseware:author_image_delete", [SLUG, "a.png"]),
    ("get", "courseware:author_quiz", [SLUG]),
    ("post", "courseware:author_quiz", [SLUG]),
    ("get", "courseware:author_exercise_new", [SLUG]),
    ("post", "courseware:author_exercise_new", [SLUG]),
    ("get", "courseware:author_exercise", [SLUG, "any-exercise"]),
    ("post", "courseware:author_exercise", [SLUG, "any-exercise"]),
    ("get", "courseware:author_module_new", []),
    ("post", "courseware:author_module_new", []),
    ("get", "courseware:author_module_edit", [1]),
    ("post", "courseware:author_module_edit", [1]),
    ("post", "courseware:author_lesson_module", [SLUG]),
]


@pytest.mark.parametrize(("method", "name", "args"), AUTHORING_URLS)
def test_students_and_visitors_cannot_author(lesson, client, student_client, method, name, args):
    if name in {"courseware:author_module_move", "courseware:author_module_edit"}:
        args = [lesson.module_id]
    url = reverse(name, args=args)
    data = editor_fields(lesson, title="Hacked", body="Hacked\n", revision=1, show="0")
    data.update({"slug": "hacked", "module": lesson.module_id, "direction": "up"})
    before = (
        LessonRevision.objects.count(),
        EditorDraft.objects.count(),
        CourseUpload.objects.count(),
        list(Lesson.objects.values_list("slug", "title", "order", "published", "trashed_at")),
    )
    if method == "get":
        data = {}
    anonymous = getattr(client, method)(url, data)
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    assert getattr(student_client, method)(url, data).status_code == 403
    after = (
        LessonRevision.objects.count(),
        EditorDraft.objects.count(),
        CourseUpload.objects.count(),
        list(Lesson.objects.values_list("slug", "title", "order", "published", "trashed_at")),
    )
    assert after == before


def test_authoring_posts_need_csrf(lesson, instructor):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(instructor)
    response = strict.post(edit_url(lesson), editor_fields(lesson, title="No token"))
    assert response.status_code == 403
    assert revisions.newest(lesson).number == 1


# --- Modules --------------------------------------------------------------------------


def test_modules_are_created_renamed_filled_and_deleted_only_when_empty(
    lesson, course, instructor_client, tmp_path
):
    new = reverse("courseware:author_module_new")
    refused = instructor_client.post(new, {"title": "Storage", "slug": "Bad Slug"})
    assert refused.status_code == 200 and 'class="errors"' in refused.content.decode()
    instructor_client.post(new, {"title": "Storage", "slug": "storage"})
    module = course.modules.get(slug="storage")
    assert module.order == course.modules.count()  # added at the end
    duplicate = instructor_client.post(new, {"title": "Again", "slug": "storage"})
    assert "already uses" in duplicate.content.decode()

    edit = reverse("courseware:author_module_edit", args=[module.pk])
    instructor_client.post(edit, {"title": "Storage and disks"})
    module.refresh_from_db()
    assert module.title == "Storage and disks" and module.slug == "storage"

    instructor_client.post(
        reverse("courseware:author_lesson_module", args=[lesson.slug]), {"module": module.pk}
    )
    lesson.refresh_from_db()
    assert lesson.module == module
    course_export(root=tmp_path)
    assert "slug: storage" in (tmp_path / "course.yaml").read_text()
    assert "module: storage" in (tmp_path / lesson.source_dir / "index.md").read_text()

    page = instructor_client.post(edit, {"action": "delete"}, follow=True).content.decode()
    assert "Only an empty module can be deleted" in page
    assert course.modules.filter(pk=module.pk).exists()
    old_module = course.modules.exclude(pk=module.pk).first()
    instructor_client.post(
        reverse("courseware:author_lesson_module", args=[lesson.slug]), {"module": old_module.pk}
    )
    instructor_client.post(edit, {"action": "delete"})
    assert not course.modules.filter(pk=module.pk).exists()


def test_the_gradebook_says_when_a_quiz_changed_after_the_class_answered(
    lesson, instructor, instructor_client, student_client, student
):
    instructor_client.post(reverse("courseware:class_new"), {"name": "Class A"})
    from courseware.models import Classroom

    classroom = Classroom.objects.get()
    student_client.post(reverse("courseware:class_join"), {"code": classroom.join_code})
    question = Question.objects.get(qid="hv-type1-host")
    student_client.post(
        reverse("courseware:question_submit", args=[lesson.slug, question.qid]),
        correct_form(question),
    )
    gradebook = reverse("courseware:class_detail", args=[classroom.pk])
    assert (
        "changed after this class answered" not in instructor_client.get(gradebook).content.decode()
    )

    quiz = lesson.revisions.get().content["quiz"] if lesson.revisions.exists() else None
    quiz = quiz or revisions.published_content(lesson)["quiz"]
    quiz = quiz.replace("What defines a **type 1** hypervisor?", "What is a **type 1** hypervisor?")
    instructor_client.post(edit_url(lesson), editor_fields(lesson, quiz=quiz, action="publish"))
    page = instructor_client.get(gradebook).content.decode()
    assert "changed after this class answered" in page
    assert "1 question changed since 1 answer was given" in page


def test_a_next_address_off_the_site_is_ignored(lesson, instructor_client):
    response = instructor_client.post(
        reverse("courseware:author_visibility", args=[lesson.slug]),
        {"show": "0", "next": "https://evil.example/phish"},
    )
    assert response["Location"] == reverse("courseware:author_outline")
    response = instructor_client.post(
        reverse("courseware:author_visibility", args=[lesson.slug]),
        {"show": "1", "next": reverse("courseware:author_history", args=[lesson.slug])},
    )
    assert response["Location"] == reverse("courseware:author_history", args=[lesson.slug])
