"""Taking a quiz: pages, htmx and plain submissions, limits, policies, hints, outline."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from courseware.models import Attempt, Lesson, Question, Quiz
from courseware.quizzes.scores import lesson_scores
from tests.conftest import PASSWORD

from .quiz_helpers import HTMX, correct_form, record, wrong_form

LESSON = "hypervisor-types"


@pytest.fixture
def lesson(course):
    return Lesson.objects.get(slug=LESSON)


def submit_url(question):
    return reverse("courseware:question_submit", args=[question.quiz.lesson.slug, question.qid])


def quiz_url(slug=LESSON):
    return reverse("courseware:quiz", args=[slug])


def q(qid):
    return Question.objects.select_related("quiz__lesson").get(qid=qid)


def test_quiz_sits_at_the_end_of_the_lesson_and_on_its_own_page(client, lesson):
    lesson_page = client.get(lesson.get_absolute_url()).content.decode()
    assert 'id="quiz"' in lesson_page
    assert (
        lesson_page.index('class="prose"')
        < lesson_page.index('id="quiz"')
        < lesson_page.index("lesson-footer")
    )
    page = client.get(quiz_url()).content.decode()
    for question in Question.objects.filter(quiz__lesson=lesson):
        assert f'id="q-{question.qid}"' in page
    assert "Log in to answer" in page and "Check answer" not in page
    assert (
        page.count('<fieldset class="answer" disabled')
        == Question.objects.filter(quiz__lesson=lesson).count()
    )


def test_lesson_without_quiz_has_no_quiz_page(client, lesson):
    Quiz.objects.filter(lesson=lesson).delete()
    assert client.get(quiz_url()).status_code == 404
    assert 'id="quiz"' not in client.get(lesson.get_absolute_url()).content.decode()


def test_accessible_markup_for_every_type(student_client, course):
    page = student_client.get(quiz_url()).content.decode()
    assert page.count("<fieldset") == Question.objects.filter(quiz__lesson__slug=LESSON).count()
    assert "<legend>Choose one answer.</legend>" in page
    assert "<legend>Give each step its position, 1 for the first.</legend>" in page
    order = q("hv-order-vm-exit")
    # Ordering is done with one labelled select per step (no drag and drop).
    for text in order.spec["items"]:
        assert text in page
    assert page.count('name="pos-') == len(order.spec["items"])
    match = q("hv-match-hardware")
    assert page.count('name="match-') == len(match.spec["pairs"])


def test_htmx_submission_returns_the_graded_fragment(student_client, student, course):
    question = q("hv-type1-host")
    response = student_client.post(submit_url(question), {"choice": "b", "source": "quiz"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Not correct." in body and 'role="status"' in body
    assert (
        "Type 1 hypervisors typically run many guests at once." in body
    )  # the picked choice's feedback
    assert "2 attempts left" in body
    # The shipped quizzes show answers only once a question is closed (after_last).
    assert "Explanation" not in body and "Correct answer" not in body
    assert 'id="quiz-score" class="quiz-score" hx-swap-oob="true"' in body
    attempt = Attempt.objects.get(user=student)
    assert (attempt.qid, attempt.content_hash, attempt.score, attempt.correct) == (
        question.qid,
        question.content_hash,
        0.0,
        False,
    )
    assert attempt.answer == {"choice": "b"}


def test_plain_submission_redirects_back_and_the_page_shows_the_result(
    student_client, student, lesson
):
    question = q("hv-type1-host")
    response = student_client.post(submit_url(question), {"choice": "a", "source": "lesson"})
    assert response.status_code == 302
    assert response.url == f"{lesson.get_absolute_url()}#q-{question.qid}"
    page = student_client.get(lesson.get_absolute_url()).content.decode()
    size = Quiz.objects.get(lesson__slug="hypervisor-types").questions.active().count()
    assert "Correct." in page and f"Your score: {round(100 / size)} %" in page  # 1 question
    response = student_client.post(submit_url(q("hv-tf-nested")), {"choice": "false"})
    assert response.url == f"{quiz_url()}#q-hv-tf-nested"


@pytest.mark.parametrize("htmx", [True, False])
def test_malformed_answer_says_why_keeps_the_input_and_records_nothing(
    student_client, course, htmx
):
    question = q("hv-order-vm-exit")
    form = correct_form(question)
    first_key = next(iter(form))
    form[first_key] = form[next(iter(list(form)[1:]))]  # two steps in the same position
    response = student_client.post(submit_url(question), form, **(HTMX if htmx else {}))
    body = response.content.decode()
    assert response.status_code == (200 if htmx else 400)
    assert "Give each step a different position." in body and 'role="alert"' in body
    assert ("<html" in body) is not htmx
    assert f'<option value="{form[first_key]}" selected>' in body  # the student's choice is kept
    assert not Attempt.objects.exists()


@pytest.mark.parametrize(
    ("qid", "form", "message"),
    [
        ("hv-type1-host", {}, "Choose an answer."),
        ("hv-select-type2", {}, "Select at least one answer."),
        ("hv-text-device", {"value": "   "}, "Type an answer."),
        ("hv-match-hardware", {}, "Choose a match for every item."),
        ("hv-predict-tcg", {"value": "lots"}, "Enter a number"),
    ],
)
def test_empty_and_malformed_answers_are_rejected(student_client, course, qid, form, message):
    response = student_client.post(submit_url(q(qid)), form, **HTMX)
    assert message in response.content.decode()
    assert not Attempt.objects.exists()


@pytest.mark.parametrize("odd", ["\u00b2", "9" * 5000])
def test_odd_digits_in_positions_and_hint_counts_are_bad_input_not_a_crash(
    student_client, course, odd
):
    question = q("hv-order-vm-exit")
    form = correct_form(question)
    form[next(iter(form))] = odd
    response = student_client.post(submit_url(question), {**form, "hints": odd}, **HTMX)
    assert response.status_code == 200 and "Positions go from 1 to" in response.content.decode()
    assert not Attempt.objects.exists()
    page = student_client.get(f"{quiz_url()}?hint={question.qid}&shown={odd}")
    assert page.status_code == 200


def test_attempt_limit_is_enforced_on_the_server(student_client, student, course):
    question = q("hv-text-device")
    Quiz.objects.filter(pk=question.quiz_id).update(max_attempts=2, min_seconds_between=0)
    for _ in range(2):
        student_client.post(submit_url(question), wrong_form(question), **HTMX)
    response = student_client.post(submit_url(question), correct_form(question), **HTMX)
    body = response.content.decode()
    assert "You have used all 2 attempts for this question." in body
    assert Attempt.objects.filter(user=student).count() == 2
    assert not Attempt.objects.filter(correct=True).exists()
    page = student_client.get(quiz_url()).content.decode()
    assert "0 attempts left" in page


def test_minimum_gap_between_submissions(student_client, student, course):
    question = q("hv-text-device")  # min_seconds_between: 2 in the shipped file
    record(student, question, wrong_form(question))
    response = student_client.post(submit_url(question), correct_form(question), **HTMX)
    assert "Please wait 2 more seconds before trying again." in response.content.decode()
    assert Attempt.objects.count() == 1
    Attempt.objects.update(created_at=timezone.now() - timedelta(seconds=3))
    response = student_client.post(submit_url(question), correct_form(question), **HTMX)
    assert "Correct." in response.content.decode()
    assert Attempt.objects.count() == 2


def test_a_refusal_for_the_gap_sits_beside_the_feedback_already_shown(
    student_client, student, course
):
    question = q("hv-type1-host")  # min_seconds_between: 2; choice b is wrong
    student_client.post(submit_url(question), {"choice": "b"}, **HTMX)
    feedback = "Type 1 hypervisors typically run many guests at once."
    response = student_client.post(submit_url(question), {"choice": "c"}, **HTMX)
    body = response.content.decode()
    assert Attempt.objects.count() == 1
    refusal = body.index("Please wait 2 more seconds before trying again.")
    # The verdict and feedback on the answer that was checked are still there, right
    # after the refusal, and the choice just made stays selected to send again.
    result = body.index('class="question-result"')
    assert refusal < result
    assert "Not correct." in body[result:] and feedback in body[result:]
    assert "Licensing has nothing to do with the type" not in body  # c's feedback: unchecked
    assert re.search(r'<input[^>]*value="c"[^>]*checked', body)
    # Without JavaScript the refusal page shows the same.
    plain = student_client.post(submit_url(question), {"choice": "c"}).content.decode()
    assert "Please wait" in plain and feedback in plain


def test_a_correct_answer_closes_the_question(student_client, student, course):
    question = q("hv-tf-nested")
    record(student, question, correct_form(question), minutes_ago=5)
    response = student_client.post(submit_url(question), wrong_form(question), **HTMX)
    assert "You have already answered this question correctly." in response.content.decode()
    assert Attempt.objects.count() == 1


def test_attempts_are_append_only(student, course):
    attempt = record(student, q("hv-tf-nested"), {"choice": "true"})
    attempt.score = 1.0
    with pytest.raises(ValueError, match="append-only"):
        attempt.save()


def test_anonymous_cannot_submit(client, course):
    response = client.post(submit_url(q("hv-tf-nested")), {"choice": "false"})
    assert response.status_code == 302 and reverse("login") in response.url
    assert not Attempt.objects.exists()


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_an_answer_sent_after_the_session_ended_is_filled_back_in(client, student, course, htmx):
    """Nothing is recorded for nobody, but the typed answer survives the login."""
    question = q("hv-text-device")
    headers = HTMX if htmx else {}
    response = client.post(submit_url(question), {"value": "/dev/kvm-typed"}, **headers)
    if htmx:  # a whole-page visit to the login form, not the form swapped into the box
        assert response.status_code == 204
        login_url = response["HX-Redirect"]
    else:
        assert response.status_code == 302
        login_url = response.url
    assert login_url.startswith(reverse("login")) and "%23q-hv-text-device" in login_url
    assert not Attempt.objects.exists()
    client.post(login_url, {"username": student.username, "password": PASSWORD})
    page = client.get(quiz_url()).content.decode()
    slot = page.split('id="q-hv-text-device"')[1].split('class="question-slot"')[0]
    assert 'value="/dev/kvm-typed"' in slot and "filled back in" in slot
    # Shown once: the next visit is the ordinary page.
    assert "filled back in" not in client.get(quiz_url()).content.decode()
    assert not Attempt.objects.exists()


def test_an_anonymous_post_keeps_only_the_answer_fields(client, student, course):
    question = q("hv-text-device")
    junk = {f"junk{i}": "x" * 10_000 for i in range(20)}
    response = client.post(submit_url(question), {"value": "y" * 2000, "source": "lesson", **junk})
    lesson = question.quiz.lesson
    assert response.url.endswith(
        "?next="
        + f"{lesson.get_absolute_url()}#q-hv-text-device".replace("/", "%2F").replace("#", "%23")
    )
    kept = client.session["virtlab_pending_answer"]["form"]
    assert kept == {"value": ["y" * 500]}
    # Back on the lesson page after logging in, the answer is in the lesson's quiz.
    client.force_login(student)
    page = client.get(lesson.get_absolute_url()).content.decode()
    assert 'value="' + "y" * 500 + '"' in page and "filled back in" in page


def test_show_answers_after_last(student_client, student, course):
    question = q("hv-type1-host")
    Quiz.objects.filter(pk=question.quiz_id).update(
        show_answers="after_last", min_seconds_between=0, max_attempts=2
    )
    body = student_client.post(submit_url(question), {"choice": "b"}, **HTMX).content.decode()
    assert "Not correct." in body and "answer-reveal" not in body and "is-answer" not in body
    body = student_client.post(submit_url(question), {"choice": "c"}, **HTMX).content.decode()
    assert "answer-reveal" in body and "(correct answer)" in body and "Explanation" in body


def test_after_each_shows_the_answer_and_later_tries_are_practice(student_client, student, course):
    """Seeing the answer and then submitting it must not earn the mark."""
    question = q("hv-type1-host")
    Quiz.objects.filter(pk=question.quiz_id).update(
        show_answers="after_each", min_seconds_between=0, max_attempts=3
    )
    body = student_client.post(submit_url(question), {"choice": "b"}, **HTMX).content.decode()
    assert "Not correct." in body and "(correct answer)" in body and "Explanation" in body
    assert (
        "only your first try at a question counts"
        in student_client.get(quiz_url()).content.decode()
    )
    body = student_client.post(
        submit_url(question), correct_form(question), **HTMX
    ).content.decode()
    assert "Correct." in body
    assert "This was practice" in body and "stays at your first try's 0 %" in body
    assert "Check answer" not in body.split('id="q-hv-type1-host"')[-1].split("</form>")[0]
    attempts = Attempt.objects.filter(user=student)
    assert [(a.correct, a.practice) for a in attempts] == [(False, False), (True, True)]
    scores = lesson_scores([student.pk], [question.quiz.lesson_id])
    assert scores[(student.pk, question.quiz.lesson_id)].score == 0.0
    # Changing the policy afterwards does not turn the practice try into a scored one.
    Quiz.objects.filter(pk=question.quiz_id).update(show_answers="after_last")
    scores = lesson_scores([student.pk], [question.quiz.lesson_id])
    assert scores[(student.pk, question.quiz.lesson_id)].score == 0.0


def test_show_answers_never(student_client, student, course):
    question = q("hv-text-device")
    Quiz.objects.filter(pk=question.quiz_id).update(
        show_answers="never", min_seconds_between=0, max_attempts=1
    )
    body = student_client.post(
        submit_url(question), {"value": "/dev/nope"}, **HTMX
    ).content.decode()
    assert "Not correct." in body and "You have used all 1 attempt" in body
    assert "/dev/kvm" not in body and "Explanation" not in body


def test_hints_are_revealed_one_at_a_time(student_client, course):
    question = q("wv-numeric-consolidation")
    hints = question.spec["hints"]
    url = quiz_url("what-is-virtualization")
    page = student_client.get(url).content.decode()
    assert hints[0] not in page and "Show a hint (2 left)" in page
    fragment = student_client.get(f"{url}?hint={question.qid}&shown=1", **HTMX).content.decode()
    assert "<html" not in fragment and hints[0] in fragment and hints[1] not in fragment
    assert "Show a hint (1 left)" in fragment
    full = student_client.get(f"{url}?hint={question.qid}&shown=2").content.decode()
    assert (
        hints[0] in full
        and hints[1] in full
        and "Show a hint" not in full.split(f'id="q-{question.qid}"')[1].split("question-slot")[0]
    )


def test_ordering_and_matching_partial_credit_end_to_end(student_client, student, course):
    order = q("hv-order-vm-exit")
    items = order.spec["items"]
    swapped = [items[1], items[0], *items[2:]]  # 5 of 6 pairs in order
    from courseware.quizzes.grading import item_key

    form = {f"pos-{item_key(order.qid, t)}": str(i + 1) for i, t in enumerate(swapped)}
    body = student_client.post(submit_url(order), form, **HTMX).content.decode()
    assert "Partly correct: 83 %." in body
    assert Attempt.objects.get(qid=order.qid).score == pytest.approx(5 / 6)


def test_outline_shows_lesson_scores_mastery_and_overall(student_client, student, course, settings):
    lesson = Lesson.objects.get(slug=LESSON)
    questions = list(Question.objects.filter(quiz__lesson=lesson).order_by("order"))
    for question in questions:
        if "measure" not in question.spec:
            record(student, question, correct_form(question), minutes_ago=1)
    expected = round(100 * (len(questions) - 1) / len(questions))  # the prediction has no run yet
    body = student_client.get(reverse("courseware:home")).content.decode()
    assert f'data-score="{expected}">Quiz {expected} % · mastered' in body
    # Lessons whose quiz the student has not touched show no "Quiz 0 %" badge.
    assert 'data-score="0">Quiz 0 %' not in body
    lessons_with_quiz = Quiz.objects.count()
    overall = round(expected / lessons_with_quiz)
    assert (
        f"Your quiz score over the course: <strong>{overall} %</strong> · 1 of {lessons_with_quiz} lessons mastered."
        in body
    )
    settings.VIRTLAB_MASTERY_THRESHOLD = 0.95
    body = student_client.get(reverse("courseware:home")).content.decode()
    assert "· mastered" not in body


def test_own_attempts_page_lists_only_mine(student_client, student, instructor, course):
    record(student, q("hv-tf-nested"), {"choice": "false"})
    record(instructor, q("hv-text-device"), {"value": "x"})
    body = student_client.get(reverse("courseware:my_attempts")).content.decode()
    assert "hv-tf-nested" in body and "hv-text-device" not in body


def test_a_partly_right_multiple_choice_says_how_many_picks_were_right(student_client, course):
    question = q("hv-select-type2")  # a, b and c are correct
    body = student_client.post(
        submit_url(question), {"choice": ["a", "d"]}, **HTMX
    ).content.decode()
    assert "1 pick right (of 3 correct choices), 1 pick wrong" in body
    assert "each wrong pick cancels a right one" in body
    assert "is-correct" not in body  # which ones stays hidden until the policy shows it
