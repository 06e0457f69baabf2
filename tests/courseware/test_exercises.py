"""Guided exercises: the file format and its errors, import/export/zip/publishing
like quizzes, checking a step, the exercise page and the gradebook. (The shipped
exercises' checks in real sandboxes: test_exercise_checks.py.)"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from courseware.authoring import coursezip, revisions
from courseware.classes.gradebook import build_gradebook, gradebook_csv_text
from courseware.coursefiles.errors import ContentError
from courseware.coursefiles.exercise_files import parse_exercise
from courseware.coursefiles.lesson_files import read_course
from courseware.coursefiles.sync import course_export, course_import
from courseware.exercises import NOT_YET, check_step, what_is_missing
from courseware.models import (
    Classroom,
    Exercise,
    ExerciseStep,
    Lesson,
    LessonProgress,
    Membership,
    StepCompletion,
)

LESSON = "containers"
LESSON_DIR = "07-containers"
SLUG = "inside-a-container-and-a-vm"
STEPS = """---
title: Two steps
summary: A small exercise.
sandbox: container
---

Some intro with `code`.

## First step

Do the first thing:

```console
# echo hi > /tmp/answers/hi
```

```step
check: check-first.sh
hints:
  - One.
  - Two.
```

## Second step

```step
check: check-second.sh
sandbox: vm
timeout: 20
```

The block may sit anywhere in the step.
"""
FILES = {"steps.md": STEPS, "check-first.sh": "test -f /tmp/x\n", "check-second.sh": "true\n"}


def problems(files: dict[str, str], slug: str = "demo") -> list[str]:
    with pytest.raises(ContentError) as caught:
        parse_exercise(slug, files, "01-x/exercises/demo")
    return caught.value.problems


# --- The file format ------------------------------------------------------------------------


def test_a_valid_exercise_parses_into_steps_with_defaults():
    spec = parse_exercise("demo", FILES, "01-x/exercises/demo")
    assert spec.title == "Two steps" and spec.intro == "Some intro with `code`."
    first, second = spec.steps
    assert (first.key, first.sandbox, first.timeout, first.hints) == (
        "check-first",
        "container",
        10,
        ["One.", "Two."],
    )
    assert "```step" not in first.instructions and "echo hi" in first.instructions
    assert (second.sandbox, second.timeout) == ("vm", 20)
    assert second.instructions == "The block may sit anywhere in the step."
    assert spec.sandboxes == ["container", "vm"]


def test_a_heading_inside_fenced_code_is_not_a_step():
    text = STEPS.replace("Do the first thing:", "```\n## not a step\n```")
    spec = parse_exercise("demo", {**FILES, "steps.md": text}, "x")
    assert [s.title for s in spec.steps] == ["First step", "Second step"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"check-first.sh": None},
            "01-x/exercises/demo/steps.md:9: step 'First step': check script check-first.sh is missing",
        ),
        (
            {"steps.md": STEPS.replace("sandbox: vm", "sandbox: cloud")},
            "sandbox 'cloud' is unknown; use container or vm",
        ),
        (
            {"steps.md": STEPS.replace("timeout: 20", "timeout: 31")},
            "timeout 31 s is too long; at most 30 s",
        ),
        (
            {"steps.md": STEPS.replace("timeout: 20", "timeout: 0")},
            "timeout must be a whole number",
        ),
        (
            {"steps.md": STEPS.replace("check: check-second.sh", "check: ../../etc/passwd.sh")},
            "must be a file name beside steps.md, not a path",
        ),
        ({"steps.md": STEPS.replace("check: check-second.sh", "check: /bin/true")}, "not a path"),
        ({"extra.sh": "true\n"}, "01-x/exercises/demo/extra.sh: no step uses this file"),
        (
            {"steps.md": STEPS.replace("check-second.sh", "check-first.sh")},
            "each step has its own script",
        ),
        (
            {
                "steps.md": STEPS.replace(
                    "```step\ncheck: check-second.sh\nsandbox: vm\ntimeout: 20\n```", ""
                )
            },
            "has no ```step block",
        ),
        (
            {"steps.md": STEPS.replace("title: Two steps", "titel: Two steps")},
            "unknown field(s): titel",
        ),
        ({"steps.md": STEPS.replace("hints:", "hint:")}, "unknown field(s): hint"),
        ({"steps.md": "no front matter\n"}, "must start with YAML front matter"),
        ({"steps.md": None}, "demo/steps.md: missing"),
        ({"check-first.sh": "  \n"}, "check script check-first.sh is empty"),
    ],
)
def test_bad_files_are_refused_with_a_clear_reason(change, expected):
    files = {**FILES, **change}
    files = {name: text for name, text in files.items() if text is not None}
    found = problems(files)
    assert any(expected in problem for problem in found), found


def test_a_folder_name_that_is_not_a_slug_is_refused():
    assert any("must be a slug" in p for p in problems(FILES, slug="Bad_Name"))


def write_exercise(lesson_dir: Path, slug: str, files: dict[str, str]) -> None:
    folder = lesson_dir / "exercises" / slug
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_a_symlinked_script_is_refused(content_copy, tmp_path):
    folder = content_copy / LESSON_DIR / "exercises" / "demo"
    write_exercise(content_copy / LESSON_DIR, "demo", FILES)
    (folder / "check-first.sh").unlink()
    (tmp_path / "outside.sh").write_text("true\n")
    (folder / "check-first.sh").symlink_to(tmp_path / "outside.sh")
    with pytest.raises(ContentError) as caught:
        read_course(content_copy)
    assert any("check-first.sh: not a plain file" in p for p in caught.value.problems)


# --- Import, export, the zip, publishing ------------------------------------------------------


def test_the_shipped_exercises_import_with_their_steps(course):
    exercise = Exercise.objects.get(lesson__slug=LESSON, slug=SLUG)
    steps = list(exercise.steps.all())
    assert len(steps) == 7 and {s.sandbox for s in steps} == {"container", "vm"}
    assert "highlight" in steps[0].instructions_html and "```" not in steps[0].instructions_html
    assert steps[0].script.startswith("# The answer must be")
    assert len(steps[0].hints_html) == 2
    assert Exercise.objects.filter(lesson__slug="virtual-networking").count() == 1


def test_a_bad_exercise_changes_nothing(course, content_copy):
    before = list(ExerciseStep.objects.values_list("pk", "script"))
    folder = content_copy / LESSON_DIR / "exercises" / SLUG
    (folder / "check-container-kernel.sh").write_text("exit 0\n")  # would change a step
    (folder / "check-vm-pid2.sh").unlink()  # … but this one is missing
    with pytest.raises(ContentError) as caught:
        course_import(root=content_copy)
    assert any("check-vm-pid2.sh is missing" in p for p in caught.value.problems)
    assert list(ExerciseStep.objects.values_list("pk", "script")) == before


def test_import_export_import_is_lossless_and_a_removed_step_retires(course, tmp_path, student):
    exported = tmp_path / "out"
    course_export(root=exported)
    root = Path(django_settings.VIRTLAB_CONTENT_DIR)
    for path in root.glob("*/exercises/*/*"):
        assert (exported / path.relative_to(root)).read_text() == path.read_text()
    assert course_import(root=exported).updated == []

    step = ExerciseStep.objects.get(key="check-vm-pid2")
    StepCompletion.objects.create(user=student, step=step)
    folder = exported / LESSON_DIR / "exercises" / SLUG
    text = (folder / "steps.md").read_text()
    start = text.index("## Kernel threads")
    end = text.index("## Compare the two kernels")
    (folder / "steps.md").write_text(text[:start] + text[end:])
    (folder / "check-vm-pid2.sh").unlink()
    report = course_import(root=exported)
    assert f"exercises of {LESSON}" in report.updated
    step.refresh_from_db()
    assert step.retired and StepCompletion.objects.filter(step=step).exists()
    again = tmp_path / "again"
    course_export(root=again)
    assert not (again / LESSON_DIR / "exercises" / SLUG / "check-vm-pid2.sh").exists()


def test_the_course_zip_carries_the_scripts_and_an_upload_applies_them(course, instructor):
    data = coursezip.course_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        files = {name: archive.read(name) for name in names}
    script = f"course/{LESSON_DIR}/exercises/{SLUG}/check-container-kernel.sh"
    assert script in names
    files[script] = b"# changed\n" + files[script]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    review = coursezip.preview(buffer.getvalue())
    assert review.can_apply and review.report.updated == [f"exercises of {LESSON}"]
    assert not ExerciseStep.objects.filter(script__startswith="# changed").exists()  # a dry run
    coursezip.apply(buffer.getvalue(), by=instructor)
    step = ExerciseStep.objects.get(key="check-container-kernel")
    assert step.script.startswith("# changed")


def test_seeding_an_existing_course_offers_new_exercises_as_a_draft_to_publish(
    course, content_copy, instructor
):
    lesson = Lesson.objects.get(slug="hypervisor-types")
    write_exercise(content_copy / "02-hypervisor-types", "demo", FILES)
    report = course_import(root=content_copy, seed=True)
    assert "lesson hypervisor-types" in report.drafted
    assert not lesson.exercises.exists()  # nothing students see changed
    draft = revisions.newest(lesson)
    assert set(draft.content["exercises"]["demo"]) == set(FILES) and draft.publishable
    revisions.publish(draft, by=instructor)
    assert lesson.exercises.get().steps.count() == 2


def test_saving_in_the_editor_keeps_the_exercises(course, instructor_client):
    from tests.courseware.test_authoring import edit_url, editor_fields

    lesson = Lesson.objects.get(slug=LESSON)
    response = instructor_client.post(
        edit_url(lesson), editor_fields(lesson, summary="Shorter.", action="publish")
    )
    assert response.status_code in (200, 302)
    head = revisions.newest(lesson)
    assert head.content["summary"] == "Shorter." and SLUG in head.content["exercises"]
    assert (
        instructor_client.get(edit_url(lesson)).content.count(b"Edit exercise " + SLUG.encode())
        == 1
    )


# --- Checking a step -----------------------------------------------------------------------


class FakeStep:
    script = "the stored script"
    timeout = 7


def test_check_step_passes_on_status_zero_and_gives_the_script_and_timeout():
    calls = []

    def run_check(script, timeout):
        calls.append((script, timeout))
        return 0, "whatever\n"

    result = check_step(FakeStep(), run_check)
    assert result.done and calls == [("the stored script", 7.0)]


def test_a_failing_check_says_what_is_missing_in_its_last_lines():
    result = check_step(FakeStep(), lambda s, t: (1, "noise\n" * 10 + "a\nb\n\x1b[31mc\x1b[0m\n"))
    assert not result.done and result.message == "a\nb\nc"
    assert check_step(FakeStep(), lambda s, t: (1, "")).message == NOT_YET
    assert len(what_is_missing("x" * 5000)) == 300


def test_a_check_that_overran_is_not_done():
    result = check_step(FakeStep(), lambda s, t: (None, "partial"))
    assert not result.done and "longer than 7 s" in result.message


# --- The page ------------------------------------------------------------------------------

PANEL = (
    Path(__file__).resolve().parents[2] / "terminals" / "templates" / "terminals" / "_panel.html"
)


@pytest.fixture
def panel(settings):
    """The terminals app draws the panel; until its template is in the tree, a stand-in
    held in memory (no file of that name is made here). Changing TEMPLATES resets
    Django's template engines (its setting_changed signal)."""
    if PANEL.exists():
        return
    template = dict(settings.TEMPLATES[0])
    options = dict(template.get("OPTIONS", {}))
    loaders = options.get("loaders") or [
        "django.template.loaders.filesystem.Loader",
        "django.template.loaders.app_directories.Loader",
    ]
    stand_in = {"terminals/_panel.html": "<p>panel {{ kinds|join:',' }}</p>"}
    options["loaders"] = [("django.template.loaders.locmem.Loader", stand_in), *loaders]
    template["OPTIONS"] = options
    template["APP_DIRS"] = False
    settings.TEMPLATES = [template, *settings.TEMPLATES[1:]]


def exercise_url(slug=SLUG) -> str:
    return reverse("courseware:exercise", args=[LESSON, slug])


def check_url(key: str) -> str:
    return reverse("courseware:exercise_check", args=[LESSON, SLUG, key])


@pytest.fixture
def fake_terminals(monkeypatch):
    """terminals.services.run_check, replaced: records what it was asked to run."""
    import terminals.services as services

    calls = []
    answers = {"status": 0, "output": ""}

    def run_check(user, kind, script, timeout):
        calls.append({"user": user, "kind": kind, "script": script, "timeout": timeout})
        if answers.get("no_terminal"):
            raise services.NoLiveTerminal(kind)
        return answers["status"], answers["output"]

    monkeypatch.setattr(services, "run_check", run_check)
    return calls, answers


def test_the_page_shows_intro_steps_hints_and_the_panel(course, student_client, panel):
    response = student_client.get(exercise_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "A container and a VM from the inside" in html
    assert html.count('class="step-check"') == 7
    assert "Hint 1" in html and "Hint 2" in html
    if not PANEL.exists():
        assert "<p>panel container,vm</p>" in html
    assert "0 of 7 steps done" in html


def test_the_page_and_its_checks_need_a_login(course, client, fake_terminals):
    assert client.get(exercise_url()).status_code == 302
    response = client.post(check_url("check-vm-pid2"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"].startswith("/accounts/login/")
    assert client.post(check_url("check-vm-pid2")).status_code == 302
    assert fake_terminals[0] == []  # nothing ran


def test_a_passing_check_marks_the_step_and_counts_as_lesson_work(
    course, student, student_client, panel, fake_terminals
):
    calls, _ = fake_terminals
    step = ExerciseStep.objects.get(key="check-vm-pid2")
    response = student_client.post(
        check_url(step.key), {"script": "exit 0", "timeout": "999"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    # What ran is the stored step's script in its sandbox, whatever the request said.
    assert calls == [{"user": student, "kind": "vm", "script": step.script, "timeout": 10.0}]
    fragment = response.content.decode()
    assert "Done" in fragment and "(<span" in fragment  # the outcome and the done mark
    assert 'id="exercise-count" hx-swap-oob="true">1 of 7 steps done' in fragment
    assert StepCompletion.objects.filter(user=student, step=step).exists()
    assert LessonProgress.objects.filter(user=student, lesson=step.exercise.lesson).exists()
    page = student_client.get(exercise_url()).content.decode()
    assert "1 of 7 steps done" in page


def test_without_javascript_the_outcome_shows_after_the_redirect(
    course, student, student_client, panel, fake_terminals
):
    _, answers = fake_terminals
    answers.update(status=1, output="/tmp/answers/kernel is missing.\n")
    response = student_client.post(check_url("check-container-kernel"))
    assert response.status_code == 302 and response["Location"].endswith(
        "#step-check-container-kernel"
    )
    page = student_client.get(response["Location"]).content.decode()
    assert "/tmp/answers/kernel is missing." in page
    assert (
        "/tmp/answers/kernel is missing." not in student_client.get(exercise_url()).content.decode()
    )
    assert not StepCompletion.objects.exists()


def test_no_live_terminal_says_to_open_one(course, student_client, panel, fake_terminals):
    _, answers = fake_terminals
    answers["no_terminal"] = True
    response = student_client.post(check_url("check-vm-pid2"), HTTP_HX_REQUEST="true")
    assert "Open a virtual machine terminal first" in response.content.decode()
    assert not StepCompletion.objects.exists()


def test_checks_are_posts_of_known_steps(course, student_client, panel, fake_terminals):
    assert student_client.get(check_url("check-vm-pid2")).status_code == 405
    assert student_client.post(check_url("no-such-step")).status_code == 404
    retired = ExerciseStep.objects.get(key="check-vm-pid2")
    retired.retired = True
    retired.save()
    assert student_client.post(check_url("check-vm-pid2")).status_code == 404


def test_the_lesson_page_lists_its_exercises_with_steps_done(course, student, student_client):
    StepCompletion.objects.create(user=student, step=ExerciseStep.objects.get(key="check-limit"))
    html = student_client.get(reverse("courseware:lesson", args=[LESSON])).content.decode()
    assert "Try it in a terminal" in html
    assert exercise_url() in html and exercise_url("oom-by-hand") in html
    assert "1 of 5 steps done" in html and "0 of 7 steps done" in html
    other = student_client.get(reverse("courseware:lesson", args=["hypervisor-types"]))
    assert "Try it in a terminal" not in other.content.decode()


# --- The gradebook -------------------------------------------------------------------------


def test_the_gradebook_counts_steps_by_exercise_title(course, student, instructor):
    classroom = Classroom.objects.create(name="Class", join_code="ABCDEFGH")
    classroom.instructors.add(instructor)
    Membership.objects.create(classroom=classroom, user=student)
    for key in ("check-limit", "check-mounted", "check-two-namespaces"):
        StepCompletion.objects.create(user=student, step=ExerciseStep.objects.get(key=key))
    gradebook = build_gradebook(classroom, sort="exercises", direction="desc")
    (row,) = gradebook.rows
    assert row.steps_done == 3 and gradebook.steps == 17
    cell = next(c for c in row.cells if c.lesson.slug == LESSON)
    assert (cell.steps_done, cell.steps) == (2, 12)
    header, line = gradebook_csv_text(gradebook).splitlines()[:2]
    columns = header.split(",")
    at = columns.index("A memory limit by hand (steps done)")
    assert line.split(",")[at] == "2"
    assert "Network namespaces by hand (steps done)" in columns


def test_exporting_drafts_writes_the_drafts_exercises(course, tmp_path, instructor):
    lesson = Lesson.objects.get(slug=LESSON)
    head = revisions.ensure_history(lesson)
    content = {**head.content, "summary": "A draft."}
    content["exercises"] = {**content["exercises"], "demo": FILES}
    revisions.save_revision(lesson, content, author=instructor, based_on=head.number)
    course_export(root=tmp_path, drafts=True)
    folder = tmp_path / LESSON_DIR / "exercises"
    assert (folder / "demo" / "check-second.sh").read_text() == "true\n"
    assert (folder / SLUG / "steps.md").exists()
    # A draft's file names were never validated: one that would leave its folder is
    # refused instead of written.
    content["exercises"]["demo"] = {**FILES, "../../escape.sh": "x"}
    revision, _ = revisions.save_revision(lesson, content, author=instructor, based_on=None)
    assert not revision.publishable
    with pytest.raises(ContentError):
        course_export(root=tmp_path / "again", drafts=True)
    assert not (tmp_path / "again" / "escape.sh").exists()
