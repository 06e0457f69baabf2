"""Helpers shared by the quiz tests: form data for right and wrong answers, attempts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from courseware.grading import grade, item_key, parse_answer
from courseware.models import Attempt, Question

HTMX = {"HTTP_HX_REQUEST": "true"}


def correct_form(question: Question, *, prediction: float = 1.0) -> dict:
    spec, qid = question.spec, question.qid
    kind = spec["type"]
    if kind == "single":
        return {"choice": next(str(c["id"]) for c in spec["choices"] if c.get("correct"))}
    if kind == "multiple":
        return {"choice": [str(c["id"]) for c in spec["choices"] if c.get("correct")]}
    if kind == "true_false":
        return {"choice": "true" if spec["answer"] else "false"}
    if kind == "numeric":
        return {"value": str(prediction if "measure" in spec else spec["answer"])}
    if kind == "text":
        return {"value": spec["answers"][0]}
    if kind == "ordering":
        return {f"pos-{item_key(qid, t)}": str(i + 1) for i, t in enumerate(spec["items"])}
    if kind == "matching":
        return {f"match-{item_key(qid, p['left'])}": item_key(qid, p["right"]) for p in spec["pairs"]}
    raise AssertionError(kind)


def wrong_form(question: Question) -> dict:
    spec, qid = question.spec, question.qid
    kind = spec["type"]
    if kind == "single":
        return {"choice": next(str(c["id"]) for c in spec["choices"] if not c.get("correct"))}
    if kind == "multiple":
        return {"choice": [str(c["id"]) for c in spec["choices"] if not c.get("correct")]}
    if kind == "true_false":
        return {"choice": "false" if spec["answer"] else "true"}
    if kind == "numeric":
        return {"value": "-987654"}
    if kind == "text":
        return {"value": "definitely not it"}
    if kind == "ordering":
        items = spec["items"][::-1]
        return {f"pos-{item_key(qid, t)}": str(i + 1) for i, t in enumerate(items)}
    if kind == "matching":
        rights = [p["right"] for p in spec["pairs"]]
        rotated = rights[1:] + rights[:1]
        return {f"match-{item_key(qid, p['left'])}": item_key(qid, r) for p, r in zip(spec["pairs"], rotated, strict=True)}
    raise AssertionError(kind)


def as_lists(form: dict) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in form.items()}


def record(user, question: Question, form: dict, *, minutes_ago: float = 0, measured: float | None = None) -> Attempt:
    """Store a graded attempt directly (for seeding data sets), dated in the past."""
    answer = parse_answer(question.spec, as_lists(form))
    result = grade(question.spec, answer, measured=measured)
    return Attempt.objects.create(
        user=user,
        question=question,
        qid=question.qid,
        content_hash=question.content_hash,
        answer=answer,
        score=result.score,
        correct=result.correct,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
