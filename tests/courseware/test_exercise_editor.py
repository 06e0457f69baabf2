"""The exercise editor: a lesson's guided exercise edited in the browser as its files,
saved as the lesson's next revision (drafts, conflicts, publishing as in the lesson
editor), with files the parser refuses never saved."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from courseware.authoring import revisions
from courseware.models import EditorDraft, Lesson, LessonRevision
from tests.courseware.test_exercises import FILES, LESSON, SLUG


@pytest.fixture
def lesson(course) -> Lesson:
    return Lesson.objects.get(slug=LESSON)


def editor_url(exercise: str | None = SLUG) -> str:
    if exercise is None:
        return reverse("courseware:author_exercise_new", args=[LESSON])
    return reverse("courseware:author_exercise", args=[LESSON, exercise])


def fields(files: dict[str, str], based_on: int, action: str = "save", **extra) -> dict:
    """The editor form as an author would post it: steps.md and one row per script."""
    scripts = sorted((name, text) for name, text in files.items() if name != "steps.md")
    data = {
        "steps": files["steps.md"],
        "scripts": str(len(scripts)),
        "based_on": str(based_on),
        "action": action,
        "new_name": "",
        "new_script": "",
    }
    for i, (name, text) in enumerate(scripts):
        data[f"name_{i}"] = name
        data[f"script_{i}"] = text
    data.update(extra)
    return data


def closed(steps: str) -> str:
    """steps.md with its last fence closed, so text can be appended after it (the
    parser takes an unclosed step block to the end of the file)."""
    return steps + "```\n" if steps.count("```") % 2 else steps


def current(lesson: Lesson) -> tuple[LessonRevision, dict[str, str]]:
    head = revisions.newest(lesson) or revisions.ensure_history(lesson)
    return head, dict(head.content["exercises"][SLUG])


def test_the_lesson_editor_links_each_exercise_and_adding_one(lesson, instructor_client):
    revisions.ensure_history(lesson)
    html = instructor_client.get(reverse("courseware:author_edit", args=[LESSON])).content.decode()
    for slug in revisions.newest(lesson).content["exercises"]:
        assert reverse("courseware:author_exercise", args=[LESSON, slug]) in html
        assert f"Edit exercise {slug}" in html
    assert editor_url(None) in html and "Add an exercise" in html


def test_the_page_shows_steps_md_and_each_script(lesson, instructor_client):
    head, files = current(lesson)
    response = instructor_client.get(editor_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="steps"' in html and f'name="based_on" value="{head.number}"' in html
    for name in files:
        if name != "steps.md":
            assert f'value="{name}"' in html


def test_an_edit_is_a_draft_revision_differing_only_in_that_exercise(lesson, instructor_client):
    head, files = current(lesson)
    files["steps.md"] = files["steps.md"].replace("## ", "## Newly titled: ", 1)
    response = instructor_client.post(editor_url(), fields(files, head.number))
    assert response.status_code == 302
    saved = revisions.newest(lesson)
    assert saved.number == head.number + 1 and saved.based_on == head.number
    assert saved.content["exercises"][SLUG] == files
    assert {k: v for k, v in saved.content.items() if k != "exercises"} == {
        k: v for k, v in head.content.items() if k != "exercises"
    }
    others = {k: v for k, v in saved.content["exercises"].items() if k != SLUG}
    assert others == {k: v for k, v in head.content["exercises"].items() if k != SLUG}
    # A draft: students still see the published steps.
    assert not lesson.exercises.get(slug=SLUG).steps.filter(title__startswith="Newly").exists()


def test_preview_runs_the_parser_and_saves_no_revision(lesson, instructor_client):
    head, files = current(lesson)
    response = instructor_client.post(editor_url(), fields(files, head.number, "preview"))
    html = response.content.decode()
    assert response.status_code == 200 and "A container and a VM from the inside" in html
    assert html.count("Checked by <code>check-") == 7
    broken = {**files, "steps.md": files["steps.md"].replace("check: ", "check: ../", 1)}
    response = instructor_client.post(editor_url(), fields(broken, head.number, "preview"))
    assert b"must be a file name beside steps.md, not a path" in response.content
    assert b"exercises/inside-a-container-and-a-vm/steps.md:" in response.content
    assert revisions.newest(lesson).number == head.number


def test_invalid_files_are_refused_with_nothing_saved_but_the_draft(lesson, instructor_client):
    head, files = current(lesson)
    revision_count = LessonRevision.objects.count()
    steps_before = list(lesson.exercises.get(slug=SLUG).steps.values_list("key", "title"))
    broken = {**files, "steps.md": files["steps.md"].replace("timeout:", "timeout: 99 #", 1)}
    broken["steps.md"] = broken["steps.md"].replace("check: check-", "check: nope-", 1)
    response = instructor_client.post(editor_url(), fields(broken, head.number, "publish"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Not saved" in html and "check script nope-" in html
    assert LessonRevision.objects.count() == revision_count
    assert list(lesson.exercises.get(slug=SLUG).steps.values_list("key", "title")) == steps_before
    # The text typed is kept for this author, and a reload offers it back.
    draft = EditorDraft.objects.get(lesson=lesson)
    assert draft.content["exercises"][SLUG]["steps.md"] == broken["steps.md"]
    page = instructor_client.get(editor_url()).content.decode()
    assert "never saved" in page
    restored = instructor_client.get(editor_url() + "?draft=restore").content.decode()
    assert "nope-" in restored


def test_a_stale_base_is_a_conflict_that_keeps_both(lesson, instructor_client, instructor):
    head, files = current(lesson)
    theirs = {**files, "steps.md": closed(files["steps.md"]) + "\nTheir addition.\n"}
    revisions.save_revision(
        lesson,
        {**head.content, "exercises": {**head.content["exercises"], SLUG: theirs}},
        author=instructor,
        based_on=head.number,
    )
    mine = {**files, "steps.md": closed(files["steps.md"]) + "\nMy addition.\n"}
    response = instructor_client.post(editor_url(), fields(mine, head.number))
    assert response.status_code == 409
    html = response.content.decode()
    assert "Nothing was overwritten" in html and "Their addition." in html
    assert "My addition." in html and f'name="based_on" value="{head.number + 1}"' in html
    assert revisions.newest(lesson).number == head.number + 1
    assert EditorDraft.objects.get(lesson=lesson).content["exercises"][SLUG] == mine
    # Saving again from the page (now based on theirs) keeps mine, knowingly.
    response = instructor_client.post(editor_url(), fields(mine, head.number + 1))
    assert response.status_code == 302
    assert revisions.newest(lesson).content["exercises"][SLUG] == mine
    assert not EditorDraft.objects.filter(lesson=lesson).exists()


def test_publish_makes_the_new_step_live(lesson, instructor_client, student_client):
    head, files = current(lesson)
    files["steps.md"] = closed(files["steps.md"]) + (
        "\n## A brand new step\n\nDo it.\n\n```step\ncheck: check-brand-new.sh\n```\n"
    )
    files["check-brand-new.sh"] = "true\n"
    data = fields(files, head.number, "publish")
    response = instructor_client.post(editor_url(), data)
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.published_revision == revisions.newest(lesson)
    page = student_client.get(reverse("courseware:exercise", args=[LESSON, SLUG]))
    assert b"A brand new step" in page.content


def test_adding_removing_and_renaming_scripts(lesson, instructor_client):
    head, files = current(lesson)
    # Rename: the old row removed and the new name added, steps.md naming the new one.
    old = "check-container-kernel.sh"
    files["steps.md"] = files["steps.md"].replace(f"check: {old}", "check: check-kernel.sh")
    data = fields(files, head.number)
    index = sorted(n for n in files if n != "steps.md").index(old)
    data[f"remove_{index}"] = "1"
    data["new_name"], data["new_script"] = "check-kernel.sh", files[old]
    response = instructor_client.post(editor_url(), data)
    assert response.status_code == 302
    saved = revisions.newest(lesson).content["exercises"][SLUG]
    assert old not in saved and saved["check-kernel.sh"] == files[old]


def test_a_new_exercise_is_created_and_its_name_checked(lesson, instructor_client):
    head = revisions.ensure_history(lesson)
    page = instructor_client.get(editor_url(None))
    assert page.status_code == 200 and b'name="exercise_slug"' in page.content
    files = {k: v for k, v in FILES.items()}
    bad = instructor_client.post(
        editor_url(None), fields(files, head.number, exercise_slug="Bad Name")
    )
    assert bad.status_code == 422 and b"must be a slug" in bad.content
    taken = instructor_client.post(editor_url(None), fields(files, head.number, exercise_slug=SLUG))
    assert taken.status_code == 422 and b"already has an exercise named" in taken.content
    assert revisions.newest(lesson).number == head.number
    response = instructor_client.post(
        editor_url(None), fields(files, head.number, exercise_slug="two-steps")
    )
    assert response.status_code == 302 and response["Location"] == editor_url("two-steps")
    saved = revisions.newest(lesson)
    assert saved.content["exercises"]["two-steps"] == FILES
    assert saved.content["exercises"][SLUG] == head.content["exercises"][SLUG]


def test_an_unknown_exercise_is_not_found(lesson, instructor_client):
    assert instructor_client.get(editor_url("no-such-exercise")).status_code == 404


def test_exercise_posts_need_csrf(lesson, instructor):
    head, files = current(lesson)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(instructor)
    response = strict.post(editor_url(), fields(files, head.number))
    assert response.status_code == 403
    assert revisions.newest(lesson).number == head.number


def test_exercise_text_kept_survives_typing_in_the_lesson_editor(lesson, instructor_client):
    head, files = current(lesson)
    mine = {**files, "steps.md": files["steps.md"].replace("## ", "## Mine: ", 1)}
    instructor_client.post(editor_url(), fields(mine, head.number, "preview"))
    # The lesson editor does not offer exercise text it cannot show...
    edit = reverse("courseware:author_edit", args=[LESSON])
    assert b"never saved" not in instructor_client.get(edit).content
    # ...and its autosave keeps it.
    preview = reverse("courseware:author_preview", args=[LESSON])
    instructor_client.post(preview, {"title": "T", "body": "B", "based_on": head.number})
    assert EditorDraft.objects.get(lesson=lesson).content["exercises"][SLUG] == mine
    assert b"Mine: " in instructor_client.get(editor_url() + "?draft=restore").content


def test_a_forged_script_count_is_refused_not_truncated(lesson, instructor_client):
    head, files = current(lesson)
    response = instructor_client.post(editor_url(), fields(files, head.number, scripts="9999"))
    assert response.status_code == 422 and b"script count is not 0 to 200" in response.content
    assert revisions.newest(lesson).number == head.number


def test_removing_needs_the_box_ticked_and_changes_nothing_without_it(lesson, instructor_client):
    head, _ = current(lesson)
    response = instructor_client.post(
        editor_url(), {"action": "remove", "based_on": str(head.number)}
    )
    assert response.status_code == 422 and "Nothing was removed" in response.content.decode()
    assert revisions.newest(lesson).number == head.number
    assert SLUG in revisions.newest(lesson).content["exercises"]


def test_removing_and_publishing_retires_it_and_keeps_completions(
    lesson, instructor_client, student_client, student
):
    from courseware.models import Exercise, ExerciseStep, StepCompletion

    head, _ = current(lesson)
    # Publish what is there first, so the exercise is live with a completed step.
    revisions.publish(head, by=None)
    step = ExerciseStep.objects.filter(exercise__lesson=lesson, exercise__slug=SLUG).first()
    StepCompletion.objects.create(user=student, step=step)
    response = instructor_client.post(
        editor_url(),
        {"action": "remove-publish", "based_on": str(head.number), "confirm_remove": "1"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("courseware:author_edit", args=[LESSON])
    newest = revisions.newest(lesson)
    assert newest.number == head.number + 1 and SLUG not in newest.content["exercises"]
    lesson.refresh_from_db()
    assert lesson.published_revision == newest
    assert Exercise.objects.get(lesson=lesson, slug=SLUG).retired
    assert StepCompletion.objects.filter(user=student, step=step).exists()
    page = student_client.get(reverse("courseware:exercise", args=[LESSON, SLUG]))
    assert page.status_code == 404


def test_removing_from_a_stale_page_is_a_conflict_that_removes_nothing(
    lesson, instructor_client, instructor
):
    head, files = current(lesson)
    theirs = dict(files, **{"steps.md": closed(files["steps.md"]) + "\nTheir addition.\n"})
    revisions.save_revision(
        lesson, {**head.content, "exercises": {SLUG: theirs}}, author=instructor, based_on=None
    )
    response = instructor_client.post(
        editor_url(),
        {"action": "remove", "based_on": str(head.number), "confirm_remove": "1"},
    )
    assert response.status_code == 409 and "Nothing was removed" in response.content.decode()
    assert revisions.newest(lesson).content["exercises"][SLUG] == theirs
