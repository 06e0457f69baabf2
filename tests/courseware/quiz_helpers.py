"""Helpers shared by the quiz tests: form data for right and wrong answers, attempts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from courseware.models import Attempt, Question
from courseware.quizzes.grading import item_key
from courseware.quizzes.services import attempt_record
from courseware.quizzes.types import grade, parse_answer

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
        return {
            f"match-{item_key(qid, p['left'])}": item_key(qid, p["right"]) for p in spec["pairs"]
        }
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
        return {
            f"match-{item_key(qid, p['left'])}": item_key(qid, r)
            for p, r in zip(spec["pairs"], rotated, strict=True)
        }
    raise AssertionError(kind)


def as_lists(form: dict) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in form.items()}


def record(
    user, question: Question, form: dict, *, minutes_ago: float = 0, measured: float | None = None
) -> Attempt:
    """Store a graded attempt directly (for seeding data sets), dated in the past."""
    answer = parse_answer(question.spec, as_lists(form))
    result = grade(question.spec, answer, measured=measured)
    return attempt_record(
        user=user,
        question=question,
        answer=answer,
        result=result,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def seed_class(instructor):
    """A small class with known answers; figures are worked out by hand in the tests.

    hypervisor-types (8 questions), first tries (later tries in brackets):
                 hv-type1-host  hv-tf-nested  hv-select-type2   hv-text-device
        ana      a  right       right         a b c   (1)       right
        ben      a  right       wrong (right) a b     (2/3)     right
        cy       b  wrong (c)   right         a d     (0)       right
        dee      b  wrong       wrong         —                 right
    what-is-virtualization: wv-text-host right for ana, ben, cy, wrong for dee;
    wv-tf-minutes right only for dee. ana also has one attempt on an older version of
    hv-text-device, and "eve" (not in the class) answered too.
    """
    from django.contrib.auth import get_user_model

    from courseware.classes.services import class_create
    from courseware.models import Lesson, LessonProgress, Membership

    User = get_user_model()
    classroom = class_create(instructor=instructor, name="Seeded class")
    students = {
        name: User.objects.create_user(name, password="not-used-1234")
        for name in ("ana", "ben", "cy", "dee")
    }
    for student in students.values():
        Membership.objects.create(classroom=classroom, user=student)
    eve = User.objects.create_user("eve", password="not-used-1234")
    q = {question.qid: question for question in Question.objects.all()}
    ana, ben, cy, dee = (students[n] for n in ("ana", "ben", "cy", "dee"))

    def tf(value):
        return {"choice": "true" if value else "false"}

    record(ana, q["hv-type1-host"], {"choice": "a"}, minutes_ago=60)
    record(ben, q["hv-type1-host"], {"choice": "a"}, minutes_ago=60)
    record(cy, q["hv-type1-host"], {"choice": "b"}, minutes_ago=60)
    record(cy, q["hv-type1-host"], {"choice": "c"}, minutes_ago=50)
    record(dee, q["hv-type1-host"], {"choice": "b"}, minutes_ago=60)
    record(ana, q["hv-tf-nested"], tf(False), minutes_ago=59)
    record(ben, q["hv-tf-nested"], tf(True), minutes_ago=59)
    record(ben, q["hv-tf-nested"], tf(False), minutes_ago=40)
    record(cy, q["hv-tf-nested"], tf(False), minutes_ago=59)
    record(dee, q["hv-tf-nested"], tf(True), minutes_ago=59)
    record(ana, q["hv-select-type2"], {"choice": ["a", "b", "c"]}, minutes_ago=58)
    record(ben, q["hv-select-type2"], {"choice": ["a", "b"]}, minutes_ago=58)
    record(cy, q["hv-select-type2"], {"choice": ["a", "d"]}, minutes_ago=58)
    old = record(ana, q["hv-text-device"], {"value": "/dev/kvm"}, minutes_ago=90)
    Attempt.objects.filter(pk=old.pk).update(content_hash="0" * 64)  # answered an older version
    for student in (ana, ben, cy, dee):
        record(student, q["hv-text-device"], {"value": "/dev/kvm"}, minutes_ago=57)
    for student in (ana, ben, cy):
        record(student, q["wv-text-host"], {"value": "host"}, minutes_ago=30)
    record(dee, q["wv-text-host"], {"value": "server"}, minutes_ago=30)
    for student in (ana, ben, cy):
        record(student, q["wv-tf-minutes"], tf(True), minutes_ago=29)
    record(dee, q["wv-tf-minutes"], tf(False), minutes_ago=29)
    record(eve, q["hv-type1-host"], {"choice": "d"}, minutes_ago=10)
    lesson = Lesson.objects.get(slug="hypervisor-types")
    LessonProgress.objects.create(user=ana, lesson=lesson, state="done")
    LessonProgress.objects.create(user=ben, lesson=lesson, state="in_progress")
    return classroom, students
