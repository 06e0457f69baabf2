"""The lesson page's "Try it in a terminal" list, as an inclusion tag so the lesson
view itself stays as it is (its caching is tuned elsewhere): two small queries, and
none beyond the first when the lesson has no exercises."""

from __future__ import annotations

from django import template
from django.db import DEFAULT_DB_ALIAS

from virtlab.prepared import Param, Prepared

from ..exercises import exercise_counts
from ..models import Exercise

register = template.Library()

# What the list shows of each exercise; the first query runs on every lesson view, so
# it is compiled once per process (virtlab/prepared.py), in the model's order.
_LISTED = ("id", "lesson_id", "slug", "title", "summary", "order")
_ACTIVE_IN_LESSON = Prepared(
    lambda _: Exercise.objects.active().filter(lesson=Param("lesson")).values_list(*_LISTED)
)


@register.inclusion_tag("courseware/exercises/_lesson_list.html", takes_context=True)
def lesson_exercises(context, lesson):
    exercises = [
        Exercise.from_db(DEFAULT_DB_ALIAS, _LISTED, row)
        for row in _ACTIVE_IN_LESSON.rows(lesson=lesson.pk)
    ]
    user = context["request"].user
    return {"lesson": lesson, "counts": exercise_counts(user, exercises) if exercises else []}
