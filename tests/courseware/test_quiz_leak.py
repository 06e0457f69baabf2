"""Correct answers never reach the browser before the quiz's policy allows.

Two checks over every quiz page (lesson page and quiz page, anonymous and signed in):

1. Invariance: render the quiz, then change every question's *answer* in the
   database (another choice correct, other numbers and texts, the items in another
   order, the matches rotated) and render again. The HTML must be byte-identical, so
   nothing in it — text, attributes, data-*, ids, input order — depends on the answer.
2. Nothing the policy hides is present: explanations, per-choice feedback, hints, the
   accepted texts, and the markers used when answers are revealed.
"""

import re

import pytest
from django.test import Client

from courseware.models import Lesson, Question

from .quiz_helpers import HTMX

QUIZ_SECTION = re.compile(r'<section class="quiz".*?</section>', re.S)
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=)"[^"]+"')
REVEAL_MARKERS = (
    "answer-reveal",
    "is-answer",
    "(correct answer)",
    "Correct answer",
    "Correct order",
    "data-correct",
    "application/json",
)


def quiz_section(client: Client, url: str, **extra) -> str:
    response = client.get(url, **extra)
    assert response.status_code == 200
    match = QUIZ_SECTION.search(response.content.decode())
    assert match, url
    return CSRF.sub(r'\1"…"', match.group(0))


def mutate(spec: dict) -> dict:
    """The same question with different correct answers."""
    spec = {**spec}
    kind = spec["type"]
    if kind == "single":
        flags = [bool(c.get("correct")) for c in spec["choices"]]
        moved = flags[-1:] + flags[:-1]
        spec["choices"] = [{**c, "correct": f} for c, f in zip(spec["choices"], moved, strict=True)]
    elif kind == "multiple":
        spec["choices"] = [{**c, "correct": not c.get("correct")} for c in spec["choices"]]
    elif kind == "true_false":
        spec["answer"] = not spec["answer"]
    elif kind == "numeric" and "answer" in spec:
        spec["answer"] = spec["answer"] * 3 + 7
    elif kind == "text":
        spec["answers"] = ["zz-mutated-answer"]
    elif kind == "ordering":
        spec["items"] = spec["items"][::-1]
    elif kind == "matching":
        rights = [p["right"] for p in spec["pairs"]]
        rights = rights[1:] + rights[:1]
        spec["pairs"] = [
            {"left": p["left"], "right": r} for p, r in zip(spec["pairs"], rights, strict=True)
        ]
    return spec


def hidden_fragments(question: Question) -> list[str]:
    """Text that must not appear before an answer is given."""
    spec, html = question.spec, question.rendered
    hidden = [html["explanation"]] if html.get("explanation") else []
    hidden += html.get("hints", [])
    hidden += [c["feedback"] for c in html.get("choices", {}).values() if c["feedback"]]
    if spec["type"] == "text":  # never pre-filled in an input
        hidden += [f'value="{answer}"' for answer in spec["answers"]]
    return hidden


@pytest.fixture
def pages(course):
    urls = []
    for lesson in Lesson.objects.all():
        urls += [lesson.get_absolute_url(), f"{lesson.get_absolute_url()}quiz/"]
    return urls


@pytest.mark.parametrize("who", ["anonymous", "student"])
def test_quiz_html_does_not_depend_on_the_answers(pages, client, student_client, who):
    browser = client if who == "anonymous" else student_client
    before = {url: quiz_section(browser, url) for url in pages}
    hint_fragments = {
        q.qid: CSRF.sub(
            "",
            browser.get(
                f"/lessons/{q.quiz.lesson.slug}/quiz/?hint={q.qid}&shown=9", **HTMX
            ).content.decode(),
        )
        for q in Question.objects.select_related("quiz__lesson")
        if q.spec.get("hints")
    }
    changed = 0
    for question in Question.objects.all():
        mutated = mutate(question.spec)
        if mutated != question.spec:
            question.spec = mutated
            question.save()
            changed += 1
    assert changed == Question.objects.exclude(spec__has_key="measure").count()
    for url, html in before.items():
        assert quiz_section(browser, url) == html, f"the quiz on {url} changes with its answers"
    for question in Question.objects.select_related("quiz__lesson").filter(qid__in=hint_fragments):
        again = browser.get(
            f"/lessons/{question.quiz.lesson.slug}/quiz/?hint={question.qid}&shown=9", **HTMX
        )
        assert CSRF.sub("", again.content.decode()) == hint_fragments[question.qid]


def test_nothing_hidden_by_the_policy_is_on_any_quiz_page(pages, client, student_client):
    questions = list(Question.objects.all())
    assert len(questions) >= 70
    for browser in (client, student_client):
        for url in pages:
            html = quiz_section(browser, url)
            for marker in REVEAL_MARKERS:
                assert marker not in html, f"{marker!r} on {url}"
            for question in questions:
                for fragment in hidden_fragments(question):
                    assert fragment.casefold() not in html.casefold(), (
                        f"{question.qid}: {fragment[:60]!r} on {url}"
                    )
