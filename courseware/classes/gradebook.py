"""A class's gradebook: one row per student with the overall score and lessons
mastered first, then each lesson (progress, quiz score, mastery) and the labs the
lessons link to (runs done of each).

The labs are the ones named in the lessons' front matter (``labs:``), read through
``quizzes/predictions.py``, the one place courseware meets labs (docs/architecture.md,
"Layering"). The CSV has the same columns in the same order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, F

from ..exercises import step_totals, steps_done
from ..models import Attempt, Classroom, Exercise, Lesson, LessonProgress
from ..quizzes.exam import ExamResult, best_results
from ..quizzes.predictions import RequiredLab, lab_runs_done, labs_required_by
from ..quizzes.scores import LessonQuizScore, lesson_scores, overall_score
from .answers import shorten
from .assignments import Tally, assignment_tallies

SORT_DIRECTIONS = ("asc", "desc")
SHORT_TITLE = 24  # characters of a lesson's title in its column heading
LAB_SORT_PREFIX = "lab-"


@dataclass
class Cell:
    lesson: Lesson
    state: str
    quiz: LessonQuizScore | None  # None: the lesson has no quiz
    steps_done: int = 0  # guided exercise steps done in this lesson…
    steps: int = 0  # …of this many (0: the lesson has no exercises)

    @property
    def state_label(self) -> str:
        return LessonProgress.State(self.state).label


@dataclass
class LabCell:
    lab: RequiredLab
    runs: int  # succeeded runs


@dataclass
class ExerciseCell:
    exercise: Exercise
    done: int  # steps done
    steps: int


@dataclass
class Row:
    student: object
    cells: list[Cell]
    overall: float | None
    labs: list[LabCell] = field(default_factory=list)
    exam: ExamResult | None = None  # the best finished sitting of the course exam
    # The class's assignments by state (classes/assignments.py).
    assignments: Tally = field(default_factory=Tally)
    exercises: list[ExerciseCell] = field(default_factory=list)

    @property
    def steps_done(self) -> int:
        """Guided exercise steps done, over every exercise of the course."""
        return sum(cell.done for cell in self.exercises)

    @property
    def exam_percent(self) -> int | None:
        return None if self.exam is None else round(self.exam.score * 100)

    @property
    def mastered(self) -> int:
        return sum(1 for c in self.cells if c.quiz and c.quiz.mastered)

    @property
    def overall_percent(self) -> int | None:
        return None if self.overall is None else round(self.overall * 100)

    @property
    def labs_done(self) -> int:
        """Required labs with at least one successful run."""
        return sum(1 for cell in self.labs if cell.runs)


@dataclass
class Column:
    """A lesson's or a lab's column heading: its sort key and a short title, with the
    full title as a tooltip when it had to be shortened."""

    key: str
    title: str
    lesson: Lesson | None = None

    @property
    def short(self) -> str:
        return shorten(self.title, SHORT_TITLE)

    @property
    def tooltip(self) -> str:
        return self.title if self.short != self.title else ""


@dataclass
class ChangedQuiz:
    """A lesson whose quiz questions were edited after this class answered them: the
    answers keep the version (content hash) they were given to, and their scores."""

    lesson: Lesson
    questions: int  # questions changed since
    answers: int  # this class's answers to their earlier versions


@dataclass
class Gradebook:
    classroom: Classroom
    lessons: list[Lesson]
    rows: list[Row]
    sort: str = "student"
    direction: str = "asc"
    sort_keys: list[str] = field(default_factory=list)
    labs: list[RequiredLab] = field(default_factory=list)
    changed: list[ChangedQuiz] = field(default_factory=list)
    exercises: list[Exercise] = field(default_factory=list)
    steps: int = 0  # guided exercise steps in the course

    @property
    def columns(self) -> list[Column]:
        return [Column(lesson.slug, lesson.title, lesson) for lesson in self.lessons]

    @property
    def lab_columns(self) -> list[Column]:
        return [Column(f"{LAB_SORT_PREFIX}{lab.slug}", lab.title) for lab in self.labs]

    @property
    def lesson_count(self) -> int:
        return len(self.lessons)


def _sort_value(row: Row, sort: str, lesson_index: dict[str, int], lab_index: dict[str, int]):
    if sort == "overall":
        return -1.0 if row.overall is None else row.overall
    if sort == "mastered":
        return row.mastered
    if sort == "labs":
        return row.labs_done
    if sort == "exercises":
        return row.steps_done
    if sort == "assignments":
        # Most missing first when descending is what a teacher looks for: sort by
        # missing work, then late work.
        return (row.assignments.missing, row.assignments.late)
    if sort == "exam":
        return -1.0 if row.exam is None else row.exam.score
    if sort in lesson_index:
        cell = row.cells[lesson_index[sort]]
        return -1.0 if cell.quiz is None else cell.quiz.score
    if sort in lab_index:
        return row.labs[lab_index[sort]].runs
    return row.student.username.casefold()


def build_gradebook(
    classroom: Classroom, *, sort: str = "student", direction: str = "asc"
) -> Gradebook:
    lessons = list(Lesson.objects.published().in_outline_order())
    students = list(
        get_user_model().objects.filter(class_memberships__classroom=classroom).order_by("username")
    )
    user_ids = [s.pk for s in students]
    lesson_ids = [lesson.pk for lesson in lessons]
    states = {
        (user_id, lesson_id): state
        for user_id, lesson_id, state in LessonProgress.objects.filter(
            user_id__in=user_ids, lesson_id__in=lesson_ids
        ).values_list("user_id", "lesson_id", "state")
    }
    scores = lesson_scores(user_ids, lesson_ids)
    labs = labs_required_by(lessons)
    runs = lab_runs_done(user_ids, [lab.slug for lab in labs])
    exams = best_results(user_ids)
    order = {lesson.pk: i for i, lesson in enumerate(lessons)}
    exercises = sorted(
        Exercise.objects.active().filter(lesson__in=lessons),
        key=lambda e: (order[e.lesson_id], e.order, e.slug),
    )
    totals, done = step_totals(exercises), steps_done(user_ids, exercises)
    rows = []
    for student in students:
        exercise_cells = [
            ExerciseCell(e, done.get((student.pk, e.pk), 0), totals.get(e.pk, 0)) for e in exercises
        ]
        cells = [
            Cell(
                lesson=lesson,
                state=states.get((student.pk, lesson.pk), LessonProgress.State.NOT_STARTED),
                quiz=scores.get((student.pk, lesson.pk)),
                steps_done=sum(c.done for c in exercise_cells if c.exercise.lesson_id == lesson.pk),
                steps=sum(c.steps for c in exercise_cells if c.exercise.lesson_id == lesson.pk),
            )
            for lesson in lessons
        ]
        lab_cells = [LabCell(lab, runs.get((student.pk, lab.slug), 0)) for lab in labs]
        overall = overall_score(c.quiz for c in cells if c.quiz)
        row = Row(student, cells, overall, lab_cells, exams.get(student.pk))
        row.exercises = exercise_cells
        rows.append(row)
    tallies = assignment_tallies(classroom, user_ids)
    for row in rows:
        row.assignments = tallies[row.student.pk]
    lesson_index = {lesson.slug: i for i, lesson in enumerate(lessons)}
    lab_index = {f"{LAB_SORT_PREFIX}{lab.slug}": i for i, lab in enumerate(labs)}
    sort_keys = ["student", "overall", "mastered", "labs", "exercises", "exam", "assignments"]
    sort_keys += [*lesson_index, *lab_index]
    if sort not in sort_keys:
        sort = "student"
    if direction not in SORT_DIRECTIONS:
        direction = "asc"
    rows.sort(key=lambda r: r.student.username.casefold())  # ties stay in name order
    rows.sort(
        key=lambda r: _sort_value(r, sort, lesson_index, lab_index), reverse=direction == "desc"
    )
    changed = changed_after_answers(user_ids, lessons)
    return Gradebook(
        classroom,
        lessons,
        rows,
        sort,
        direction,
        sort_keys,
        labs,
        changed,
        exercises,
        sum(totals.values()),
    )


def changed_after_answers(user_ids: list[int], lessons: list[Lesson]) -> list[ChangedQuiz]:
    """Lessons whose questions changed after these students had answered them."""
    stale = (
        Attempt.objects.filter(user_id__in=user_ids, question__quiz__lesson__in=lessons)
        .exclude(content_hash=F("question__content_hash"))
        .values("question__quiz__lesson_id")
        .annotate(questions=Count("question_id", distinct=True), answers=Count("id"))
    )
    counts = {row["question__quiz__lesson_id"]: row for row in stale}
    return [
        ChangedQuiz(lesson, counts[lesson.pk]["questions"], counts[lesson.pk]["answers"])
        for lesson in lessons
        if lesson.pk in counts
    ]


ASSIGNMENT_COLUMNS = [
    "assignments done",
    "assignments late",
    "assignments missing",
    "required missing",
]


def csv_columns(
    lessons: list[Lesson],
    labs: list[RequiredLab] | None = None,
    exercises: list[Exercise] | None = None,
) -> list[str]:
    """The page's columns in its order: the student, the totals, three per lesson in
    outline order, then the runs done of each lab the lessons link to, then the steps
    done of each guided exercise (named by its title, as instructors know it), then
    the class's assignments done on time, done late, missing, and missing that were
    required."""
    columns = ["username", "overall score", "lessons mastered", "labs run", "exam best score"]
    for lesson in lessons:
        columns += [f"{lesson.slug} progress", f"{lesson.slug} score", f"{lesson.slug} mastered"]
    return [
        *columns,
        *(f"{lab.slug} runs" for lab in labs or []),
        *(f"{_safe_cell(exercise.title)} (steps done)" for exercise in exercises or []),
        *ASSIGNMENT_COLUMNS,
    ]


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ would be run as a formula by spreadsheet programs.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def gradebook_csv_text(gradebook: Gradebook) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns(gradebook.lessons, gradebook.labs, gradebook.exercises))
    for row in sorted(gradebook.rows, key=lambda r: r.student.username.casefold()):
        values = [
            _safe_cell(row.student.username),
            _score(row.overall),
            str(row.mastered),
            str(row.labs_done),
            _score(row.exam.score) if row.exam else "",
        ]
        for cell in row.cells:
            values += [
                cell.state,
                _score(cell.quiz.score) if cell.quiz else "",
                ("yes" if cell.quiz.mastered else "no") if cell.quiz else "",
            ]
        values += [str(cell.runs) for cell in row.labs]
        values += [str(cell.done) for cell in row.exercises]
        tally = row.assignments
        values += [str(n) for n in (tally.done, tally.late, tally.missing, tally.missing_required)]
        writer.writerow(values)
    return buffer.getvalue()
