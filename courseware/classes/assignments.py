"""Assignments: work a class is given with a due time, and where each student stands.

What "done" means, per kind (the assignments page says the same to instructors):

- a **lesson**: the student marked it done on the lesson page; done at
  ``LessonProgress.completed_at``;
- a **quiz**: the lesson's quiz is mastered (its score reaches
  ``VIRTLAB_MASTERY_THRESHOLD``, the gradebook's ✓); done at the attempt (or, for a
  prediction, the run that measured it) that first brought the score there;
- a **lab**: at least one successful run; done when the first one finished (read
  through ``quizzes/predictions.py``, the one place courseware meets labs).

Work done after its due time is *late*; work not done once the due time has passed is
*missing*; before that it is *open*. A lesson hidden from students (unpublished or in
the trash) or a lab no longer in the catalogue is left out of every list and count.

Due times are stored in UTC. An instructor enters and reads them in their own time zone
(``InstructorSettings``, default ``settings.TIME_ZONE``); students read them in the
class's time zone, the one of the instructor who created the class, with its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from ..models import Assignment, Classroom, InstructorSettings, Lesson, LessonProgress
from ..quizzes.predictions import (
    lab_choices,
    lab_first_success,
    measurement_of,
    measurements_for,
    prediction_time,
)
from ..quizzes.scores import (
    active_questions_by_lesson,
    attempts_by_user_question,
    lesson_score,
    mastery_threshold,
    question_result,
)

DONE, LATE, MISSING, OPEN = "done", "late", "missing", "open"
STATE_LABELS = {DONE: "Done", LATE: "Done late", MISSING: "Missing", OPEN: "Open"}

DONE_MEANS = {
    Assignment.Kind.LESSON: "the student marked the lesson done",
    Assignment.Kind.QUIZ: "the lesson's quiz is mastered (the gradebook's ✓)",
    Assignment.Kind.LAB: "at least one successful run of the lab",
}


# --- Time zones ---------------------------------------------------------------------------


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: once per process


def zone_names() -> list[str]:
    return sorted(_zones())


def zone_name_of(user) -> str:
    """The time zone an instructor enters and reads due times in."""
    row = InstructorSettings.objects.filter(user=user).only("time_zone").first()
    name = row.time_zone if row else ""
    return name if name in _zones() else settings.TIME_ZONE


def set_zone_name(user, name: str) -> None:
    if name not in _zones():
        raise ValueError(f"{name!r} is not a time zone")
    InstructorSettings.objects.update_or_create(user=user, defaults={"time_zone": name})


def class_zone_name(classroom: Classroom) -> str:
    """The class's time zone: its creating instructor's (the first one added)."""
    through = Classroom.instructors.through
    first = through.objects.filter(classroom=classroom).order_by("pk").first()
    return zone_name_of(first.user) if first else settings.TIME_ZONE


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def format_moment(moment: datetime, zone: str) -> str:
    """``Tue 8 Dec 2026, 17:00 (Europe/Paris)``: a time as a person reads it, zone named."""
    at = local(moment, zone)
    return f"{at:%a} {at.day} {at:%b %Y, %H:%M} ({zone})"


def aware_in_zone(naive: datetime, zone: str) -> datetime | None:
    """A wall-clock time in ``zone`` as an aware datetime; None when that time does not
    exist there (skipped when the clocks go forward)."""
    tz = ZoneInfo(zone)
    aware = naive.replace(tzinfo=tz)
    round_trip = aware.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != naive:
        return None
    return aware


# --- What can be assigned ----------------------------------------------------------------


def assignable_lessons() -> list[Lesson]:
    return list(Lesson.objects.published().in_outline_order())


def work_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The course's lessons, quizzes and labs, grouped, as ``kind:slug`` values."""
    lessons = assignable_lessons()
    with_quiz = set(active_questions_by_lesson([lesson.pk for lesson in lessons]))
    return [
        ("Read a lesson", [(f"lesson:{les.slug}", les.title) for les in lessons]),
        (
            "Master a lesson's quiz",
            [(f"quiz:{les.slug}", f"Quiz: {les.title}") for les in lessons if les.pk in with_quiz],
        ),
        ("Run a lab", [(f"lab:{slug}", f"Lab: {title}") for slug, title in lab_choices()]),
    ]


def work_value(assignment: Assignment) -> str:
    if assignment.kind == Assignment.Kind.LAB:
        return f"lab:{assignment.lab}"
    return f"{assignment.kind}:{assignment.lesson.slug}"


def lab_titles() -> dict[str, str]:
    return dict(lab_choices())


def available(assignment: Assignment, labs: dict[str, str]) -> bool:
    """Whether students can do it: its lesson is shown to them, or its lab exists."""
    if assignment.kind == Assignment.Kind.LAB:
        return assignment.lab in labs
    lesson = assignment.lesson
    return lesson is not None and lesson.published and lesson.trashed_at is None


def title_of(assignment: Assignment, labs: dict[str, str]) -> str:
    if assignment.kind == Assignment.Kind.LAB:
        return f"Lab: {labs.get(assignment.lab, assignment.lab)}"
    if assignment.kind == Assignment.Kind.QUIZ:
        return f"Quiz: {assignment.lesson.title}"
    return f"Read: {assignment.lesson.title}"


def url_of(assignment: Assignment) -> str:
    if assignment.kind == Assignment.Kind.LAB:
        return reverse("labs:detail", args=[assignment.lab])
    if assignment.kind == Assignment.Kind.QUIZ:
        return reverse("courseware:quiz", args=[assignment.lesson.slug])
    return assignment.lesson.get_absolute_url()


# --- When work was done ------------------------------------------------------------------


def quiz_mastered_at(
    user_ids: Iterable[int], lesson_ids: Iterable[int]
) -> dict[tuple[int, int], datetime]:
    """(user id, lesson id) → when the student's quiz score first reached mastery, by
    replaying their attempts (and the runs that measured their predictions) in order.
    Pairs never mastered are absent."""
    user_ids = list(user_ids)
    by_lesson = active_questions_by_lesson(lesson_ids)
    questions = [q for qs in by_lesson.values() for q in qs]
    if not user_ids or not questions:
        return {}
    attempts = attempts_by_user_question(user_ids, questions)
    found = measurements_for(user_ids, questions)
    threshold = mastery_threshold() - 1e-9
    mastered: dict[tuple[int, int], datetime] = {}
    for user_id in user_ids:
        for lesson_id, lesson_questions in by_lesson.items():
            mine = {q.pk: attempts.get((user_id, q.pk), []) for q in lesson_questions}
            measured = {
                q.pk: measurement_of(q, user_id, found, predicted_at=prediction_time(mine[q.pk]))
                for q in lesson_questions
            }
            moments = sorted(
                {a.created_at for tries in mine.values() for a in tries}
                | {m.created_at for m in measured.values() if m is not None}
            )
            for moment in moments:
                results = [
                    question_result(
                        q,
                        [a for a in mine[q.pk] if a.created_at <= moment],
                        m if (m := measured[q.pk]) and m.created_at <= moment else None,
                    )
                    for q in lesson_questions
                ]
                if lesson_score(results) >= threshold:
                    mastered[(user_id, lesson_id)] = moment
                    break
    return mastered


def completion_times(
    assignments: list[Assignment], user_ids: Iterable[int]
) -> dict[tuple[int, int], datetime]:
    """(assignment id, user id) → when the student did that work (absent: not done)."""
    user_ids = list(user_ids)
    by_kind: dict[str, list[Assignment]] = {}
    for assignment in assignments:
        by_kind.setdefault(assignment.kind, []).append(assignment)
    done: dict[tuple[int, int], datetime] = {}
    if read := by_kind.get(Assignment.Kind.LESSON):
        completed = {
            (user_id, lesson_id): at
            for user_id, lesson_id, at in LessonProgress.objects.filter(
                user_id__in=user_ids,
                lesson_id__in={a.lesson_id for a in read},
                state=LessonProgress.State.DONE,
                completed_at__isnull=False,
            ).values_list("user_id", "lesson_id", "completed_at")
        }
        for assignment in read:
            for user_id in user_ids:
                if at := completed.get((user_id, assignment.lesson_id)):
                    done[(assignment.pk, user_id)] = at
    if quizzes := by_kind.get(Assignment.Kind.QUIZ):
        mastered = quiz_mastered_at(user_ids, {a.lesson_id for a in quizzes})
        for assignment in quizzes:
            for user_id in user_ids:
                if at := mastered.get((user_id, assignment.lesson_id)):
                    done[(assignment.pk, user_id)] = at
    if labs := by_kind.get(Assignment.Kind.LAB):
        first = lab_first_success(user_ids, {a.lab for a in labs})
        for assignment in labs:
            for user_id in user_ids:
                if at := first.get((user_id, assignment.lab)):
                    done[(assignment.pk, user_id)] = at
    return done


def state_of(due_at: datetime, done_at: datetime | None, now: datetime) -> str:
    if done_at is not None:
        return DONE if done_at <= due_at else LATE
    return MISSING if now > due_at else OPEN


def days_left(due_at: datetime, now: datetime, zone: str) -> int:
    """Calendar days from today to the due day, in ``zone``."""
    return (local(due_at, zone).date() - local(now, zone).date()).days


def status_text(state: str, due_at: datetime, now: datetime, zone: str) -> str:
    if state != OPEN:
        return STATE_LABELS[state]
    days = days_left(due_at, now, zone)
    if days <= 0:
        return f"Due today at {local(due_at, zone):%H:%M}"
    if days == 1:
        return "Due tomorrow"
    return f"Due in {days} days"


# --- The lists and counts the pages show -----------------------------------------------------


@dataclass
class Tally:
    """One student's assigned work in a class, counted by state."""

    total: int = 0
    done: int = 0
    late: int = 0
    missing: int = 0
    missing_required: int = 0

    @property
    def open(self) -> int:
        return self.total - self.done - self.late - self.missing


def class_assignments(classroom: Classroom) -> list[Assignment]:
    """The class's assignments students can do, soonest due first."""
    labs = lab_titles()
    found = classroom.assignments.select_related("lesson").order_by("due_at", "pk")
    return [a for a in found if available(a, labs)]


def assignment_tallies(
    classroom: Classroom, user_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, Tally]:
    """user id → their tally of the class's assignments (for the gradebook)."""
    now = now or timezone.now()
    user_ids = list(user_ids)
    assignments = class_assignments(classroom)
    done = completion_times(assignments, user_ids)
    tallies = {user_id: Tally(total=len(assignments)) for user_id in user_ids}
    for assignment in assignments:
        for user_id in user_ids:
            state = state_of(assignment.due_at, done.get((assignment.pk, user_id)), now)
            tally = tallies[user_id]
            if state == DONE:
                tally.done += 1
            elif state == LATE:
                tally.late += 1
            elif state == MISSING:
                tally.missing += 1
                tally.missing_required += assignment.required
    return tallies


@dataclass
class DueItem:
    """One assignment as a student's "Due" list shows it."""

    assignment: Assignment
    classroom: Classroom
    title: str
    url: str
    state: str
    status: str  # "Done", "Done late", "Due in 3 days", "Missing"
    due_text: str  # in the class's time zone, named
    done_at: datetime | None


def due_for_student(user, *, now: datetime | None = None) -> list[DueItem]:
    """Every assignment of the classes the student is in, soonest due first."""
    if not user.is_authenticated:
        return []
    now = now or timezone.now()
    labs = lab_titles()
    items = []
    for classroom in Classroom.objects.joined_by(user):
        zone = class_zone_name(classroom)
        assignments = class_assignments(classroom)
        done = completion_times(assignments, [user.pk])
        for assignment in assignments:
            done_at = done.get((assignment.pk, user.pk))
            state = state_of(assignment.due_at, done_at, now)
            items.append(
                DueItem(
                    assignment=assignment,
                    classroom=classroom,
                    title=title_of(assignment, labs),
                    url=url_of(assignment),
                    state=state,
                    status=status_text(state, assignment.due_at, now, zone),
                    due_text=format_moment(assignment.due_at, zone),
                    done_at=done_at,
                )
            )
    items.sort(key=lambda item: (item.assignment.due_at, item.assignment.pk))
    return items


@dataclass
class AssignmentRow:
    """One assignment as the instructor's list shows it."""

    assignment: Assignment
    title: str
    url: str
    due_text: str  # in the instructor's own time zone
    available: bool
    done: int
    late: int
    missing: int
    open: int


def instructor_rows(
    classroom: Classroom, zone: str, *, now: datetime | None = None
) -> list[AssignmentRow]:
    """The class's assignments (hidden ones too, marked), with how many students are
    in each state, due times in the instructor's zone."""
    now = now or timezone.now()
    labs = lab_titles()
    assignments = list(classroom.assignments.select_related("lesson").order_by("due_at", "pk"))
    user_ids = list(classroom.memberships.values_list("user_id", flat=True))
    done = completion_times(assignments, user_ids)
    rows = []
    for assignment in assignments:
        counts = {DONE: 0, LATE: 0, MISSING: 0, OPEN: 0}
        for user_id in user_ids:
            counts[state_of(assignment.due_at, done.get((assignment.pk, user_id)), now)] += 1
        rows.append(
            AssignmentRow(
                assignment=assignment,
                title=title_of(assignment, labs),
                url=url_of(assignment),
                due_text=format_moment(assignment.due_at, zone),
                available=available(assignment, labs),
                done=counts[DONE],
                late=counts[LATE],
                missing=counts[MISSING],
                open=counts[OPEN],
            )
        )
    return rows
