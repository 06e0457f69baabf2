"""The one place where courseware and labs meet.

``courseware`` imports nothing from ``labs`` outside this module, and ``labs`` imports
nothing from ``courseware`` but this module (docs/architecture.md, "Layering"). What
crosses here:

- predict-then-measure: which lab and summary key a prediction reads, the student's
  measurements, the lab shown beside the question, and whether a student still has a
  prediction to make before the lab page may show the classmates' results;
- the lab ↔ lesson link, whose one source is each lesson's front matter ``labs:``;
- the checks at import that every lab a lesson names exists and every prediction's
  key is one the lab declares (``Lab.summary_keys``), so a renamed key is an import
  error instead of predictions that stay pending for ever;
- which students' runs an instructor may see (the students of their classes);
- which labs the lessons link to and how many runs of each a student finished, for
  the gradebook's lab columns, and a student's runs for the instructor's page of them.

Scoring rules for predictions are in ``scores.py``; grading one is numeric grading
(``types/numeric.py``) against the measured value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.html import strip_tags

from labs.experiments import REGISTRY, get_lab
from labs.models import LabRun
from virtlab.prepared import Param, Prepared

from ..models import Attempt, Lesson, Membership, Question
from .grading import is_prediction, tolerance_range
from .types import grade
from .types.numeric import format_measured


@dataclass(frozen=True)
class Measurement:
    value: float
    run_id: int
    lab: str
    created_at: datetime  # when the run was submitted: before that, nothing was measured


MeasureKey = tuple[int, str, str]  # (user id, lab slug, summary key)


def _runs(students: Q, labs):
    """(pk, user id, lab, created_at, summary) of the students' succeeded runs of ``labs``."""
    return (
        LabRun.objects.filter(students, lab__in=labs, status=LabRun.Status.SUCCEEDED)
        .order_by("created_at", "pk")
        .values_list("pk", "user_id", "lab", "created_at", "results__summary")
    )


_STUDENT_RUNS = Prepared(lambda labs: _runs(Q(user_id=Param("user")), labs))


def measurements_for(
    user_ids: Iterable[int], questions: Iterable[Question]
) -> dict[MeasureKey, list[Measurement]]:
    """Each student's succeeded run values, oldest first, for every measured key used."""
    wanted = {
        (q.spec["measure"]["lab"], q.spec["measure"]["key"])
        for q in questions
        if is_prediction(q.spec)
    }
    user_ids = list(user_ids)
    if not wanted or not user_ids:
        return {}
    labs = tuple(sorted({lab for lab, _ in wanted}))
    if len(user_ids) == 1:  # a student's own quiz page: prepared, one shape per set of labs
        runs = _STUDENT_RUNS.rows(labs, user=user_ids[0])
    else:
        runs = _runs(Q(user_id__in=user_ids), labs)
    found: dict[MeasureKey, list[Measurement]] = defaultdict(list)
    for pk, user_id, lab, created_at, summary in runs:
        if not isinstance(summary, dict):
            continue
        for wanted_lab, key in wanted:
            value = summary.get(key)
            if wanted_lab != lab:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[(user_id, lab, key)].append(Measurement(float(value), pk, lab, created_at))
    return found


def measurement_of(
    question: Question,
    user_id: int,
    found: dict[MeasureKey, list[Measurement]],
    *,
    predicted_at: datetime | None,
) -> Measurement | None:
    """The run a prediction made at ``predicted_at`` is scored against (None: none yet,
    or no prediction made)."""
    if not is_prediction(question.spec) or predicted_at is None:
        return None
    measure = question.spec["measure"]
    for measurement in found.get((user_id, measure["lab"], measure["key"]), []):
        if measurement.created_at > predicted_at:
            return measurement
    return None


def prediction_time(attempts: list[Attempt]) -> datetime | None:
    """When the (single) prediction was made; None before it is."""
    return attempts[0].created_at if attempts else None


def lab_info(slug: str) -> dict[str, Any]:
    """The lab a prediction is measured with, as the question shows it."""
    lab = get_lab(slug)
    info: dict[str, Any] = {
        "slug": slug,
        "available": lab is not None,
        "title": getattr(lab, "title", slug),
    }
    if lab is not None:
        info["url"] = reverse("labs:detail", args=[slug])
    return info


# --- What the lab pages ask -----------------------------------------------------------


def predict_questions(slug: str) -> list[tuple[Lesson, str]]:
    """The lessons' predict-then-measure questions scored against this lab: (lesson, qid)."""
    questions = (
        Question.objects.filter(
            retired=False, spec__measure__lab=slug, quiz__lesson__published=True
        )
        .select_related("quiz__lesson")
        .order_by("quiz__lesson__module__order", "quiz__lesson__order", "order")
    )
    return [(question.quiz.lesson, question.qid) for question in questions]


def awaiting_prediction(user, questions: list[tuple[Lesson, str]]) -> bool:
    """Whether this student still has a prediction to make for the lab: until then the
    classmates' results stay hidden, or the prediction would be read off their chart."""
    if not questions:
        return False
    if not user.is_authenticated:
        return True  # logging out must not be a way round the prediction
    answered = set(
        Attempt.objects.filter(user=user, qid__in=[qid for _, qid in questions]).values_list(
            "qid", flat=True
        )
    )
    return any(qid not in answered for _, qid in questions)


def lessons_for_lab(slug: str) -> list[Lesson]:
    """The published lessons whose front matter links to this lab, in outline order.
    (Filtered here, not in SQL: JSON containment is not portable to SQLite, and a
    course has tens of lessons.)"""
    lessons = Lesson.objects.published().only("slug", "title", "labs")
    return [lesson for lesson in lessons if slug in lesson.labs]


@dataclass(frozen=True)
class LabPrediction:
    """One of a student's predict-then-measure questions on a lab, as the lab and run
    pages show it: what they predicted and when, and once the run that scores it has
    finished, what it measured and the score."""

    lesson: Lesson
    qid: str
    prompt: str  # the question's text (plain), to say which prediction this is
    units: str
    made_at: datetime | None = None  # None: not predicted yet
    predicted: str = ""  # as the student typed it
    run_id: int | None = None  # the run that scores it
    measured: str = ""
    percent: int | None = None
    correct: bool = False
    low: str = ""  # counted as correct from low to high
    high: str = ""


def lab_predictions(user, slug: str) -> list[LabPrediction]:
    """The student's predictions scored against this lab, one per question (in outline
    order), scored as the quiz scores them (``scores.py``: the first run started
    after the prediction)."""
    pairs = predict_questions(slug)
    if not pairs:
        return []
    questions = {
        q.qid: q for q in Question.objects.filter(retired=False, qid__in=[qid for _, qid in pairs])
    }
    mine: dict[str, Attempt] = {}
    if user.is_authenticated:
        attempts = Attempt.objects.filter(user=user, question__in=list(questions.values()))
        for attempt in attempts.order_by("created_at", "pk"):
            mine.setdefault(attempt.qid, attempt)  # a prediction is its first attempt
    found = measurements_for([user.pk], questions.values()) if mine else {}
    shown = []
    for lesson, qid in pairs:
        question = questions[qid]
        spec = question.spec
        item = LabPrediction(
            lesson=lesson,
            qid=qid,
            prompt=strip_tags(question.rendered.get("prompt", "")).strip(),
            units=spec.get("units", ""),
        )
        attempt = mine.get(qid)
        if attempt is not None:
            measurement = measurement_of(question, user.pk, found, predicted_at=attempt.created_at)
            extra: dict[str, Any] = {
                "made_at": attempt.created_at,
                "predicted": str(attempt.answer.get("raw", attempt.answer.get("value", ""))),
            }
            if measurement is not None:
                graded = grade(spec, attempt.answer, measured=measurement.value)
                low, high = tolerance_range(spec, measurement.value)
                extra |= {
                    "run_id": measurement.run_id,
                    "measured": format_measured(measurement.value),
                    "percent": round((graded.score or 0.0) * 100),
                    "correct": graded.correct,
                    "low": format_measured(low),
                    "high": format_measured(high),
                }
            item = replace(item, **extra)
        shown.append(item)
    return shown


# --- What the gradebook asks ------------------------------------------------------------


@dataclass(frozen=True)
class RequiredLab:
    slug: str
    title: str


def labs_required_by(lessons: Iterable[Lesson]) -> list[RequiredLab]:
    """The labs these lessons link to (front matter ``labs:``), each once, in the order
    the lessons first name them; a slug that is not a lab here is left out."""
    required: dict[str, RequiredLab] = {}
    for lesson in lessons:
        for slug in lesson.labs or []:
            lab = get_lab(slug)
            if lab is not None and slug not in required:
                required[slug] = RequiredLab(slug, lab.title)
    return list(required.values())


def lab_runs_done(user_ids: Iterable[int], slugs: Iterable[str]) -> dict[tuple[int, str], int]:
    """(user id, lab slug) → how many runs of that lab the student finished successfully
    (pairs with none are absent)."""
    user_ids, slugs = list(user_ids), list(slugs)
    if not user_ids or not slugs:
        return {}
    done: dict[tuple[int, str], int] = defaultdict(int)
    for user_id, lab in LabRun.objects.filter(
        user_id__in=user_ids, lab__in=slugs, status=LabRun.Status.SUCCEEDED
    ).values_list("user_id", "lab"):
        done[(user_id, lab)] += 1
    return dict(done)


@dataclass(frozen=True)
class StudentRun:
    """One lab run of a student, as the instructor's page of that student lists it."""

    pk: int
    lab_title: str
    status: str  # the status's label
    succeeded: bool
    created_at: datetime
    url: str


def runs_of_student(user_id: int, limit: int = 200) -> list[StudentRun]:
    """A student's lab runs, newest first (the run pages check who may open them)."""
    runs = (
        LabRun.objects.filter(user_id=user_id)
        .only("pk", "lab", "status", "created_at")
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        StudentRun(
            pk=run.pk,
            lab_title=getattr(get_lab(run.lab), "title", run.lab),
            status=LabRun.Status(run.status).label,
            succeeded=run.status == LabRun.Status.SUCCEEDED,
            created_at=run.created_at,
            url=run.get_absolute_url(),
        )
        for run in runs
    ]


def students_taught_by(instructor) -> set[int] | None:
    """Students whose runs an instructor may see: those in the classes they teach.
    None means everyone (superusers administer the whole server)."""
    if instructor.is_superuser:
        return None
    return set(
        Membership.objects.filter(classroom__instructors=instructor).values_list(
            "user_id", flat=True
        )
    )


# --- Authoring ------------------------------------------------------------------------


def lab_choices() -> list[tuple[str, str]]:
    """The lab catalogue as (slug, title), for the lesson editor's "linked labs"."""
    return [(slug, lab.title) for slug, lab in REGISTRY.items()]


# --- Checks at import -------------------------------------------------------------------


def lesson_lab_problems(where: str, slugs: Iterable[str]) -> list[str]:
    """A lesson's ``labs:`` naming a lab that is not in the registry."""
    return [
        f"{where}: 'labs' names {slug!r}, which is not a lab (the labs are in "
        "labs/experiments/__init__.py)"
        for slug in slugs
        if get_lab(slug) is None
    ]


def measure_problem(measure: dict[str, str]) -> str | None:
    """Why a prediction's ``measure: {lab, key}`` can never be measured, or None."""
    lab = get_lab(measure["lab"])
    if lab is None:
        return f"'measure' names lab {measure['lab']!r}, which is not a lab"
    if measure["key"] not in lab.summary_keys:
        keys = ", ".join(sorted(lab.summary_keys))
        return (
            f"'measure' key {measure['key']!r} is not a summary key of lab {lab.slug!r} "
            f"(it reports: {keys})"
        )
    return None


# --- The quiz editor's forms ------------------------------------------------------------


def measure_choices() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """What a predict-then-measure question may be scored against, for the quiz
    editor: every lab as (slug, title, [(summary key, label)]), the keys it offers
    for predictions first, then its other declared summary keys."""
    choices = []
    for slug, lab in REGISTRY.items():
        others = sorted(key for key in lab.summary_keys if key not in lab.predict_keys)
        keys = [*lab.predict_keys, *others]
        choices.append((slug, lab.title, [(key, lab.summary_labels.get(key, key)) for key in keys]))
    return choices


# --- Assignments ------------------------------------------------------------------------


def lab_first_success(
    user_ids: Iterable[int], slugs: Iterable[str]
) -> dict[tuple[int, str], datetime]:
    """(user id, lab slug) → when the student's first successful run of that lab
    finished (its submission time if the finish was not recorded); pairs with no
    successful run are absent. An assignment to run a lab is done at that time."""
    user_ids, slugs = list(user_ids), list(slugs)
    if not user_ids or not slugs:
        return {}
    first: dict[tuple[int, str], datetime] = {}
    for user_id, lab, finished_at, created_at in LabRun.objects.filter(
        user_id__in=user_ids, lab__in=slugs, status=LabRun.Status.SUCCEEDED
    ).values_list("user_id", "lab", "finished_at", "created_at"):
        at = finished_at or created_at
        if (user_id, lab) not in first or at < first[(user_id, lab)]:
            first[(user_id, lab)] = at
    return first
