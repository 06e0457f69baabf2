"""quiz.yaml: the shipped quizzes, validation with file:line reasons, import and export."""

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model

from courseware.coursefiles.lesson_files import ContentError, read_course
from courseware.coursefiles.quiz_files import QuizFileError, parse_quiz
from courseware.coursefiles.sync import course_export, course_import
from courseware.models import Attempt, Lesson, Question, Quiz
from courseware.quizzes.types.text import regex_problem

SHIPPED = Path(settings.VIRTLAB_CONTENT_DIR)

VALID = """\
settings: {max_attempts: 2, min_seconds_between: 0, show_answers: after_last}
questions:
  - id: q-one
    type: single
    prompt: Pick
    choices:
      - {id: a, text: A, correct: true}
      - {id: b, text: B}
  - id: q-two
    type: text
    prompt: Name it
    answers: ["kvm"]
    match: regex
"""


def test_every_shipped_lesson_has_a_valid_quiz():
    content = read_course(SHIPPED)
    assert content.lessons
    for lesson in content.lessons:
        assert lesson.quiz is not None, f"{lesson.source_dir} has no quiz.yaml"
        assert len(lesson.quiz.questions) >= 5
    types = {q["type"] for lesson in content.lessons for q in lesson.quiz.questions}
    assert types == {"single", "multiple", "true_false", "numeric", "text", "ordering", "matching"}
    predictions = [q for lesson in content.lessons for q in lesson.quiz.questions if "measure" in q]
    assert {q["measure"]["lab"] for q in predictions} >= {"boot-race", "emulation"}


def test_valid_file_parses_with_settings():
    spec = parse_quiz(VALID, "x/quiz.yaml")
    assert spec.settings["show_answers"] == "after_last"
    assert spec.qids == ["q-one", "q-two"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("correct: true}", "}"),
            "x/quiz.yaml:6: question 'q-one': exactly one choice must be correct",
        ),
        (("type: text", "type: essay"), "x/quiz.yaml:10: question 'q-two': 'type' must be one of"),
        (
            ('answers: ["kvm"]', 'answers: ["(a+)+"]'),
            "x/quiz.yaml:12: question 'q-two': regex nests a repeat",
        ),
        (
            ('answers: ["kvm"]', 'answers: ["(k|kv)*m"]'),
            "x/quiz.yaml:12: question 'q-two': regex repeats an alternation",
        ),
        (
            ('answers: ["kvm"]', 'answers: ["(unclosed"]'),
            "x/quiz.yaml:12: question 'q-two': regex does not compile",
        ),
        (("id: q-two", "id: q-one"), "x/quiz.yaml:3: question id 'q-one' is used more than once"),
        (("id: q-two", "id: Q Two"), "x/quiz.yaml:9: question 'Q Two': 'id' must be lowercase"),
        (
            ("show_answers: after_last", "show_answers: sometimes"),
            "x/quiz.yaml:1: 'show_answers' must be one of",
        ),
        (
            ("max_attempts: 2", "max_attempts: -1"),
            "x/quiz.yaml:1: 'max_attempts' must be a whole number",
        ),
        (
            ("    prompt: Name it\n", "    prompt: Name it\n    colour: red\n"),
            "x/quiz.yaml:12: question 'q-two': unknown field(s) for a text question: colour",
        ),
        (("    prompt: Pick\n", "    prompt: [unclosed\n"), "x/quiz.yaml:6: invalid YAML"),
    ],
)
def test_malformed_quiz_names_file_line_and_reason(change, expected):
    text = VALID.replace(*change)
    assert text != VALID
    with pytest.raises(QuizFileError) as error:
        parse_quiz(text, "x/quiz.yaml")
    assert any(problem.startswith(expected) for problem in error.value.problems), (
        error.value.problems
    )


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("{id: n, type: numeric, prompt: P}", "'answer' must be a number"),
        (
            "{id: n, type: numeric, prompt: P, answer: 1, tolerance: -1}",
            "'tolerance' must be a number ≥ 0",
        ),
        (
            "{id: n, type: numeric, prompt: P, answer: 1, tolerance_mode: loose}",
            "'tolerance_mode' must be one of",
        ),
        (
            "{id: n, type: numeric, prompt: P, answer: 1, measure: {lab: x, key: y}}",
            "either 'answer' or 'measure'",
        ),
        ("{id: n, type: numeric, prompt: P, measure: {lab: x}}", "'measure' must be"),
        ("{id: t, type: true_false, prompt: P, answer: maybe}", "'answer' must be true or false"),
        ("{id: o, type: ordering, prompt: P, items: [one]}", "at least two texts"),
        ("{id: o, type: ordering, prompt: P, items: [one, one]}", "must all be different"),
        (
            "{id: m, type: matching, prompt: P, pairs: [{left: a, right: b}, {left: a, right: c}]}",
            "every 'left'",
        ),
        (
            "{id: m, type: matching, prompt: P, pairs: [{left: a}, {left: b, right: c}]}",
            "pair 1 must be",
        ),
        (
            "{id: c, type: multiple, prompt: P, choices: [{id: a, text: A}, {id: b, text: B}]}",
            "at least one choice must be correct",
        ),
        (
            "{id: c, type: single, prompt: P, choices: [{id: a, text: A, correct: true}, {id: a, text: B}]}",
            "duplicate choice id",
        ),
        ("{id: x, type: text, prompt: P, answers: []}", "'answers' must be a non-empty list"),
        ("{id: x, type: text, prompt: '', answers: [a]}", "'prompt' must be non-empty"),
        ("{id: x, type: text, prompt: P, answers: [a], hints: [ok, '']}", "'hints' must be a list"),
    ],
)
def test_schema_errors_per_type(question, reason):
    with pytest.raises(QuizFileError) as error:
        parse_quiz(f"questions:\n  - {question}\n", "y/quiz.yaml")
    assert any(p.startswith("y/quiz.yaml:2: ") and reason in p for p in error.value.problems), (
        error.value.problems
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+",
        "(a*)*b",
        "(a|aa)+",
        r"(\w+)\s\1",
        "a*b*c*d*e",
        "x" * 201,
        "((ab)*c)+",
        "(a?){25}a{25}",  # optional inside a counted repeat: exponential
        "a{0,50}" * 6 + "b",  # six variable repeats in a row: n to the sixth
    ],
)
def test_slow_or_unsafe_regexes_are_rejected(pattern):
    assert regex_problem(pattern) is not None


@pytest.mark.parametrize(
    "pattern",
    ["kvm", "(?i)qemu-?img", r"[0-9]+(\.[0-9]+)?", "(tcg|tiny code generator)", "(ab){3}x{2}"],
)
def test_reasonable_regexes_are_accepted(pattern):
    assert regex_problem(pattern) is None


@pytest.mark.django_db
def test_import_creates_quizzes_and_is_idempotent():
    first = course_import(root=SHIPPED)
    lessons = Lesson.objects.count()
    assert Quiz.objects.count() == lessons
    assert sum(1 for item in first.created if item.startswith("quiz ")) == lessons
    assert Question.objects.count() == sum(
        len(lesson.quiz.questions) for lesson in read_course(SHIPPED).lessons
    )
    hashes = dict(Question.objects.values_list("qid", "content_hash"))
    second = course_import(root=SHIPPED)
    assert not second.created and not second.updated
    assert dict(Question.objects.values_list("qid", "content_hash")) == hashes


@pytest.mark.django_db
def test_malformed_quiz_aborts_the_whole_import(content_copy):
    quiz = next(content_copy.glob("03-*/quiz.yaml"))
    text = quiz.read_text()
    quiz.write_text(text.replace("type: ordering", "type: shuffle", 1))
    with pytest.raises(ContentError) as error:
        course_import(root=content_copy)
    problem = "\n".join(error.value.problems)
    line = text.splitlines().index("    type: ordering") + 1
    assert (
        f"{quiz.parent.name}/quiz.yaml:{line}: question 'em-order-tcg': 'type' must be one of"
        in problem
    )
    assert not Lesson.objects.exists() and not Question.objects.exists()


@pytest.mark.django_db
def test_question_ids_must_be_unique_across_the_course(content_copy):
    quiz = next(content_copy.glob("01-*/quiz.yaml"))
    quiz.write_text(quiz.read_text().replace("id: wv-text-host", "id: hv-text-device"))
    with pytest.raises(ContentError, match="'hv-text-device' is used in more than one quiz"):
        course_import(root=content_copy)
    assert not Question.objects.exists()


@pytest.mark.django_db
def test_edited_question_changes_hash_and_removed_question_is_retired(content_copy, student):
    course_import(root=content_copy)
    question = Question.objects.get(qid="hv-text-device")
    Attempt.objects.create(
        user=student, question=question, qid=question.qid, content_hash=question.content_hash,
        answer={"text": "/dev/kvm"}, score=1.0, correct=True,
    )  # fmt: skip
    quiz = next(content_copy.glob("02-*/quiz.yaml"))
    text = quiz.read_text()
    text = text.replace("Give the full path.", "Give its absolute path.")
    start = text.index("  - id: hv-tf-nested")
    end = text.index("  - id: hv-text-device")
    quiz.write_text(text[:start] + text[end:])
    report = course_import(root=content_copy)
    assert "quiz hypervisor-types" in report.updated
    edited = Question.objects.get(qid="hv-text-device")
    assert edited.content_hash != question.content_hash
    assert "absolute path" in edited.rendered["prompt"]
    assert Question.objects.get(qid="hv-tf-nested").retired
    # The old attempt is untouched and still records the version it answered.
    assert Attempt.objects.get().content_hash == question.content_hash
    exported = course_export(root=content_copy.parent / "out")
    quiz_text = next(
        p for p in exported if p.parent.name == quiz.parent.name and p.name == "quiz.yaml"
    ).read_text()
    assert "hv-tf-nested" not in quiz_text and "absolute path" in quiz_text


def quiz_state():
    quizzes = {
        q.lesson.slug: (
            q.max_attempts,
            q.min_seconds_between,
            q.show_answers,
            q.settings_as_written,
        )
        for q in Quiz.objects.select_related("lesson")
    }
    questions = {
        q.qid: (q.quiz.lesson.slug, q.type, q.spec, q.content_hash, q.order, q.retired)
        for q in Question.objects.select_related("quiz__lesson")
    }
    return quizzes, questions


@pytest.mark.django_db
def test_quiz_round_trip_is_lossless(tmp_path):
    course_import(root=SHIPPED)
    original = quiz_state()
    course_export(root=tmp_path / "one")
    Lesson.objects.all().delete()
    course_import(root=tmp_path / "one")
    assert quiz_state() == original
    course_export(root=tmp_path / "two")
    for path in (tmp_path / "one").rglob("quiz.yaml"):
        assert (
            path.read_bytes()
            == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
        )


@pytest.mark.django_db
def test_an_answered_question_cannot_change_its_type(content_copy):
    from tests.courseware.quiz_helpers import record

    course_import(root=content_copy)
    student = get_user_model().objects.create_user("s1", password="x-long-passphrase-1")
    question = Question.objects.get(qid="hv-tf-nested")
    record(student, question, {"choice": "false"})
    quiz = next(content_copy.glob("02-*/quiz.yaml"))
    data = yaml.safe_load(quiz.read_text())
    entry = next(q for q in data["questions"] if q["id"] == "hv-tf-nested")
    entry.clear()
    entry.update(
        id="hv-tf-nested", type="numeric", prompt="How many?", answer=3, tolerance=0,
        tolerance_mode="absolute",
    )  # fmt: skip
    title_before = Lesson.objects.get(slug="hypervisor-types").title
    (quiz.parent / "index.md").write_text(
        (quiz.parent / "index.md")
        .read_text()
        .replace(f"title: {title_before}", "title: Changed", 1)
    )
    quiz.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ContentError) as error:
        course_import(root=content_copy)
    assert "'hv-tf-nested' was a true_false question and students have answered it" in "\n".join(
        error.value.problems
    )
    # Nothing of that import was kept: not the question, not the lesson's new title.
    assert Question.objects.get(qid="hv-tf-nested").type == "true_false"
    assert Lesson.objects.get(slug="hypervisor-types").title == title_before
    assert Attempt.objects.count() == 1
