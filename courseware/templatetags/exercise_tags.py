"""The lesson page's "Try it in a terminal" list, as an inclusion tag so the lesson
view itself stays as it is (its caching is tuned elsewhere): two small queries, and
none beyond the first when the lesson has no exercises."""

from __future__ import annotations

from django import template

from ..exercises import exercise_counts

register = template.Library()


@register.inclusion_tag("courseware/exercises/_lesson_list.html", takes_context=True)
def lesson_exercises(context, lesson):
    exercises = list(lesson.exercises.active())
    user = context["request"].user
    return {"lesson": lesson, "counts": exercise_counts(user, exercises) if exercises else []}
