"""A class's gradebook: students × lessons with progress, quiz score and mastery."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from ..models import Classroom, Lesson, LessonProgress
from ..quizzes.scores import LessonQuizScore, lesson_scores, overall_score

SORT_DIRECTIONS = ("asc", "desc")


@dataclass
class Cell:
    lesson: Lesson
    state: str
    quiz: LessonQuizScore | None  # None: the lesson has no quiz

    @property
    def state_label(self) -> str:
        return LessonProgress.State(self.state).label


@dataclass
class Row:
    student: object
    cells: list[Cell]
    overall: float | None

    @property
    def mastered(self) -> int:
        return sum(1 for c in self.cells if c.quiz and c.quiz.mastered)

    @property
    def overall_percent(self) -> int | None:
        return None if self.overall is None else round(self.overall * 100)


@dataclass
class Gradebook:
    classroom: Classroom
    lessons: list[Lesson]
    rows: list[Row]
    sort: str = "student"
    direction: str = "asc"
    sort_keys: list[str] = field(default_factory=list)


def _sort_value(row: Row, sort: str, lesson_index: dict[str, int]):
    if sort == "overall":
        return -1.0 if row.overall is None else row.overall
    if sort == "mastered":
        return row.mastered
    if sort in lesson_index:
        cell = row.cells[lesson_index[sort]]
        return -1.0 if cell.quiz is None else cell.quiz.score
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
    rows = []
    for student in students:
        cells = [
            Cell(
                lesson=lesson,
                state=states.get((student.pk, lesson.pk), LessonProgress.State.NOT_STARTED),
                quiz=scores.get((student.pk, lesson.pk)),
            )
            for lesson in lessons
        ]
        rows.append(Row(student, cells, overall_score(c.quiz for c in cells if c.quiz)))
    lesson_index = {lesson.slug: i for i, lesson in enumerate(lessons)}
    sort_keys = ["student", "overall", "mastered", *lesson_index]
    if sort not in sort_keys:
        sort = "student"
    if direction not in SORT_DIRECTIONS:
        direction = "asc"
    rows.sort(key=lambda r: r.student.username.casefold())  # ties stay in name order
    rows.sort(key=lambda r: _sort_value(r, sort, lesson_index), reverse=direction == "desc")
    return Gradebook(classroom, lessons, rows, sort, direction, sort_keys)


def csv_columns(lessons: list[Lesson]) -> list[str]:
    """Stable columns: the student, three per lesson in outline order, then totals."""
    columns = ["username"]
    for lesson in lessons:
        columns += [f"{lesson.slug} progress", f"{lesson.slug} score", f"{lesson.slug} mastered"]
    return [*columns, "overall score", "lessons mastered"]


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ would be run as a formula by spreadsheet programs.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def gradebook_csv_text(gradebook: Gradebook) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns(gradebook.lessons))
    for row in sorted(gradebook.rows, key=lambda r: r.student.username.casefold()):
        values = [_safe_cell(row.student.username)]
        for cell in row.cells:
            values += [
                cell.state,
                _score(cell.quiz.score) if cell.quiz else "",
                ("yes" if cell.quiz.mastered else "no") if cell.quiz else "",
            ]
        values += [_score(row.overall), str(row.mastered)]
        writer.writerow(values)
    return buffer.getvalue()
