"""Guided exercises in ``import_course`` / ``export_course`` and in publishing (a hook
registered in sync.py, called by authoring/revisions.py's ``publish`` too).

The files were validated by ``read_course`` (or ``problems_of``) before the
transaction began, so this only writes. Exercises are matched by slug and steps by
key (their check script's name); what disappeared from the files is retired, never
deleted, so the students' completed steps are kept.
"""

from __future__ import annotations

from virtlab.rendering import render_markdown

from ..models import Exercise, ExerciseStep, Lesson
from .exercise_files import ExerciseSpec, StepSpec
from .lesson_files import LessonSpec


def _exercise_values(spec: ExerciseSpec, files: dict[str, str], order: int) -> dict:
    return {
        "title": spec.title,
        "summary": spec.summary,
        "intro_html": render_markdown(spec.intro).html if spec.intro else "",
        "order": order,
        "files": files,
        "retired": False,
    }


def _step_values(spec: StepSpec, order: int) -> dict:
    return {
        "order": order,
        "title": spec.title,
        "instructions_html": render_markdown(spec.instructions).html,
        "script": spec.script,
        "sandbox": spec.sandbox,
        "timeout": spec.timeout,
        "hints_html": [render_markdown(hint).html for hint in spec.hints],
        "retired": False,
    }


def _save_changed(obj, values: dict) -> bool:
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    if changed:
        obj.save(update_fields=changed)
    return bool(changed)


def exercise_import(*, lesson: Lesson, spec: LessonSpec) -> str | None:
    existing = {exercise.slug: exercise for exercise in lesson.exercises.all()}
    created = changed = False
    for order, exercise_spec in enumerate(spec.exercise_specs):
        values = _exercise_values(exercise_spec, spec.exercises[exercise_spec.slug], order)
        exercise = existing.get(exercise_spec.slug)
        if exercise is None:
            exercise = Exercise.objects.create(lesson=lesson, slug=exercise_spec.slug, **values)
            created = True
        elif _save_changed(exercise, values):
            changed = True
        steps = {step.key: step for step in exercise.steps.all()}
        for step_order, step_spec in enumerate(exercise_spec.steps):
            step_values = _step_values(step_spec, step_order)
            step = steps.get(step_spec.key)
            if step is None:
                ExerciseStep.objects.create(exercise=exercise, key=step_spec.key, **step_values)
                changed = True
            elif _save_changed(step, step_values):
                changed = True
        keys = [step.key for step in exercise_spec.steps]
        if exercise.steps.filter(retired=False).exclude(key__in=keys).update(retired=True):
            changed = True
    slugs = [exercise.slug for exercise in spec.exercise_specs]
    if lesson.exercises.active().exclude(slug__in=slugs).update(retired=True):
        changed = True
    if created:
        return "created"
    return "updated" if changed else None


def exercise_export_files(lesson: Lesson) -> dict[str, dict[str, str]]:
    """The lesson's published exercises as their files: ``{slug: {name: text}}``."""
    return {exercise.slug: dict(exercise.files) for exercise in lesson.exercises.active()}
