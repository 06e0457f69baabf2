"""Question analytics on the seeded class, with every expected figure worked out by hand."""

import math
import re

import pytest
from django.urls import reverse

from courseware.classes.analytics import class_analytics, filtered_analytics, pearson
from courseware.quizzes.scores import lesson_scores

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
    assert s.first_try_mean == pytest.approx(0.5)
    # cy's second try (c) is wrong too: finally ana 1, ben 1, cy 0, dee 0.
    assert (s.final_mean, s.final_students) == (pytest.approx(0.5), 4)
    # x = first tries [1, 1, 0, 0]; rest of quiz (tf + multiple + text) y = [3, 1 + 2/3, 2, 1].
    # Adding the text question (1 for all) shifts y by a constant, so r is that of
    # y' = [2, 2/3, 1, 0]: sxy = 5/6, sxx = 1, syy = 25/12 → r = √12 / 6.
    assert s.discrimination == pytest.approx(math.sqrt(12) / 6)
    # b from cy and dee; c from cy only.
    assert s.common_wrong == "It can only run one guest at a time" and s.common_wrong_students == 2
    assert s.flags == ["common wrong answer"]
    assert s.title == "What defines a type 1 hypervisor?"


def test_true_false_question(stats):
    _, by_qid = stats
    s = by_qid["hv-tf-nested"]
    assert (s.attempts, s.students) == (5, 4)
    assert s.first_try_correct == pytest.approx(0.5)  # ana and cy; ben only on his second try
    # The quiz counts the best try (after_last): ben's second try earns him the point,
    # so the final score is 3 of 4 while the first-try mean is 2 of 4.
    assert s.first_try_mean == pytest.approx(0.5)
    assert s.final_mean == pytest.approx(0.75)
    # x = [1, 0, 1, 0]; y' = [2, 5/3, 0, 0]: sxy = 1/6, syy = 41/12 → r = (1/6) / √(41/12).
    assert s.discrimination == pytest.approx((1 / 6) / math.sqrt(41 / 12))
    assert (s.common_wrong, s.common_wrong_students) == ("True", 2)  # ben and dee


def test_multiple_choice_question_with_partial_credit(stats):
    _, by_qid = stats
    s = by_qid["hv-select-type2"]
    assert (s.attempts, s.students) == (3, 3)
    assert s.first_try_correct == pytest.approx(1 / 3)
    assert s.first_try_mean == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert (s.final_mean, s.final_students) == (pytest.approx((1 + 2 / 3 + 0) / 3), 3)
    # x = [1, 2/3, 0]; y' = [2, 1, 1]: sxy = 4/9, sxx = 42/81, syy = 6/9 → r = √(4/7).
    assert s.discrimination == pytest.approx(math.sqrt(4 / 7))
    assert s.common_wrong == "VMware ESXi" and s.common_wrong_students == 1
    assert "common wrong answer" not in s.flags  # one student is not "common"


def test_too_easy_and_older_versions(stats):
    _, by_qid = stats
    s = by_qid["hv-text-device"]
    assert (s.attempts, s.students, s.older_version_attempts) == (4, 4, 1)
    assert s.first_try_correct == 1.0 and s.discrimination is None  # everyone right: no spread
    assert s.final_mean == 1.0
    assert s.flags == ["too easy"]


def test_too_hard_and_negative_discrimination(stats):
    _, by_qid = stats
    hard = by_qid["wv-tf-minutes"]
    # Only dee is right, and dee is the one who got the other question wrong: r = −1.
    assert hard.first_try_correct == pytest.approx(0.25)
    assert hard.discrimination == pytest.approx(-1.0)
    # ana, ben and cy all answered True.
    assert hard.flags == ["too hard", "negative discrimination", "common wrong answer"]
    other = by_qid["wv-text-host"]
    assert other.first_try_correct == pytest.approx(0.75)
    assert other.flags == ["negative discrimination"]
    assert other.common_wrong == "server"


def test_unanswered_questions_have_no_figures(stats):
    _, by_qid = stats
    s = by_qid["hv-kvm-debate"]
    assert (s.attempts, s.students, s.first_try_correct, s.first_try_mean) == (0, 0, None, None)
    assert (s.final_mean, s.final_students, s.discrimination) == (None, 0, None)
    assert s.flags == []


def test_final_scores_add_up_to_the_gradebook(stats):
    """What students finally earned, per question, sums to their lesson quiz scores."""
    classroom, by_qid = stats
    user_ids = list(classroom.memberships.values_list("user_id", flat=True))
    for block in class_analytics(classroom):
        lesson = block.lesson
        scores = lesson_scores(user_ids, [lesson.pk])
        earned = sum(scores[(u, lesson.pk)].score for u in user_ids) * len(block.questions)
        points = sum((s.final_mean or 0) * s.final_students for s in block.questions)
        assert points == pytest.approx(earned), lesson.slug


def test_summary_names_the_hardest_questions_and_the_warning_signs(stats):
    classroom, _ = stats
    figures = filtered_analytics(classroom)
    hardest = [s.question.qid for s in figures.summary.hardest]
    # Final means: wv-tf-minutes 1/4 (first-try 25 %), wv-text-host 3/4 (75 %);
    # hypervisor-types: type1-host 1/2, select-type2 5/9, tf-nested 3/4 (50 %).
    assert hardest == [
        "wv-tf-minutes",
        "hv-type1-host",
        "hv-select-type2",
        "hv-tf-nested",
        "wv-text-host",
    ]
    assert [s.question.qid for s in figures.summary.negative] == ["wv-tf-minutes", "wv-text-host"]
    common = [(s.question.qid, s.common_wrong_students) for s in figures.summary.common_wrong]
    assert common[:3] == [("wv-tf-minutes", 3), ("hv-tf-nested", 2), ("hv-type1-host", 2)]


def test_filters_by_lesson_and_flag(stats):
    classroom, by_qid = stats
    everything = filtered_analytics(classroom)
    assert everything.shown == everything.total == len(by_qid)
    one = filtered_analytics(classroom, lesson="what-is-virtualization")
    assert [block.lesson.slug for block in one.lessons] == ["what-is-virtualization"]
    assert one.total == one.shown < len(by_qid)
    # The summary follows the lesson: nothing from hypervisor-types.
    assert {s.lesson.slug for s in one.summary.hardest} == {"what-is-virtualization"}
    flagged = filtered_analytics(classroom, flag="negative-discrimination")
    assert [s.question.qid for b in flagged.lessons for s in b.questions] == [
        "wv-tf-minutes",
        "wv-text-host",
    ]
    both = filtered_analytics(classroom, lesson="hypervisor-types", flag="common-wrong")
    assert [s.question.qid for b in both.lessons for s in b.questions] == [
        "hv-type1-host",
        "hv-tf-nested",
    ]
    in_lesson = [s for s in by_qid.values() if s.lesson.slug == "hypervisor-types"]
    assert both.total == len(in_lesson) and both.shown == 2
    # Unknown values are ignored, not an empty page.
    odd = filtered_analytics(classroom, lesson="no-such-lesson", flag="<script>")
    assert (odd.lesson, odd.flag, odd.shown) == ("", "", len(by_qid))


def _row(page: str, qid: str) -> str:
    return page.split(f'data-qid="{qid}"')[1].split("</tr>")[0]


def test_analytics_page_shows_the_figures(instructor_client, stats):
    classroom, _ = stats
    page = instructor_client.get(
        reverse("courseware:class_analytics", args=[classroom.pk])
    ).content.decode()
    row = _row(page, "hv-type1-host")
    # Named by its text, the id small beside it.
    assert '<span class="question-title">What defines a type 1 hypervisor?</span>' in row
    assert '<code class="qid">hv-type1-host</code>' in row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    # Students, final score, first-try correct, first-try mean, discrimination, …, attempts
    assert cells[:5] == ["4", "50 %", "50 %", "50 %", "0.58"]
    assert cells[-1] == "5"
    assert "It can only run one guest at a time <small>(2 students)</small>" in row
    tf = re.findall(r"<td[^>]*>(.*?)</td>", _row(page, "hv-tf-nested"), re.S)
    assert tf[1:4] == ["75 %", "50 %", "50 %"]  # final ≠ first try, and the page says which
    assert "what students finally earned on a question as the quiz counts it" in page
    hard = _row(page, "wv-tf-minutes")
    assert '<span class="flag">too hard</span>' in hard and "negative discrimination" in hard
    assert "1 attempt on earlier versions not counted" in page
    # The summary comes before the full list and links into it.
    summary = page.split('id="summary-title"')[1].split('id="all-title"')[0]
    assert summary.index("Hardest questions") < summary.index("Negative discrimination")
    assert 'href="#q-wv-tf-minutes"' in summary and 'id="q-wv-tf-minutes"' in page
    assert '“True” <span class="figure">3 students</span>' in summary
    answers = reverse("courseware:class_question", args=[classroom.pk, "hv-type1-host"])
    assert f'href="{answers}"' in row


def test_analytics_page_filters_with_plain_get_parameters(instructor_client, stats):
    classroom, _ = stats
    url = reverse("courseware:class_analytics", args=[classroom.pk])
    page = instructor_client.get(url).content.decode()
    assert '<form class="analytics-filter card" method="get"' in page
    assert '<option value="negative-discrimination">Negative discrimination</option>' in page
    page = instructor_client.get(
        url, {"lesson": "hypervisor-types", "flag": "hard"}
    ).content.decode()
    assert '<option value="hypervisor-types" selected>' in page
    assert '<option value="hard" selected>' in page
    assert "No question matches." in page and 'data-qid="' not in page
    page = instructor_client.get(url, {"flag": "hard"}).content.decode()
    assert re.findall(r'data-qid="([^"]+)"', page) == ["wv-tf-minutes"]
    assert "Questions flagged “too hard”" in page and "1 of " in page
    assert instructor_client.get(url, {"lesson": "x" * 300, "flag": "'"}).status_code == 200


def test_summary_links_reach_their_row_whatever_the_flag(instructor_client, stats):
    classroom, _ = stats
    url = reverse("courseware:class_analytics", args=[classroom.pk])

    def summary(params):
        page = instructor_client.get(url, params).content.decode()
        return page.split('id="summary-title"')[1].split('id="all-title"')[0]

    assert 'href="#q-wv-tf-minutes"' in summary({})
    assert 'href="#q-wv-tf-minutes"' in summary({"lesson": "what-is-virtualization"})
    # With a flag the row may be hidden: the link leads to the unflagged list.
    assert 'href="?#q-hv-type1-host"' in summary({"flag": "easy"})
    flagged = summary({"lesson": "hypervisor-types", "flag": "easy"})
    assert 'href="?lesson=hypervisor-types#q-hv-type1-host"' in flagged
