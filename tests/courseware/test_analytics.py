"""Question analytics on the seeded class, with every expected figure worked out by hand."""

import math

import pytest
from django.urls import reverse

from courseware.classes.analytics import class_analytics, pearson

from .quiz_helpers import seed_class


@pytest.fixture
def stats(course, instructor):
    classroom, _ = seed_class(instructor)
    by_qid = {}
    for block in class_analytics(classroom):
        for item in block.questions:
            by_qid[item.question.qid] = item
    return classroom, by_qid


def test_pearson_by_hand():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None  # no spread
    assert pearson([1], [1]) is None


def test_single_choice_question(stats):
    _, by_qid = stats
    s = by_qid["hv-type1-host"]
    # ana a, ben a, cy b then c, dee b; eve is not in the class.
    assert (s.attempts, s.students) == (5, 4)
    assert s.first_try_correct == pytest.approx(0.5)
    assert s.mean_score == pytest.approx(0.5)
    # x = first tries [1, 1, 0, 0]; rest of quiz (tf + multiple + text) y = [3, 1 + 2/3, 2, 1].
    # Adding the text question (1 for all) shifts y by a constant, so r is that of
    # y' = [2, 2/3, 1, 0]: sxy = 5/6, sxx = 1, syy = 25/12 → r = √12 / 6.
    assert s.discrimination == pytest.approx(math.sqrt(12) / 6)
    assert s.common_wrong == "It can only run one guest at a time" and s.common_wrong_count == 2
    assert s.flags == []


def test_true_false_question(stats):
    _, by_qid = stats
    s = by_qid["hv-tf-nested"]
    assert (s.attempts, s.students) == (5, 4)
    assert s.first_try_correct == pytest.approx(0.5)  # ana and cy; ben only on his second try
    # x = [1, 0, 1, 0]; y' = [2, 5/3, 0, 0]: sxy = 1/6, syy = 41/12 → r = (1/6) / √(41/12).
    assert s.discrimination == pytest.approx((1 / 6) / math.sqrt(41 / 12))
    assert (s.common_wrong, s.common_wrong_count) == ("True", 2)


def test_multiple_choice_question_with_partial_credit(stats):
    _, by_qid = stats
    s = by_qid["hv-select-type2"]
    assert (s.attempts, s.students) == (3, 3)
    assert s.first_try_correct == pytest.approx(1 / 3)
    assert s.mean_score == pytest.approx((1 + 2 / 3 + 0) / 3)
    # x = [1, 2/3, 0]; y' = [2, 1, 1]: sxy = 4/9, sxx = 42/81, syy = 6/9 → r = √(4/7).
    assert s.discrimination == pytest.approx(math.sqrt(4 / 7))
    assert s.common_wrong == "VMware ESXi" and s.common_wrong_count == 1


def test_too_easy_and_older_versions(stats):
    _, by_qid = stats
    s = by_qid["hv-text-device"]
    assert (s.attempts, s.students, s.older_version_attempts) == (4, 4, 1)
    assert s.first_try_correct == 1.0 and s.discrimination is None  # everyone right: no spread
    assert s.flags == ["too easy"]


def test_too_hard_and_negative_discrimination(stats):
    _, by_qid = stats
    hard = by_qid["wv-tf-minutes"]
    # Only dee is right, and dee is the one who got the other question wrong: r = −1.
    assert hard.first_try_correct == pytest.approx(0.25)
    assert hard.discrimination == pytest.approx(-1.0)
    assert hard.flags == ["too hard", "negative discrimination"]
    other = by_qid["wv-text-host"]
    assert other.first_try_correct == pytest.approx(0.75)
    assert other.flags == ["negative discrimination"]
    assert other.common_wrong == "server"


def test_unanswered_questions_have_no_figures(stats):
    _, by_qid = stats
    s = by_qid["hv-kvm-debate"]
    assert (s.attempts, s.students, s.first_try_correct, s.mean_score, s.discrimination) == (
        0,
        0,
        None,
        None,
        None,
    )
    assert s.flags == []


def test_analytics_page_shows_the_figures(instructor_client, stats):
    classroom, _ = stats
    page = instructor_client.get(
        reverse("courseware:class_analytics", args=[classroom.pk])
    ).content.decode()
    row = page.split('data-qid="hv-type1-host"')[1].split("</tr>")[0]
    assert '<td class="num">5</td>' in row and '<td class="num">4</td>' in row
    assert "50 %" in row and "0.50" in row and "0.58" in row
    assert "It can only run one guest at a time <small>(2×)</small>" in row
    hard = page.split('data-qid="wv-tf-minutes"')[1].split("</tr>")[0]
    assert '<span class="flag">too hard</span>' in hard and "negative discrimination" in hard
    assert "1 attempt on earlier versions not counted" in page
