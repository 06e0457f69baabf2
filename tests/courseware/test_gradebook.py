"""The gradebook of a seeded class: figures, sorting, CSV (see quiz_helpers.seed_class)."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from courseware.classes.gradebook import ASSIGNMENT_COLUMNS, build_gradebook, csv_columns
from courseware.coursefiles.lesson_files import read_course
from courseware.models import Exercise, ExerciseStep, Lesson, Quiz
from courseware.quizzes.predictions import labs_required_by
from labs.experiments import get_lab
from labs.models import LabRun

from .quiz_helpers import seed_class

# Points worked out by hand from the seeded answers (quiz_helpers.seed_class); the
# scores divide them by the sizes of the shipped quizzes, which are counted, not assumed.
#   hypervisor-types:       ana 1+1+1+1 = 4; ben 1+1+2/3+1 = 11/3; cy 0+1+0+1 = 2; dee 0+0+0+1 = 1
#   what-is-virtualization: one question right for each student
#   overall: the mean over every quiz of the shipped course (counted, as lessons are added)
COURSE = read_course(Path(django_settings.VIRTLAB_CONTENT_DIR)).lessons
SIZES = {lesson.slug: len(lesson.quiz.questions) for lesson in COURSE if lesson.quiz}
HYPERVISOR_POINTS = {"ana": 4, "ben": 11 / 3, "cy": 2, "dee": 1}
HYPERVISOR = {name: p / SIZES["hypervisor-types"] for name, p in HYPERVISOR_POINTS.items()}
BASICS = 1 / SIZES["what-is-virtualization"]
QUIZZES = len(SIZES)
OVERALL = {name: (score + BASICS) / QUIZZES for name, score in HYPERVISOR.items()}
# A mastery threshold between ana's and ben's scores: only ana masters hypervisor-types.
THRESHOLD = (HYPERVISOR["ana"] + HYPERVISOR["ben"]) / 2


def percent(score: float) -> str:
    return f"{round(score * 100)} %"


@pytest.fixture
def seeded(course, instructor, settings):
    settings.VIRTLAB_MASTERY_THRESHOLD = THRESHOLD
    return seed_class(instructor)


def test_quizzes_have_the_sizes_the_hand_computed_figures_assume(seeded):
    counts = {quiz.lesson.slug: quiz.questions.active().count() for quiz in Quiz.objects.all()}
    assert counts == SIZES
    assert min(counts.values()) >= 8 and len(counts) == QUIZZES
    # the seeded points only make sense if both quizzes have more than four questions
    assert min(SIZES["hypervisor-types"], SIZES["what-is-virtualization"]) > 4


def test_gradebook_figures(seeded):
    classroom, _ = seeded
    book = build_gradebook(classroom)
    assert [row.student.username for row in book.rows] == ["ana", "ben", "cy", "dee"]  # not eve
    index = [lesson.slug for lesson in book.lessons].index("hypervisor-types")
    basics = [lesson.slug for lesson in book.lessons].index("what-is-virtualization")
    for row in book.rows:
        name = row.student.username
        assert row.cells[index].quiz.score == pytest.approx(HYPERVISOR[name])
        assert row.cells[basics].quiz.score == pytest.approx(BASICS)
        assert row.overall == pytest.approx(OVERALL[name])
        assert row.mastered == (1 if name == "ana" else 0)  # threshold between ana and ben
    states = {row.student.username: row.cells[index].state for row in book.rows}
    assert states == {
        "ana": "done",
        "ben": "in_progress",
        "cy": "not_started",
        "dee": "not_started",
    }


def test_gradebook_page_sorts_by_any_column(instructor_client, seeded):
    classroom, _ = seeded
    url = classroom.get_absolute_url()
    page = instructor_client.get(url).content.decode()
    assert (
        page.index(">ana</a>")
        < page.index(">ben</a>")
        < page.index(">cy</a>")
        < page.index(">dee</a>")
    )
    assert 'aria-sort="ascending"' in page
    assert percent(HYPERVISOR["ana"]) in page and percent(HYPERVISOR["ben"]) in page
    page = instructor_client.get(url, {"sort": "hypervisor-types", "dir": "desc"}).content.decode()
    assert (
        page.index(">ana</a>")
        < page.index(">ben</a>")
        < page.index(">cy</a>")
        < page.index(">dee</a>")
    )
    page = instructor_client.get(url, {"sort": "overall", "dir": "asc"}).content.decode()
    assert (
        page.index(">dee</a>")
        < page.index(">cy</a>")
        < page.index(">ben</a>")
        < page.index(">ana</a>")
    )
    assert 'aria-sort="ascending"' in page
    # Ties keep name order; unknown sort keys fall back to the name.
    page = instructor_client.get(
        url, {"sort": "what-is-virtualization", "dir": "desc"}
    ).content.decode()
    assert (
        page.index(">ana</a>")
        < page.index(">ben</a>")
        < page.index(">cy</a>")
        < page.index(">dee</a>")
    )
    assert instructor_client.get(url, {"sort": "'; drop", "dir": "sideways"}).status_code == 200


def test_csv_has_one_row_per_student_and_the_pages_columns(instructor_client, seeded):
    classroom, students = seeded
    _runs(students)
    response = instructor_client.get(reverse("courseware:gradebook_csv", args=[classroom.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="gradebook-seeded-class.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    lessons = list(Lesson.objects.published().in_outline_order())
    labs = labs_required_by(lessons)
    exercises = list(Exercise.objects.active().filter(lesson__in=lessons))
    exercises.sort(key=lambda e: ([lesson.pk for lesson in lessons].index(e.lesson_id), e.order))
    assert rows[0] == csv_columns(lessons, labs, exercises)
    # The page's order: totals first, three columns per lesson, the runs of each lab.
    assert rows[0][:8] == [
        "username",
        "overall score",
        "lessons mastered",
        "labs run",
        "exam best score",
        f"{lessons[0].slug} progress",
        f"{lessons[0].slug} score",
        f"{lessons[0].slug} mastered",
    ]
    # then the runs of each lab, the steps done of each guided exercise (by its title),
    # then the class's assignments by state.
    labs_at = 5 + 3 * len(lessons)
    assert rows[0][labs_at : labs_at + len(labs)] == [f"{lab.slug} runs" for lab in labs]
    assert rows[0][labs_at + len(labs) : -4] == [f"{e.title} (steps done)" for e in exercises]
    assert rows[0][-4:] == ASSIGNMENT_COLUMNS
    assert len(rows[0]) == 5 + 3 * len(lessons) + len(labs) + len(exercises) + 4
    assert [row[0] for row in rows[1:]] == ["ana", "ben", "cy", "dee"]
    header = rows[0]
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_name["ana"]["hypervisor-types progress"] == "done"
    assert by_name["ana"]["hypervisor-types score"] == f"{HYPERVISOR['ana']:.3f}"
    assert by_name["ana"]["hypervisor-types mastered"] == "yes"
    assert by_name["ben"]["hypervisor-types score"] == f"{HYPERVISOR['ben']:.3f}"
    assert by_name["ben"]["hypervisor-types mastered"] == "no"
    assert by_name["cy"]["hypervisor-types progress"] == "not_started"
    assert by_name["dee"]["what-is-virtualization score"] == f"{BASICS:.3f}"
    assert by_name["ana"]["overall score"] == f"{OVERALL['ana']:.3f}"
    assert by_name["ben"]["overall score"] == f"{OVERALL['ben']:.3f}"
    assert by_name["ana"]["lessons mastered"] == "1" and by_name["dee"]["lessons mastered"] == "0"
    assert (by_name["ana"]["boot-race runs"], by_name["ana"]["emulation runs"]) == ("2", "1")
    assert by_name["ana"]["labs run"] == "2" and by_name["ben"]["labs run"] == "1"
    assert by_name["cy"]["boot-race runs"] == "0" and by_name["cy"]["labs run"] == "0"


def _runs(students):
    """ana: boot-race twice, emulation once; ben: emulation once (and a failed
    boot-race); cy: only a failed run; someone outside the class ran boot-race too."""
    from django.contrib.auth import get_user_model

    done, failed = LabRun.Status.SUCCEEDED, LabRun.Status.FAILED
    outsider = get_user_model().objects.create_user("runner", password="not-used-1234")
    for user, lab, status in [
        (students["ana"], "boot-race", done),
        (students["ana"], "boot-race", done),
        (students["ana"], "emulation", done),
        (students["ben"], "emulation", done),
        (students["ben"], "boot-race", failed),
        (students["cy"], "boot-race", failed),
        (outsider, "boot-race", done),
    ]:
        LabRun.objects.create(user=user, lab=lab, status=status)


def test_labs_the_lessons_link_to_in_the_order_they_are_named(seeded):
    lessons = list(Lesson.objects.published().in_outline_order())
    labs = labs_required_by(lessons)
    named = [slug for lesson in lessons for slug in lesson.labs if get_lab(slug)]
    assert [lab.slug for lab in labs] == list(dict.fromkeys(named))
    assert labs[0].title == get_lab(labs[0].slug).title
    assert len(labs) >= 2  # the shipped course links several labs


def test_gradebook_counts_lab_runs_of_the_required_labs(seeded):
    classroom, students = seeded
    _runs(students)
    book = build_gradebook(classroom)
    by_name = {row.student.username: row for row in book.rows}
    ana = {cell.lab.slug: cell.runs for cell in by_name["ana"].labs}
    assert (ana["boot-race"], ana["emulation"]) == (2, 1)
    assert sum(ana.values()) == 3 and by_name["ana"].labs_done == 2
    assert by_name["ben"].labs_done == 1  # a failed run is not a run done
    assert by_name["cy"].labs_done == 0 and by_name["dee"].labs_done == 0
    book = build_gradebook(classroom, sort="labs", direction="desc")
    assert [row.student.username for row in book.rows] == ["ana", "ben", "cy", "dee"]
    book = build_gradebook(classroom, sort="lab-emulation", direction="desc")
    assert [row.student.username for row in book.rows][:2] == ["ana", "ben"]


def test_gradebook_page_puts_totals_first_and_lessons_in_compact_columns(instructor_client, seeded):
    classroom, students = seeded
    _runs(students)
    page = instructor_client.get(classroom.get_absolute_url()).content.decode()
    head = page.split("<thead>")[1].split("</thead>")[0]
    keys = re.findall(r'href="\?sort=([^&]+)&amp;', head)
    lessons = list(Lesson.objects.published().in_outline_order())
    labs = labs_required_by(lessons)
    assert keys == [
        "student",
        "overall",
        "mastered",
        "labs",
        "exercises",
        "exam",
        "assignments",
        *(lesson.slug for lesson in lessons),
        *(f"lab-{lab.slug}" for lab in labs),
    ]
    # A long title is shortened, the full one its tooltip; a short one is left alone.
    long = next(lesson for lesson in lessons if len(lesson.title) > 24)
    th = head.split(f"?sort={long.slug}&amp;")[1].split("</th>")[0]
    assert f'<abbr title="{long.title}">' in th and "…</abbr>" in th
    th = head.split("?sort=hypervisor-types&amp;")[1].split("</th>")[0]
    assert ">Hypervisor types</a>" in th and "<abbr" not in th
    # No empty heading anywhere.
    assert not re.search(r"<th[^>]*>\s*</th>", page)
    row = page.split('data-student="ana"')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="([^"]+)"[^>]*>(.*?)</td>', row, re.S)
    assert cells[0] == ("num total-col overall", percent(OVERALL["ana"]))
    assert cells[1][1].startswith("1 <span")  # one lesson mastered
    assert cells[2][1].startswith("2 <span")  # two labs run
    steps = ExerciseStep.objects.filter(retired=False, exercise__in=Exercise.objects.active())
    assert cells[3] == (
        "num total-col steps-done",
        f'0 <span class="of">of {steps.count()} steps</span>',
    )
    hyper = re.search(r'data-lesson="hypervisor-types">(.*?)</td>', row, re.S).group(1)
    assert percent(HYPERVISOR["ana"]) in hyper and "mastered" in hyper and ">Done<" in hyper
    assert '<td class="num lab-col" data-lab="boot-race">2</td>' in row
    # The table scrolls inside its own labelled, focusable region.
    assert 'class="table-scroll card-scroll gradebook-scroll" role="region"' in page


def test_csv_neutralises_spreadsheet_formulas(instructor_client, seeded):
    from django.contrib.auth import get_user_model

    from courseware.models import Membership

    classroom, _ = seeded
    sneaky = get_user_model().objects.create_user("=cmd", password="not-used-1234")
    Membership.objects.create(classroom=classroom, user=sneaky)
    text = instructor_client.get(
        reverse("courseware:gradebook_csv", args=[classroom.pk])
    ).content.decode()
    assert "\n'=cmd," in text


def test_empty_class_gradebook(instructor_client, instructor, course):
    from courseware.classes.services import class_create

    classroom = class_create(instructor=instructor, name="Empty")
    page = instructor_client.get(classroom.get_absolute_url()).content.decode()
    assert "No students yet" in page and classroom.display_code in page
    text = instructor_client.get(
        reverse("courseware:gradebook_csv", args=[classroom.pk])
    ).content.decode()
    assert text.count("\n") == 1
