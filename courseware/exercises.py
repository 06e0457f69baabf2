"""Guided exercises: checking a step, recording it, and what a student has done.

``check_step`` runs the step's stored check script through ``run_check`` — a
function with the signature of ``Terminal.check`` / ``VMTerminal.check``, given the
script and the step's timeout — and turns its exit status and output into what the
student reads. The script always comes from the database (the course files), never
from the request: a student can change what a check finds, not what it runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .models import Exercise, ExerciseStep, StepCompletion
from .services import progress_open

RunCheck = Callable[[str, float], tuple[int | None, str]]

MESSAGE_LINES = 3  # the last lines of a failing check's output the student sees
MESSAGE_CHARS = 300
NOT_YET = "Not done yet: the check did not find what this step asks for."
# Terminal escapes and other control characters in a check's output would be shown
# as garbage (or could dress up a message): keep printable text, tabs and newlines.
CONTROL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Outcome:
    done: bool
    message: str


def what_is_missing(output: str) -> str:
    """The last few non-empty lines of a failing check's output, capped."""
    lines = [line.strip() for line in CONTROL_RE.sub("", output).splitlines() if line.strip()]
    message = "\n".join(lines[-MESSAGE_LINES:])
    if len(message) > MESSAGE_CHARS:
        message = "…" + message[-(MESSAGE_CHARS - 1) :]
    return message or NOT_YET


def check_step(step: ExerciseStep, run_check: RunCheck) -> Outcome:
    """Run the step's check: exit status 0 is done; otherwise the end of its output
    says what is still missing. A check that overran its timeout is not done."""
    status, output = run_check(step.script, float(step.timeout))
    if status == 0:
        return Outcome(True, "Done: the check found what this step asks for.")
    if status is None:
        return Outcome(
            False,
            f"The check took longer than {step.timeout} s and was stopped. Is something "
            "in your sandbox holding it up (a full disk, a stopped process)? Try again.",
        )
    return Outcome(False, what_is_missing(output))


def record_done(*, user, step: ExerciseStep) -> bool:
    """Mark the step done for ``user`` (once) and count it as work on the lesson;
    True when this is the first time."""
    progress_open(user=user, lesson=step.exercise.lesson)
    try:
        with transaction.atomic():
            StepCompletion.objects.create(user=user, step=step)
    except IntegrityError:
        return False  # done before (or by a concurrent check a moment ago)
    return True


def done_keys(user, exercise: Exercise) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(
        StepCompletion.objects.filter(user=user, step__exercise=exercise).values_list(
            "step__key", flat=True
        )
    )


@dataclass
class ExerciseCount:
    exercise: Exercise
    steps: int
    done: int


def exercise_counts(user, exercises: Iterable[Exercise]) -> list[ExerciseCount]:
    """Steps and steps done per exercise, in two queries for the whole list."""
    exercises = list(exercises)
    steps = step_totals(exercises)
    done = steps_done([user.pk], exercises) if user.is_authenticated else {}
    return [ExerciseCount(e, steps.get(e.pk, 0), done.get((user.pk, e.pk), 0)) for e in exercises]


def steps_done(user_ids: list[int], exercises: list[Exercise]) -> dict[tuple[int, int], int]:
    """``{(user id, exercise id): current steps done}``, for the gradebook."""
    done: dict[tuple[int, int], int] = {}
    for key in StepCompletion.objects.filter(
        user_id__in=user_ids, step__exercise__in=exercises, step__retired=False
    ).values_list("user_id", "step__exercise_id"):
        done[key] = done.get(key, 0) + 1
    return done


def step_totals(exercises: list[Exercise]) -> dict[int, int]:
    """``{exercise id: current steps}``."""
    totals: dict[int, int] = {}
    for exercise_id in ExerciseStep.objects.filter(
        exercise__in=exercises, retired=False
    ).values_list("exercise_id", flat=True):
        totals[exercise_id] = totals.get(exercise_id, 0) + 1
    return totals
