"""Quizzes in ``import_course`` / ``export_course`` (hooks registered in sync.py).

The file was validated by ``read_course`` before the import transaction began, so
these hooks only write. Questions are matched by their stable id; a question that
disappeared from its file is retired (kept for its attempts), never deleted.
"""

from __future__ import annotations

from ..models import Attempt, Lesson, Question, Quiz
from ..quizzes.grading import is_prediction
from ..quizzes.render import spec_hash
from .lesson_files import ContentError, LessonSpec
from .quiz_files import QUIZ_FILE, QuizSpec, quiz_file_text, settings_with_defaults


def _quiz_values(spec: QuizSpec) -> dict:
    settings = settings_with_defaults(spec.settings)
    return {
        "max_attempts": settings["max_attempts"],
        "min_seconds_between": settings["min_seconds_between"],
        "show_answers": settings["show_answers"],
        "settings_as_written": spec.settings,
    }


def quiz_import(*, lesson: Lesson, spec: LessonSpec) -> str | None:
    quiz = Quiz.objects.filter(lesson=lesson).first()
    if spec.quiz is None:
        if quiz is None:
            return None
        return "updated" if quiz.questions.active().update(retired=True) else "unchanged"
    changed = False
    values = _quiz_values(spec.quiz)
    if quiz is None:
        quiz = Quiz.objects.create(lesson=lesson, **values)
        state = "created"
    else:
        state = "unchanged"
        if fields := [name for name, value in values.items() if getattr(quiz, name) != value]:
            for name in fields:
                setattr(quiz, name, values[name])
            quiz.save(update_fields=fields)
            changed = True
    existing = {q.qid: q for q in Question.objects.filter(qid__in=spec.quiz.qids)}
    refuse_kind_changes(spec, existing)
    for order, data in enumerate(spec.quiz.questions):
        question = existing.get(data["id"])
        if question is None:
            Question.objects.create(
                quiz=quiz, qid=data["id"], type=data["type"], spec=data, order=order
            )
            changed = True
            continue
        wanted = {"quiz_id": quiz.pk, "type": data["type"], "order": order, "retired": False}
        fields = [name for name, value in wanted.items() if getattr(question, name) != value]
        if question.content_hash != spec_hash(data):
            question.spec = data
            fields.append("spec")
        if fields:
            for name in fields:
                if name != "spec":
                    setattr(question, name, wanted[name])
            question.save(update_fields=[f.removesuffix("_id") for f in fields])
            changed = True
    retired = quiz.questions.active().exclude(qid__in=spec.quiz.qids).update(retired=True)
    if state == "created":
        return state
    return "updated" if changed or retired else "unchanged"


def _kind(data: dict) -> str:
    return "prediction" if is_prediction(data) else data["type"]


def refuse_kind_changes(spec: LessonSpec, existing: dict[str, Question]) -> None:
    """Stored answers have the shape of their question's type: an answered question
    that became another type could no longer be graded. It needs a new id instead.
    Raised inside the import's transaction, so nothing of the import is kept."""
    answered = set(
        Attempt.objects.filter(qid__in=list(existing)).values_list("qid", flat=True).distinct()
    )
    problems = [
        f"{spec.source_dir}/{QUIZ_FILE}: question {data['id']!r} was a "
        f"{_kind(existing[data['id']].spec)} question and students have answered it; "
        f"as a {_kind(data)} question it needs a new id"
        for data in spec.quiz.questions
        if data["id"] in answered and _kind(existing[data["id"]].spec) != _kind(data)
    ]
    if problems:
        raise ContentError(problems)


def quiz_export_text(lesson: Lesson) -> str:
    """The lesson's published quiz file: as its author wrote it (the published
    revision keeps comments and layout), else rebuilt from the stored questions."""
    revision = lesson.published_revision
    if revision is not None and "quiz" in revision.content:
        return revision.content["quiz"]
    quiz = Quiz.objects.filter(lesson=lesson).first()
    if quiz is None:
        return ""
    questions = [q.spec for q in quiz.questions.active().order_by("order")]
    if not questions:
        return ""
    return quiz_file_text(QuizSpec(quiz.settings_as_written, questions))


def quiz_export_files(*, lesson: Lesson) -> dict[str, str]:
    text = quiz_export_text(lesson)
    return {QUIZ_FILE: text} if text else {}
