"""Question analytics for one class: what each question tells the instructor.

For each question, over the class's students:

- final score: each student's score on the question *as the quiz counts it* (the best
  counted try, scores.py), averaged over the students who answered it. This is the
  figure the gradebook's lesson scores are made of, so the two always agree; a
  prediction still waiting for its measurement is left out rather than counted as 0;
- first-try correct and first-try mean: the share of students right first time and
  the mean of those first tries' scores, on the question's *current* version
  (attempts on earlier versions are counted apart, so an edit does not skew them);
- discrimination: Pearson correlation between a student's first-try score on this
  question and their first-try total on the *rest* of the quiz (unanswered = 0),
  over the students who answered it; None with fewer than 3 students or no spread;
- most common wrong answer: the wrong option given by the most students (each
  student counted once per wrong answer, however often they repeated it).

First tries are what a student knew before any feedback, which is why difficulty and
discrimination use them. Predictions use the student's current measurement; one
still waiting for a measurement is left out.

The page opens with a summary (hardest questions, negative discrimination, most
common wrong answers) and can be narrowed to one lesson and one flag with plain GET
parameters, so filtering works without JavaScript.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Attempt, Classroom, Lesson, Question
from ..quizzes.grading import is_prediction
from ..quizzes.predictions import measurement_of, measurements_for, prediction_time
from ..quizzes.scores import active_questions_by_lesson, attempt_grade, question_result
from ..quizzes.types import question_type
from .answers import question_title

MIN_STUDENTS_FOR_FLAGS = 3
TOO_EASY = 0.9  # first-try correct at or above
TOO_HARD = 0.3  # first-try correct at or below
COMMON_WRONG_STUDENTS = 2  # the same wrong answer from this many students is flagged
SUMMARY_SIZE = 5

# The flags a question can carry, by the GET value that filters on them.
FLAGS = {
    "hard": "too hard",
    "easy": "too easy",
    "negative-discrimination": "negative discrimination",
    "common-wrong": "common wrong answer",
}


@dataclass
class QuestionStats:
    question: Question
    attempts: int = 0
    students: int = 0  # students with a graded first try on the current version
    first_try_correct: float | None = None
    first_try_mean: float | None = None
    final_mean: float | None = None  # mean final score over the students who answered
    final_students: int = 0  # students whose final score is in final_mean
    discrimination: float | None = None
    common_wrong: str | None = None
    common_wrong_students: int = 0
    older_version_attempts: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return question_title(self.question)

    @property
    def lesson(self) -> Lesson:
        return self.question.quiz.lesson


@dataclass
class LessonStats:
    lesson: Lesson
    questions: list[QuestionStats]


@dataclass
class Summary:
    hardest: list[QuestionStats]
    negative: list[QuestionStats]
    common_wrong: list[QuestionStats]


@dataclass
class ClassAnalytics:
    lessons: list[LessonStats]  # the lessons shown, each with the questions shown
    summary: Summary  # over every question of the lessons chosen, whatever the flag
    choices: list[Lesson]  # every lesson with a quiz, for the filter
    lesson: str = ""  # the lesson filter ("" = all)
    flag: str = ""  # the flag filter ("" = any)
    shown: int = 0  # questions in the full list
    total: int = 0  # questions in the lessons chosen

    @property
    def flag_label(self) -> str:
        return FLAGS.get(self.flag, "")

    @property
    def filtered(self) -> bool:
        return bool(self.lesson or self.flag)

    @property
    def summary_link(self) -> str:
        """What the summary's links to a question's row start with: with a flag chosen
        the row may be filtered out, so they lead to the lesson's (or the) full list."""
        if not self.flag:
            return ""
        return f"?lesson={self.lesson}" if self.lesson else "?"


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def _flags(stats: QuestionStats) -> list[str]:
    flags = []
    if stats.students >= MIN_STUDENTS_FOR_FLAGS and stats.first_try_correct is not None:
        if stats.first_try_correct >= TOO_EASY:
            flags.append(FLAGS["easy"])
        if stats.first_try_correct <= TOO_HARD:
            flags.append(FLAGS["hard"])
    if stats.discrimination is not None and stats.discrimination < 0:
        flags.append(FLAGS["negative-discrimination"])
    if stats.common_wrong_students >= COMMON_WRONG_STUDENTS:
        flags.append(FLAGS["common-wrong"])
    return flags


def _final_scores(
    questions: list[Question], every: dict[int, list[Attempt]], found
) -> dict[int, list[float]]:
    """question pk → the final score of each student who answered it, as scores.py
    counts it for the gradebook (every version's attempts, practice left out)."""
    by_student: dict[tuple[int, int], list[Attempt]] = {}
    for question in questions:
        for attempt in every[question.pk]:
            by_student.setdefault((question.pk, attempt.user_id), []).append(attempt)
    finals: dict[int, list[float]] = {q.pk: [] for q in questions}
    by_pk = {q.pk: q for q in questions}
    for (question_pk, user_id), mine in by_student.items():
        question = by_pk[question_pk]
        measured = measurement_of(question, user_id, found, predicted_at=prediction_time(mine))
        result = question_result(question, mine, measured)
        if not result.pending:
            finals[question_pk].append(result.score)
    return finals


def lesson_question_stats(questions: list[Question], user_ids: list[int]) -> list[QuestionStats]:
    found = measurements_for(user_ids, questions)
    every: dict[int, list[Attempt]] = {q.pk: [] for q in questions}
    current: dict[int, list[Attempt]] = {q.pk: [] for q in questions}
    older: Counter[int] = Counter()
    by_pk = {q.pk: q for q in questions}
    for attempt in Attempt.objects.filter(user_id__in=user_ids, question__in=questions).order_by(
        "created_at", "pk"
    ):
        every[attempt.question_id].append(attempt)
        if attempt.content_hash == by_pk[attempt.question_id].content_hash:
            current[attempt.question_id].append(attempt)
        else:
            older[attempt.question_id] += 1
    finals = _final_scores(questions, every, found)
    # first[question pk][user id] = (score, correct) of that student's first try
    first: dict[int, dict[int, tuple[float, bool]]] = {}
    for question in questions:
        seen: dict[int, tuple[float, bool]] = {}
        for attempt in current[question.pk]:
            if attempt.user_id in seen:
                continue
            measured = measurement_of(
                question, attempt.user_id, found, predicted_at=attempt.created_at
            )
            graded = attempt_grade(question, attempt, measured)
            if graded.score is not None:
                seen[attempt.user_id] = (graded.score, graded.correct)
        first[question.pk] = seen
    results = []
    for question in questions:
        tries = first[question.pk]
        stats = QuestionStats(question, attempts=len(current[question.pk]), students=len(tries))
        stats.older_version_attempts = older[question.pk]
        if tries:
            stats.first_try_correct = sum(1 for _, ok in tries.values() if ok) / len(tries)
            stats.first_try_mean = sum(score for score, _ in tries.values()) / len(tries)
        if finals[question.pk]:
            stats.final_students = len(finals[question.pk])
            stats.final_mean = sum(finals[question.pk]) / stats.final_students
        if len(tries) >= 3:
            xs = [tries[u][0] for u in tries]
            ys = [
                sum(
                    first[other.pk].get(u, (0.0, False))[0]
                    for other in questions
                    if other.pk != question.pk
                )
                for u in tries
            ]
            stats.discrimination = pearson(xs, ys)
        wrong = Counter(
            part
            for _student, part in {
                (attempt.user_id, part)
                for attempt in current[question.pk]
                if not attempt.correct and not is_prediction(question.spec)
                for part in question_type(question.spec).wrong_parts(question.spec, attempt.answer)
            }
        )
        if wrong:
            # Most students first, then the answer's text, so ties read the same each time.
            stats.common_wrong, stats.common_wrong_students = min(
                wrong.items(), key=lambda item: (-item[1], item[0])
            )
        stats.flags = _flags(stats)
        results.append(stats)
    return results


def summarise(questions: list[QuestionStats]) -> Summary:
    answered = [s for s in questions if s.final_mean is not None]
    hardest = sorted(
        answered,
        key=lambda s: (
            s.final_mean,
            1.0 if s.first_try_correct is None else s.first_try_correct,
            -s.final_students,
        ),
    )
    negative = sorted(
        (s for s in questions if s.discrimination is not None and s.discrimination < 0),
        key=lambda s: s.discrimination,
    )
    common = sorted(
        (s for s in questions if s.common_wrong),
        key=lambda s: (-s.common_wrong_students, s.question.qid),
    )
    return Summary(hardest[:SUMMARY_SIZE], negative[:SUMMARY_SIZE], common[:SUMMARY_SIZE])


def class_analytics(classroom: Classroom) -> list[LessonStats]:
    """Every lesson with a quiz, each with the figures of all its questions."""
    lessons = list(Lesson.objects.published().in_outline_order())
    user_ids = list(classroom.memberships.values_list("user_id", flat=True))
    by_lesson = active_questions_by_lesson([lesson.pk for lesson in lessons])
    blocks = []
    for lesson in lessons:
        questions = by_lesson.get(lesson.pk)
        if questions:
            for question in questions:
                question.quiz.lesson = lesson  # so each row can name its lesson
            blocks.append(LessonStats(lesson, lesson_question_stats(questions, user_ids)))
    return blocks


def filtered_analytics(classroom: Classroom, *, lesson: str = "", flag: str = "") -> ClassAnalytics:
    """The page's figures narrowed to one lesson (its slug) and one flag (a key of
    FLAGS); an unknown value of either is ignored rather than showing nothing."""
    blocks = class_analytics(classroom)
    choices = [block.lesson for block in blocks]
    if lesson not in {choice.slug for choice in choices}:
        lesson = ""
    if flag not in FLAGS:
        flag = ""
    chosen = [block for block in blocks if not lesson or block.lesson.slug == lesson]
    every = [stats for block in chosen for stats in block.questions]
    shown = []
    for block in chosen:
        kept = [s for s in block.questions if not flag or FLAGS[flag] in s.flags]
        if kept:
            shown.append(LessonStats(block.lesson, kept))
    return ClassAnalytics(
        lessons=shown,
        summary=summarise(every),
        choices=choices,
        lesson=lesson,
        flag=flag,
        shown=sum(len(block.questions) for block in shown),
        total=len(every),
    )
