"""Grading per question type (pure functions; no database)."""

import pytest

from courseware.quizzes.grading import AnswerError, item_key, shuffled
from courseware.quizzes.types import grade, parse_answer
from courseware.quizzes.types import text as text_type
from courseware.quizzes.types.numeric import format_measured, format_number
from courseware.quizzes.types.ordering import ordering_score
from courseware.quizzes.types.text import MAX_TEXT_ANSWER

SINGLE = {
    "id": "s",
    "type": "single",
    "prompt": "?",
    "choices": [
        {"id": "a", "text": "A", "correct": True, "feedback": "Yes."},
        {"id": "b", "text": "B", "feedback": "No, B is wrong."},
        {"id": "c", "text": "C"},
    ],
}
MULTIPLE = {
    "id": "m",
    "type": "multiple",
    "prompt": "?",
    "choices": [
        {"id": "a", "text": "A", "correct": True},
        {"id": "b", "text": "B", "correct": True},
        {"id": "c", "text": "C", "correct": True},
        {"id": "d", "text": "D", "feedback": "D is a distractor."},
        {"id": "e", "text": "E"},
    ],
}
NUMERIC_ABS = {
    "id": "n",
    "type": "numeric",
    "prompt": "?",
    "answer": 10,
    "tolerance": 0.5,
    "units": "GiB",
}
NUMERIC_REL = {**NUMERIC_ABS, "tolerance": 0.1, "tolerance_mode": "relative"}
ORDERING = {"id": "o", "type": "ordering", "prompt": "?", "items": ["one", "two", "three", "four"]}
MATCHING = {
    "id": "x",
    "type": "matching",
    "prompt": "?",
    "pairs": [
        {"left": "ls", "right": "list"},
        {"left": "cd", "right": "change dir"},
        {"left": "rm", "right": "remove"},
    ],
}


def form(**fields):
    return {k: v if isinstance(v, list) else [v] for k, v in fields.items()}


def graded(spec, measured=None, **fields):
    return grade(spec, parse_answer(spec, form(**fields)), measured=measured)


# --- single, multiple, true/false --------------------------------------------------


def test_single_right_wrong_and_feedback():
    right = graded(SINGLE, choice="a")
    assert (right.score, right.correct, right.feedback) == (1.0, True, ("Yes.",))
    wrong = graded(SINGLE, choice="b")
    assert (wrong.score, wrong.correct, wrong.feedback) == (0.0, False, ("No, B is wrong.",))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Choose an answer."),
        ({"choice": "  "}, "Choose an answer."),
        ({"choice": "z"}, "not one of"),
    ],
)
def test_single_rejects_empty_and_unknown(fields, message):
    with pytest.raises(AnswerError, match=message):
        parse_answer(SINGLE, form(**fields))


@pytest.mark.parametrize(
    ("picked", "score"),
    [
        (["a", "b", "c"], 1.0),  # all right
        (["a", "b"], 2 / 3),  # one missed
        (["a", "b", "c", "d"], 2 / 3),  # all right plus one wrong: (3 - 1) / 3
        (["a", "d"], 0.0),  # (1 - 1) / 3
        (["d", "e"], 0.0),  # floored at 0, never negative
        (["a"], 1 / 3),
    ],
)
def test_multiple_partial_credit(picked, score):
    result = graded(MULTIPLE, choice=picked)
    assert result.score == pytest.approx(score)
    assert result.correct is (score == 1.0)


def test_multiple_feedback_for_picked_choices_only_and_validation():
    assert graded(MULTIPLE, choice=["a", "d"]).feedback == ("D is a distractor.",)
    with pytest.raises(AnswerError, match="Select at least one"):
        parse_answer(MULTIPLE, form())
    with pytest.raises(AnswerError, match="not one of"):
        parse_answer(MULTIPLE, form(choice=["a", "zz"]))


def test_true_false():
    spec = {"id": "t", "type": "true_false", "prompt": "?", "answer": False}
    assert graded(spec, choice="false").correct
    assert not graded(spec, choice="true").correct
    for bad in ({}, {"choice": "yes"}, {"choice": "False"}):
        with pytest.raises(AnswerError, match="True or False"):
            parse_answer(spec, form(**bad))


# --- numeric -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "correct"),
    [
        ("10", True),
        ("9.5", True),  # the lower bound itself counts
        ("10.5", True),  # and the upper bound
        ("10.5000001", False),
        ("9.49", False),
        ("10,2", True),  # a decimal comma
        ("10 GiB", True),  # the question's units may be typed
        ("1e1", True),
        ("-10", False),
    ],
)
def test_numeric_absolute_tolerance_bounds(raw, correct):
    assert graded(NUMERIC_ABS, value=raw).correct is correct


@pytest.mark.parametrize(
    ("raw", "correct"), [("9", True), ("11", True), ("8.99", False), ("11.01", False), ("10", True)]
)
def test_numeric_relative_tolerance_bounds(raw, correct):
    assert graded(NUMERIC_REL, value=raw).correct is correct


def test_numeric_zero_tolerance_and_negative_target():
    exact = {"id": "e", "type": "numeric", "prompt": "?", "answer": 2, "tolerance": 0}
    assert graded(exact, value="2").correct and graded(exact, value="2.0").correct
    assert not graded(exact, value="2.001").correct
    negative = {**NUMERIC_REL, "answer": -10}
    assert graded(negative, value="-9").correct and not graded(negative, value="9").correct


@pytest.mark.parametrize(
    "raw", ["", "   ", "ten", "1..2", "nan", "inf", "1e999", "0x10", "1" * 41, "5 MiB"]
)
def test_numeric_malformed_answers_are_rejected(raw):
    with pytest.raises(AnswerError):
        parse_answer(NUMERIC_ABS, form(value=raw))


def test_a_decimal_comma_is_a_point_but_a_thousands_comma_is_refused():
    assert parse_answer(NUMERIC_ABS, form(value="2,5")) == {"value": 2.5, "raw": "2,5"}
    assert parse_answer(NUMERIC_ABS, form(value="0,125"))["value"] == 0.125
    with pytest.raises(AnswerError, match="could mean two numbers"):
        parse_answer(NUMERIC_ABS, form(value="1,500"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1500, "1500"), (999.9, "999.9"), (2.345, "2.345"), (0.1 + 0.2, "0.3"), (1e-7, "1e-07")],
)
def test_numbers_are_shown_as_they_can_be_typed_back(value, shown):
    assert format_number(value) == shown
    assert parse_answer(NUMERIC_ABS, form(value=shown))["value"] == pytest.approx(value)


def test_measured_figures_are_shown_to_four_digits():
    assert [format_measured(v) for v in (7.73456123412, 54.1, 0.030712, 12345.6)] == [
        "7.735",
        "54.1",
        "0.03071",
        "12346",
    ]


def test_prediction_is_pending_without_measurement_and_scored_against_it():
    spec = {
        "id": "p",
        "type": "numeric",
        "prompt": "?",
        "measure": {"lab": "boot-race", "key": "k"},
        "tolerance": 0.5,
        "tolerance_mode": "relative",
    }
    answer = parse_answer(spec, form(value="60"))
    pending = grade(spec, answer)
    assert pending.score is None and not pending.correct
    assert grade(spec, answer, measured=100).correct  # 60 is within 50 % of 100
    assert grade(spec, answer, measured=120).correct  # exactly the bound: 120 × 0.5 = 60
    assert not grade(spec, answer, measured=121).correct


# --- text ----------------------------------------------------------------------------


def test_text_exact_nocase_and_whitespace():
    exact = {"id": "t", "type": "text", "prompt": "?", "answers": ["/dev/kvm"]}
    assert graded(exact, value="  /dev/kvm ").correct
    assert not graded(exact, value="/DEV/KVM").correct
    nocase = {**exact, "answers": ["Tiny Code Generator"], "match": "nocase"}
    assert graded(nocase, value="tiny   code generator").correct
    assert not graded(nocase, value="tiny code").correct


def test_a_regex_match_that_runs_too_long_is_cut_off_and_not_correct(monkeypatch):
    """The backstop for a slow pattern the import check missed: a timeout, not a hang."""
    spec = {"id": "r", "type": "text", "prompt": "?", "answers": [r"(x+x+)+y"], "match": "regex"}
    assert grade(spec, {"text": "xxy"}).correct is True
    # A zero budget times out at once: the same matching answer is then not correct.
    monkeypatch.setattr(text_type, "REGEX_TIMEOUT_SECONDS", 0.0)
    assert grade(spec, {"text": "xxy"}).correct is False


def test_text_regex_full_match():
    spec = {"id": "r", "type": "text", "prompt": "?", "answers": [r"qemu-?img"], "match": "regex"}
    assert graded(spec, value="qemu-img").correct and graded(spec, value="qemuimg").correct
    assert not graded(spec, value="run qemu-img now").correct  # the whole answer must match


def test_text_empty_and_overlong_answers_are_rejected():
    spec = {"id": "t", "type": "text", "prompt": "?", "answers": ["x"]}
    with pytest.raises(AnswerError, match="Type an answer"):
        parse_answer(spec, form(value="   "))
    with pytest.raises(AnswerError, match="under 200"):
        parse_answer(spec, form(value="a" * (MAX_TEXT_ANSWER + 1)))
    # Grading refuses oversized text even if it was stored some other way.
    assert not grade(spec, {"text": "x" * 10_000}).correct


# --- ordering and matching -----------------------------------------------------------


def positions(spec, order):
    return {f"pos-{item_key(spec['id'], text)}": str(order.index(text) + 1) for text in order}


def test_ordering_scores_pairs_in_the_right_relative_order():
    items = ORDERING["items"]
    assert graded(ORDERING, **positions(ORDERING, items)).correct
    swapped = ["two", "one", "three", "four"]  # 5 of 6 pairs right
    assert graded(ORDERING, **positions(ORDERING, swapped)).score == pytest.approx(5 / 6)
    assert graded(ORDERING, **positions(ORDERING, items[::-1])).score == 0.0
    moved = ["four", "one", "two", "three"]  # 3 of 6 pairs right
    assert ordering_score(moved, items) == pytest.approx(0.5)


def test_ordering_rejects_missing_duplicate_and_out_of_range_positions():
    fields = positions(ORDERING, ORDERING["items"])
    first = next(iter(fields))
    for bad, message in (("", "every step"), ("9", "from 1 to 4"), ("x", "from 1 to 4")):
        with pytest.raises(AnswerError, match=message):
            parse_answer(ORDERING, {**{k: [v] for k, v in fields.items()}, first: [bad]})
    duplicate = {k: ["1"] for k in fields}
    with pytest.raises(AnswerError, match="different position"):
        parse_answer(ORDERING, duplicate)


@pytest.mark.parametrize("bad", ["\u00b2", "1\u00b2", "9" * 5000, "\u0663"])
def test_ordering_positions_int_would_refuse_are_answer_errors(bad):
    # "²" passes str.isdigit but not int(); 5000 digits pass isdigit but exceed int()'s limit.
    fields = {k: [v] for k, v in positions(ORDERING, ORDERING["items"]).items()}
    with pytest.raises(AnswerError, match="from 1 to 4"):
        parse_answer(ORDERING, {**fields, next(iter(fields)): [bad]})


def match_fields(spec, mapping):
    return {
        f"match-{item_key(spec['id'], left)}": item_key(spec["id"], right)
        for left, right in mapping.items()
    }


def test_matching_partial_credit_and_validation():
    right = {p["left"]: p["right"] for p in MATCHING["pairs"]}
    assert graded(MATCHING, **match_fields(MATCHING, right)).correct
    one_wrong = {**right, "ls": "remove", "rm": "list"}
    assert graded(MATCHING, **match_fields(MATCHING, one_wrong)).score == pytest.approx(1 / 3)
    with pytest.raises(AnswerError, match="every item"):
        parse_answer(MATCHING, form(**dict(list(match_fields(MATCHING, right).items())[:2])))
    with pytest.raises(AnswerError, match="not one of"):
        parse_answer(
            MATCHING,
            form(**{**match_fields(MATCHING, right), f"match-{item_key('x', 'ls')}": "bogus"}),
        )


def test_display_order_depends_on_the_student_not_on_the_correct_order():
    items = ORDERING["items"]
    assert shuffled("o", items, 7) == shuffled("o", list(reversed(items)), 7)
    orders = {tuple(shuffled("o", items, seed)) for seed in range(20)}
    assert len(orders) > 1  # different students see different orders
    assert item_key("o", "one") != item_key("p", "one")
