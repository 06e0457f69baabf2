"""The "fill in several blanks" question type: its file checks, grading and page.

It was added as one module (courseware/quizzes/types/blanks.py), one template and
this file, plus its line in the registry: the proof that a question type is a unit.
"""

import pytest
import yaml
from django.urls import reverse

from courseware.coursefiles.quiz_files import QuizFileError, parse_quiz
from courseware.models import Attempt, Question, Quiz
from courseware.quizzes.grading import AnswerError, item_key
from courseware.quizzes.types import ANSWER_FIELD_RE, get_type, grade, parse_answer

from .quiz_helpers import HTMX

BLANKS = {
    "id": "hv-blanks",
    "type": "blanks",
    "prompt": "Fill in the blanks.",
    "match": "nocase",
    "blanks": [
        {"label": "A hypervisor on bare metal is type", "answers": ["1", "one"]},
        {"label": "One hosted by an operating system is type", "answers": ["2", "two"]},
    ],
    "explanation": "Type 1 runs on the hardware; type 2 on a host OS.",
}


def field(label: str) -> str:
    return f"blank-{item_key(BLANKS['id'], label)}"


def form(first: str, second: str) -> dict[str, list[str]]:
    labels = [b["label"] for b in BLANKS["blanks"]]
    return {field(labels[0]): [first], field(labels[1]): [second]}


def quiz_text(question: dict) -> str:
    return yaml.safe_dump({"questions": [question]}, sort_keys=False)


def test_a_valid_blanks_question_is_accepted_as_written():
    spec = parse_quiz(quiz_text(BLANKS), "x/quiz.yaml")
    assert spec.questions == [BLANKS]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"blanks": []}, "'blanks' must be a list of 1 to 10 blanks"),
        (
            {"blanks": [{"label": "Only a label"}]},
            "blank 1 must be {label: text, answers: [texts]}",
        ),
        ({"match": "regex"}, "'match' must be one of exact, nocase"),
        (
            {"blanks": [{"label": "Same", "answers": ["a"]}, {"label": "Same", "answers": ["b"]}]},
            "every 'label' in 'blanks' must be different",
        ),
        ({"answers": ["x"]}, "unknown field(s) for a blanks question: answers"),
    ],
)
def test_a_malformed_blanks_question_is_named_with_the_reason(change, reason):
    with pytest.raises(QuizFileError) as caught:
        parse_quiz(quiz_text({**BLANKS, **change}), "x/quiz.yaml")
    assert any(f"question 'hv-blanks': {reason}" in p for p in caught.value.problems)


def test_each_blank_counts_the_same_and_case_and_spaces_do_not_matter():
    assert grade(BLANKS, parse_answer(BLANKS, form(" ONE ", "2"))).score == 1.0
    half = grade(BLANKS, parse_answer(BLANKS, form("1", "3")))
    assert (half.score, half.correct) == (0.5, False)
    assert grade(BLANKS, parse_answer(BLANKS, form("3", "1"))).score == 0.0


def test_exact_matching_is_the_default():
    exact = {key: value for key, value in BLANKS.items() if key != "match"}
    assert grade(exact, parse_answer(exact, form("One", "two"))).score == 0.5


def test_every_blank_must_be_filled():
    with pytest.raises(AnswerError, match="Fill in every blank"):
        parse_answer(BLANKS, form("1", "  "))


def test_wrong_parts_name_the_blank_and_what_was_typed():
    answer = parse_answer(BLANKS, form("1", "Three"))
    assert get_type("blanks").wrong_parts(BLANKS, answer) == [
        "One hosted by an operating system is type → three"
    ]


def test_its_fields_are_kept_for_an_answer_typed_after_the_session_ended():
    assert ANSWER_FIELD_RE.match(field(BLANKS["blanks"][0]["label"]))


@pytest.fixture
def blanks_question(course):
    quiz = Quiz.objects.get(lesson__slug="hypervisor-types")
    quiz.max_attempts, quiz.min_seconds_between = 1, 0
    quiz.show_answers = Quiz.ShowAnswers.AFTER_LAST
    quiz.save()
    return Question.objects.create(
        quiz=quiz, qid=BLANKS["id"], type="blanks", spec=BLANKS, order=99
    )


def test_the_page_shows_labelled_boxes_and_no_answer_before_one_is_given(
    student_client, blanks_question
):
    page = student_client.get(reverse("courseware:quiz", args=["hypervisor-types"]))
    html = page.content.decode()
    label = BLANKS["blanks"][0]["label"]
    assert f'<label for="q-hv-blanks-{field(label)}">{label}</label>' in html
    assert f'name="{field(label)}"' in html and "Fill in the blanks" in html
    assert "Accepted:" not in html and "Type 1 runs on the hardware" not in html


def test_an_answer_is_graded_and_then_the_accepted_texts_are_shown(
    student, student_client, blanks_question
):
    url = reverse("courseware:question_submit", args=["hypervisor-types", "hv-blanks"])
    response = student_client.post(url, {k: v[0] for k, v in form("one", "3").items()}, **HTMX)
    html = response.content.decode()
    assert Attempt.objects.get(user=student, qid="hv-blanks").score == 0.5
    assert "Partly correct: 50 %." in html
    assert "Accepted: <strong>2</strong>, <strong>two</strong>" in html
    assert "Type 1 runs on the hardware" in html
