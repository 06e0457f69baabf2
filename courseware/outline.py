"""The course outline with one student's state per lesson (read-only helpers)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import connection
from django.http import Http404

from virtlab.prepared import Param, Prepared
from virtlab.roles import is_instructor

from .models import Course, Lesson, LessonProgress, Module
from .quizzes.scores import LessonQuizScore, overall_score, student_lesson_scores


@dataclass
class OutlineLesson:
    lesson: Lesson
    state: str  # a LessonProgress.State value
    quiz: LessonQuizScore | None = None  # the student's quiz score, if there is a quiz

    @property
    def state_label(self) -> str:
        return LessonProgress.State(self.state).label


@dataclass
class OutlineModule:
    title: str
    lessons: list[OutlineLesson]


def published_lessons() -> list[Lesson]:
    return list(Lesson.objects.published().in_outline_order())


def build_outline(user) -> tuple[Course | None, list[OutlineModule], Lesson | None]:
    """Modules with lesson states, and the lesson to continue with (or None)."""
    lessons = published_lessons()
    states = LessonProgress.objects.states_by_lesson(user)
    scores = (
        student_lesson_scores(user.pk, [lesson.pk for lesson in lessons])
        if user.is_authenticated
        else {}
    )
    modules: list[OutlineModule] = []
    for lesson in lessons:
        if not modules or modules[-1].title != lesson.module.title:
            modules.append(OutlineModule(lesson.module.title, []))
        state = states.get(lesson.pk, LessonProgress.State.NOT_STARTED)
        modules[-1].lessons.append(OutlineLesson(lesson, state, scores.get(lesson.pk)))
    course = lessons[0].module.course if lessons else Course.objects.first()
    return course, modules, continue_lesson(user, lessons, states)


def course_score(modules: list[OutlineModule]) -> float | None:
    """The student's overall quiz score: the mean over lessons that have a quiz."""
    return overall_score(item.quiz for module in modules for item in module.lessons if item.quiz)


def continue_lesson(user, lessons: list[Lesson], states: dict[int, str]) -> Lesson | None:
    """Where the student was: the lesson opened last if it is not done; if it is done,
    the next lesson after it that is not done (then the first one not done at all)."""
    if not user.is_authenticated or not states:
        return None
    recent = (
        LessonProgress.objects.for_user(user)
        .filter(lesson__published=True)
        .select_related("lesson")
        .order_by("-last_opened_at", "-pk")
        .first()
    )
    if recent is None:
        return None
    if recent.state != LessonProgress.State.DONE:
        return recent.lesson
    ids = [lesson.pk for lesson in lessons]
    start = ids.index(recent.lesson_id) + 1 if recent.lesson_id in ids else 0
    after = lessons[start:] + lessons[:start]
    return next((lesson for lesson in after if states.get(lesson.pk) != "done"), None)


PAGER_FIELDS = ("id", "slug", "title")


@cache
def _outline_sql() -> tuple[str, tuple]:
    """The published lessons in outline order (what the pager needs of them), as SQL:
    the ORM builds the same query every time, so it is built once per process and only
    run on each page (in a tenth of the time the ORM takes for it)."""
    lessons = Lesson.objects.published().in_outline_order().values_list(*PAGER_FIELDS)
    return lessons.query.sql_with_params()


def neighbours(lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """The published lessons before and after ``lesson`` in the outline, with only what
    the pager shows (title, link) loaded."""
    sql, params = _outline_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    ids = [row[0] for row in rows]
    if lesson.pk not in ids:
        return None, None
    index = ids.index(lesson.pk)

    def row_at(at: int) -> Lesson | None:
        if not 0 <= at < len(rows):
            return None
        return Lesson.from_db(connection.alias, PAGER_FIELDS, rows[at])

    return row_at(index - 1), row_at(index + 1)


_LESSON_FIELDS = [f.attname for f in Lesson._meta.concrete_fields]
_MODULE_FIELDS = [f.attname for f in Module._meta.concrete_fields]


def _lesson_query(drafts: bool):
    lessons = Lesson.objects.all() if drafts else Lesson.objects.published()
    return (
        lessons.filter(slug=Param("slug"))
        .order_by()
        .values_list(*_LESSON_FIELDS, *(f"module__{f.name}" for f in Module._meta.concrete_fields))
    )


# Every lesson, quiz and image view starts here: prepared, and the lesson's module
# (shown above its title) loaded with it, as ``select_related("module")`` would.
_LESSON = Prepared(_lesson_query)


def visible_lesson(request, slug: str) -> Lesson:
    """The lesson at ``slug`` if this visitor may see it (drafts: instructors only), else 404."""
    rows = _LESSON.rows(is_instructor(request.user), slug=slug)
    if not rows:
        raise Http404("No lesson here.")
    row = rows[0]
    lesson = Lesson.from_db(connection.alias, _LESSON_FIELDS, row[: len(_LESSON_FIELDS)])
    module = Module.from_db(connection.alias, _MODULE_FIELDS, row[len(_LESSON_FIELDS) :])
    Lesson.module.field.set_cached_value(lesson, module)
    return lesson
