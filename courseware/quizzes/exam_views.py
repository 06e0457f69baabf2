"""The course exam's pages: the introduction, a sitting, its answers, its result."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..models import ExamAnswer, ExamSitting, Question
from . import exam
from .grading import AnswerError
from .state import QuestionResult, QuestionView
from .types import question_type
from .types.base import ViewInput


@dataclass
class ExamItem:
    view: QuestionView
    saved: ExamAnswer | None
    lesson_title: str


def _items(sitting: ExamSitting, *, reveal: bool, typed: dict | None = None) -> list[ExamItem]:
    """Each drawn question as the quiz page draws it (the type's own inputs), showing
    the newest saved answer; answers and explanations only when ``reveal``."""
    saved = exam.newest_answers(sitting)
    items = []
    for number, question in enumerate(exam.questions_of(sitting), start=1):
        spec, qtype = question.spec, question_type(question.spec)
        answer = saved.get(question.qid)
        if typed and typed.get("qid") == question.qid:
            values = typed["values"]
        else:
            values = qtype.stored_values(spec, answer.answer) if answer else {}
        view = QuestionView(
            question=question,
            number=number,
            result=QuestionResult(),
            attempts_left=None,
            block=None,
            reveal=reveal,
            values=values,
            error=typed["error"] if typed and typed.get("qid") == question.qid else "",
        )
        shown = qtype.view(
            ViewInput(
                qid=question.qid,
                spec=spec,
                html=question.rendered,
                values=values,
                reveal=reveal,
                answered=answer is not None,
                last_answer=answer.answer if answer and reveal else None,
                seed=f"exam-{sitting.pk}",
            )
        )
        view.parts, view.correct_answer = shown.parts, shown.correct_answer
        view.feedback = shown.feedback if reveal else []
        if reveal and question.rendered.get("explanation"):
            view.correct_answer["explanation"] = question.rendered["explanation"]
        items.append(ExamItem(view, answer, question.quiz.lesson.title))
    return items


def _own_sitting(request, sitting_id: int) -> ExamSitting:
    return get_object_or_404(ExamSitting, pk=sitting_id, user=request.user)


@login_required
def exam_home(request):
    course = exam.exam_course()
    if course is None:
        raise Http404("There is no course yet.")
    available = sum(len(qs) for qs in exam.candidate_questions().values())
    return render(
        request,
        "courseware/exam/home.html",
        {
            "course": course,
            "count": min(course.exam_questions, available),
            "open_sitting": exam.open_sitting(request.user),
            "finished": ExamSitting.objects.filter(user=request.user, finished_at__isnull=False),
        },
    )


@login_required
@require_POST
def exam_start(request):
    if not exam.candidate_questions():
        messages.error(request, "The course has no quiz questions yet, so there is no exam.")
        return redirect("courseware:exam")
    sitting = exam.start(request.user)
    return redirect("courseware:exam_sitting", sitting_id=sitting.pk)


def _sitting_page(request, sitting: ExamSitting, *, typed=None, status=200):
    finished = sitting.finished_at is not None
    items = _items(sitting, reveal=finished, typed=typed)
    return render(
        request,
        "courseware/exam/sitting.html",
        {
            "sitting": sitting,
            "items": items,
            "finished": finished,
            "closes_at": exam.closes_at(sitting),
            "answered": sum(1 for item in items if item.saved),
            "score_percent": round((sitting.score or 0) * 100) if finished else None,
        },
        status=status,
    )


@login_required
def exam_sitting(request, sitting_id: int):
    sitting = _own_sitting(request, sitting_id)
    if sitting.finished_at is None:
        exam.open_sitting(request.user)  # closes it if its time ran out meanwhile
        sitting.refresh_from_db()
    return _sitting_page(request, sitting)


@login_required
@require_POST
def exam_answer(request, sitting_id: int, qid: str):
    sitting = _own_sitting(request, sitting_id)
    question = get_object_or_404(Question, qid=qid)
    form = {key: request.POST.getlist(key) for key in request.POST}
    try:
        exam.save_answer(sitting, question, form)
    except AnswerError as exc:
        values = question_type(question.spec).submitted_values(question.spec, request.POST)
        typed = {"qid": qid, "values": values, "error": str(exc)}
        return _sitting_page(request, sitting, typed=typed, status=400)
    except exam.ExamClosed as exc:
        messages.error(request, str(exc))
        return redirect("courseware:exam_sitting", sitting_id=sitting.pk)
    messages.success(request, f"Answer to question {sitting.qids.index(qid) + 1} saved.")
    return redirect(reverse("courseware:exam_sitting", args=[sitting.pk]) + f"#q-{qid}")


@login_required
@require_POST
def exam_finish(request, sitting_id: int):
    sitting = exam.finish(_own_sitting(request, sitting_id))
    messages.success(request, f"Exam finished: your score is {round(sitting.score * 100)} %.")
    return redirect("courseware:exam_sitting", sitting_id=sitting.pk)
