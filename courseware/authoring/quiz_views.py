"""The quiz editor as forms (``/author/<slug>/quiz/``): one card per question.

The second way to edit a lesson's quiz beside the raw ``quiz.yaml`` text of the lesson
editor. It writes the same thing: the forms become quiz file text, which is saved as
the lesson's next revision through ``revisions.save_revision`` with the revision the
page was opened on, so drafts, problems, publishing, diffs and conflicts behave as in
the lesson editor. Every button works without JavaScript: the structural ones (add,
remove, move) post the forms and get them back changed, saving nothing.

Instructors only (``instructor_required``), every change a POST with CSRF.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect, render

from virtlab.roles import instructor_required

from ..models import Lesson, Question, Quiz
from ..quizzes import predictions
from ..quizzes.render import render_question
from ..quizzes.scores import QuestionResult
from ..quizzes.state import QuestionView
from ..quizzes.types import question_type
from ..quizzes.types.base import ViewInput
from . import quiz_forms, revisions
from .quiz_forms import NotFormable, QuizForm
from .views import conflict_response, report_save


def _lesson(slug: str) -> Lesson:
    return get_object_or_404(Lesson.objects.select_related("module"), slug=slug)


def _based_on(post) -> int | None:
    try:
        return int(post.get("based_on", ""))
    except ValueError:
        return None


def preview_items(lesson: Lesson, form: QuizForm, *, reveal: bool) -> list[QuestionView | str]:
    """The questions as students see them, built from the forms without the database:
    unsaved ``Question`` rows rendered by the same code as published ones, and each
    type's own view. A question with problems cannot be drawn; its place says why."""
    quiz = Quiz(
        lesson=lesson,
        max_attempts=0,
        show_answers=Quiz.ShowAnswers.AFTER_EACH,
    )
    items: list[QuestionView | str] = []
    for number, q in enumerate(form.questions, start=1):
        if q.problems:
            items.append(f"Question {number} is shown here once its problems are fixed.")
            continue
        spec = quiz_forms.question_data(q)
        question = Question(
            quiz=quiz,
            qid=q.id,
            type=q.type,
            spec=spec,
            order=number,
            rendered=render_question(spec),
        )
        view = QuestionView(
            question=question,
            number=number,
            result=QuestionResult(),
            attempts_left=None,
            block=None,
            reveal=reveal,
            hints_shown=len(spec.get("hints", [])),
        )
        shown = question_type(spec).view(
            ViewInput(
                qid=q.id,
                spec=spec,
                html=question.rendered,
                values={},
                reveal=reveal,
                answered=False,
                last_answer=None,
                seed=0,
            )
        )
        view.parts, view.correct_answer = shown.parts, shown.correct_answer
        if view.is_prediction:
            view.lab = predictions.lab_info(spec["measure"]["lab"])
        if reveal and question.rendered.get("explanation"):
            view.correct_answer["explanation"] = question.rendered["explanation"]
        items.append(view)
    return items


def _measure_options(form: QuizForm) -> list[tuple[str, list[tuple[str, str]]]]:
    """The labs' declared summary keys as select groups, plus any lab/key a question
    names that is not one of them (so it is shown, and reported, not silently lost)."""
    groups = [
        (title, [(f"{slug}/{key}", f"{title}: {label}") for key, label in keys])
        for slug, title, keys in predictions.measure_choices()
    ]
    known = {value for _, options in groups for value, _ in options}
    unknown = sorted({q.measure for q in form.questions if q.measure and q.measure not in known})
    if unknown:
        groups.append(("Not a declared summary key", [(value, value) for value in unknown]))
    return groups


def _page(
    request,
    lesson: Lesson,
    form: QuizForm | None,
    *,
    based_on: int,
    reveal: bool,
    status: int = 200,
    note: str = "",
    unreadable: str = "",
    action_message: str = "",
):
    head = revisions.ensure_history(lesson)
    context = {
        "lesson": lesson,
        "head": head,
        "based_on": based_on,
        "stale": based_on != head.number,
        "published": lesson.published_revision,
        "unreadable": unreadable,
        "reveal": reveal,
        "note": note,
        "action_message": action_message,
        "type_choices": quiz_forms.type_choices(),
        "show_answer_choices": quiz_forms.SETTING_CHOICES,
        "tolerance_choices": quiz_forms.TOLERANCE_CHOICES,
        "text_match_choices": quiz_forms.TEXT_MATCH_CHOICES,
        "blank_match_choices": quiz_forms.BLANK_MATCH_CHOICES,
        "valid_show_answers": [value for value, _ in quiz_forms.SETTING_CHOICES],
        "valid_tolerance_modes": [value for value, _ in quiz_forms.TOLERANCE_CHOICES],
        "valid_matches": [value for value, _ in quiz_forms.TEXT_MATCH_CHOICES],
        "valid_blank_matches": [value for value, _ in quiz_forms.BLANK_MATCH_CHOICES],
    }
    if form is not None:
        text = quiz_forms.quiz_text(form)
        problems = revisions.problems_of(lesson, {**head.content, "quiz": text})
        quiz_problems = [p for p in problems if "quiz.yaml" in p.split(":", 1)[0]]
        context.update(
            form=form,
            problems=quiz_forms.place_problems(form, text, quiz_problems),
            lesson_problems=[p for p in problems if p not in quiz_problems],
            measure_options=_measure_options(form),
            preview=preview_items(lesson, form, reveal=reveal),
        )
    return render(request, "courseware/authoring/quiz_edit.html", context, status=status)


@instructor_required
def quiz_edit(request, slug: str):
    lesson = _lesson(slug)
    head = revisions.ensure_history(lesson)
    if request.method != "POST":
        reveal = request.GET.get("answers") == "1"
        try:
            form = quiz_forms.form_from_yaml(head.content["quiz"])
        except NotFormable as exc:
            return _page(
                request, lesson, None, based_on=head.number, reveal=reveal, unreadable=str(exc)
            )
        changed = quiz_forms.changed_by_forms(head.content["quiz"])
        message = (
            "The forms cannot hold everything in " + ", ".join(changed) + " as written; "
            "saving here rewrites it. Use the quiz text in the lesson editor to keep it."
            if changed
            else ""
        )
        return _page(
            request, lesson, form, based_on=head.number, reveal=reveal, action_message=message
        )

    post = request.POST
    form = quiz_forms.form_from_post(post)
    based_on = _based_on(post)
    action = post.get("action", "save")
    reveal = post.get("answers") == "1"
    note = post.get("note", "")[:200]
    if action in ("answers-on", "answers-off"):
        reveal = action == "answers-on"
        action = ""
    if action not in ("save", "publish"):
        # A structural button, or "Check and preview": the forms come back changed,
        # and nothing is saved.
        message = quiz_forms.apply_action(
            form, action, new_type=post.get("new_type", ""), slug=lesson.slug
        )
        return _page(
            request,
            lesson,
            form,
            based_on=based_on or head.number,
            reveal=reveal,
            note=note,
            action_message=message,
        )
    text = quiz_forms.quiz_text(form)
    if quiz_forms.same_data(head.content["quiz"], text):
        text = head.content["quiz"]  # nothing changed: keep the file as written, comments too
    try:
        revision, created = revisions.save_revision(
            lesson,
            {**head.content, "quiz": text},
            author=request.user,
            based_on=based_on,
            note=note or "Quiz edited with the forms",
        )
    except revisions.EditConflict as conflict:
        # The rest of the lesson is the newest revision's; only the quiz is this author's.
        mine = {**conflict.newest.content, "quiz": text}
        return conflict_response(request, lesson, mine, based_on, conflict.newest)
    report_save(request, revision, created, action, problems_at="on this page")
    return redirect("courseware:author_quiz", slug=lesson.slug)
