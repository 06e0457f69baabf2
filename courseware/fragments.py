"""Parts of the lesson and quiz pages made once and kept, so a page view does not pay
for the same template loops and queries again (issue 17: lesson pages faster).

Four kinds, all in the per-process ``template_fragments`` cache (settings.CACHES):

- **A question's HTML** (the ``question`` partial of ``courseware/_quiz.html``), keyed
  by everything that partial can read: its ``QuestionView`` — every field, the
  question row and its quiz with every column (the spec and rendered Markdown
  included), the student's attempts — and the lesson's slug, the page it is on, who is
  looking (logged in, instructor; the path when not logged in, for the login link) and
  the URL prefix. A question nobody has answered yet looks the same for every student
  (a per-student order aside), so it is rendered once for all of them; a student's
  answered questions are their own entries. The CSRF token, the one part that changes
  with each request, is kept as a placeholder and the request's own token put back.
- **A lesson's text** (contents, labs, objectives, terms, the body with its glossary
  links) through ``{% cache %}`` in ``courseware/lesson.html``, keyed by
  ``lesson_text``: the lesson's columns and the glossary terms it links.
- **A lesson's questions** (``lesson_questions``): the rows, loaded again only when a
  plain query finds one of their columns changed.
- **A student's quiz section** on the lesson page (``quiz_section``): the section's own
  parts (score line, policy, the questions' slots) and the keys of its questions' HTML,
  keyed by what the student's ``QuizView`` is made from (``state.load_quiz``: the
  questions' key, their attempts and measurements) and who is looking. A repeat view
  whose quiz did not change makes no ``QuizView`` and renders no quiz template; while
  a wait between attempts counts down, the section is made afresh.

Keys are made of content (a digest of it, pickled), not of a revision number or a
time, so they change when the content does: publishing a revision or importing the
course (which write the lesson and question rows), other quiz settings and installing
a glossary (other terms) give new keys in every web process at once, and nothing has
to be told to forget anything. Entries no longer used fall out of the bounded cache.

Answers stay where the policy puts them: a kept question is exactly what rendering
that same ``QuestionView`` gives, and the view decides what is revealed
(``quizzes/state.py``); the key includes every field the decision is made from.

With ``DEBUG`` on, nothing is kept: the development server reloads edited templates
without restarting, and a kept fragment would hide the edit.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connection, models
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import mark_safe

from virtlab.roles import is_instructor

from .models import Question, Quiz
from .quizzes.grading import is_prediction
from .quizzes.predictions import lab_info
from .quizzes.scores import mastery_threshold

CACHE = "template_fragments"
# Bump when what a key covers changes (old entries then simply go unused).
VERSION = 1
# How long a lesson's text is kept ({% cache %} needs a time): content changes give
# new keys, so this only bounds how long an unused entry can stay.
TEXT_SECONDS = 24 * 3600
_CSRF_INPUT = re.compile(r'(<input type="hidden" name="csrfmiddlewaretoken" value=")([^"]*)(")')
_CSRF_PLACEHOLDER = "\x00csrf\x00"


class Uncacheable(Exception):
    """Something a key cannot vouch for: that part is made afresh, not kept."""


def enabled() -> bool:
    return not settings.DEBUG


def _key(prefix: str, rows, *parts: Any) -> str:
    """A digest of ``parts`` as pickled: a faithful copy of everything in them (every
    field of a dataclass, every column of a row and the rows loaded with it, safe and
    plain text told apart), and quick to make. ``rows`` are the rows among them, which
    must have every column loaded: a deferred one would be read later, not from the key."""
    for row in rows:
        if row.get_deferred_fields():
            raise Uncacheable(f"{row._meta.label} has deferred fields")
    out = io.BytesIO()
    try:
        _KeyPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump((VERSION, *parts))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise Uncacheable(str(exc)) from exc
    return prefix + hashlib.blake2b(out.getbuffer(), digest_size=20).hexdigest()


def _row(*state):
    """Stands for a row in a key's pickle (which is hashed, never loaded)."""
    raise NotImplementedError


class _KeyPickler(pickle.Pickler):
    """Pickles a row as its label, its attributes (every loaded column, and anything
    else set on it but Django's private ones, such as the version a row read from a
    pickle carries) and the rows loaded with it: what Django's own pickling of a model
    keeps, without the copying it does to make the result loadable."""

    def reducer_override(self, obj):
        if isinstance(obj, models.Model):
            attributes = {k: v for k, v in obj.__dict__.items() if not k.startswith("_")}
            return _row, (obj._meta.label, attributes, obj._state.fields_cache)
        return NotImplemented


# -- a question's HTML ----------------------------------------------------------------


def _question_key(request, quiz_view, item, source: str) -> str:
    """The whole ``QuestionView`` (its question, quiz and attempts included) and the rest
    of what the question partial reads."""
    question = item.question
    return _key(
        "q:",
        (question, question.quiz, *item.result.attempts),
        item,
        quiz_view.lesson.slug,
        source,
        _visitor(request),
        get_script_prefix(),
    )


def _visitor(request) -> tuple:
    """Who is looking, as far as the quiz's HTML shows it."""
    user = request.user
    if user.is_authenticated:
        return (True, is_instructor(user))
    return (False, False, request.path)  # the login link comes back to this page


def _without_token(html: str) -> str:
    return _CSRF_INPUT.sub(rf"\g<1>{_CSRF_PLACEHOLDER}\g<3>", html)


def _with_token(html: str, token: str):
    """``html`` kept with a placeholder for the CSRF token, with the request's token."""
    return mark_safe(html.replace(_CSRF_PLACEHOLDER, token))  # noqa: S308


def _kept_questions(request, quiz_view, source: str) -> list[tuple[str, str] | None]:
    """Each question's ``(key, HTML with the token's placeholder)``, from the cache or
    rendered now and kept; None for a question whose view cannot be keyed."""
    cache = caches[CACHE]
    kept = []
    for item in quiz_view.questions:
        try:
            key = _question_key(request, quiz_view, item, source)
        except Uncacheable:
            kept.append(None)
            continue
        html = cache.get(key)
        if html is None:
            context = {"quiz_view": quiz_view, "item": item, "source": source}
            html = _without_token(
                render_to_string("courseware/_quiz.html#question", context, request=request)
            )
            cache.set(key, html, None)
        kept.append((key, html))
    return kept


def question_fragments(request, quiz_view, source: str) -> None:
    """Give each question of ``quiz_view`` its HTML (``item.fragment``), from the cache
    or rendered now and kept. ``courseware/_quiz.html`` shows ``item.fragment`` in
    place of rendering the question; a question left without one is rendered there."""
    if quiz_view is None or not enabled():
        return
    token = get_token(request)
    kept_questions = _kept_questions(request, quiz_view, source)
    for item, kept in zip(quiz_view.questions, kept_questions, strict=True):
        if kept is not None:
            item.fragment = _with_token(kept[1], token)


# -- a student's quiz section ---------------------------------------------------------

_SLOT = "\x00question\x00"


def _section_key(request, loaded, source: str) -> str | None:
    """A digest of everything a student's quiz section (``courseware/_quiz.html``) is
    made from: the question and quiz rows (their key), the student (whose id orders
    some questions' parts), their attempts and measurements, the labs the predictions
    name, the mastery threshold, who is looking, the page and the URL prefix; None
    while the section changes with the clock (a wait between attempts counting down)."""
    if not loaded.questions_key:
        return None
    quiz = loaded.questions[0].quiz
    attempts = [a for _, mine in sorted(loaded.attempts.items()) for a in mine]
    if quiz.min_seconds_between and attempts:
        since = timezone.now() - timedelta(seconds=quiz.min_seconds_between)
        if any(a.created_at > since for a in attempts):
            return None
    labs = sorted({q.spec["measure"]["lab"] for q in loaded.questions if is_prediction(q.spec)})
    try:
        return _key(
            "s:",
            attempts,
            loaded.questions_key,
            loaded.lesson.slug,
            loaded.user_id,
            attempts,
            sorted(loaded.found.items()),
            [lab_info(slug) for slug in labs],
            mastery_threshold(),
            _visitor(request),
            source,
            get_script_prefix(),
        )
    except Uncacheable:
        return None


def quiz_section(request, loaded, source: str, build, *, keep: bool = True):
    """The HTML of a student's quiz section (``courseware/_quiz.html``); ``build()``
    makes their ``QuizView`` from ``loaded`` when it is needed; ``keep=False`` for a
    view showing more than what was loaded (its questions' HTML is still kept).

    Kept per student as the section's own parts (score line, policy, the questions'
    slots) and the keys of its questions' HTML, which stay shared entries: so a page
    view whose quiz did not change makes no ``QuizView`` and renders no template for
    it, and a student's entry is a few hundred bytes, not another copy of the quiz."""
    key = _section_key(request, loaded, source) if keep and enabled() else None
    cache = caches[CACHE]
    token = get_token(request)
    if key is not None:
        entry = cache.get(key)
        if entry is not None:
            parts, question_keys = entry
            questions = cache.get_many(question_keys)
            if len(questions) == len(question_keys):
                pieces = [parts[0]]
                for question_key, part in zip(question_keys, parts[1:], strict=True):
                    pieces += [questions[question_key], part]
                return _with_token("".join(pieces), token)
    quiz_view = build()
    context = {"quiz_view": quiz_view, "source": source}
    if not enabled():
        return render_to_string("courseware/_quiz.html", context, request=request)
    kept = _kept_questions(request, quiz_view, source)
    for item, question in zip(quiz_view.questions, kept, strict=True):
        if question is not None:
            item.fragment = _SLOT
    parts = _without_token(
        render_to_string("courseware/_quiz.html", context, request=request)
    ).split(_SLOT)
    # A question left out of the kept (its view could not be keyed) was rendered in place.
    htmls = [question[1] for question in kept if question is not None]
    if key is not None and len(htmls) == len(kept):
        cache.set(key, (parts, [question[0] for question in kept]), None)
    pieces = [parts[0]]
    for html, part in zip(htmls, parts[1:], strict=True):
        pieces += [html, part]
    return _with_token("".join(pieces), token)


# -- a lesson's text ------------------------------------------------------------------


def lesson_text(lesson, terms) -> tuple[int, str]:
    """``(seconds, key)`` for the ``{% cache %}`` of a lesson's text: the key covers every
    column of the lesson row (its body, rendered HTML and contents among them) and the
    glossary terms it links; 0 seconds (not kept) with ``DEBUG`` on."""
    try:
        key = _key("", (lesson,), lesson, list(terms), get_script_prefix())
    except Uncacheable:
        return 0, ""
    return (TEXT_SECONDS if enabled() else 0), key


# -- a lesson's questions -------------------------------------------------------------

_QUESTION_COLUMNS = None  # (fields of Question, fields of Quiz, SQL): made on first use


def _probe_sql():
    """The probe's columns and SQL: every column of the questions and their quiz but
    the JSON ones (``spec``, ``rendered``, ``settings_as_written``), in one plain query."""
    global _QUESTION_COLUMNS
    if _QUESTION_COLUMNS is None:
        quote = connection.ops.quote_name
        plain = [f for f in Question._meta.concrete_fields if not isinstance(f, models.JSONField)]
        quiz = [f for f in Quiz._meta.concrete_fields if not isinstance(f, models.JSONField)]
        columns = [f"q.{quote(f.column)}" for f in plain] + [f"z.{quote(f.column)}" for f in quiz]
        # Names from the models, quoted; the values are parameters.
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(Question._meta.db_table)} q"  # noqa: S608
            f" INNER JOIN {quote(Quiz._meta.db_table)} z"
            f" ON z.{quote(Quiz._meta.pk.column)} = q.{quote(Question._meta.get_field('quiz').column)}"
            f" WHERE z.{quote(Quiz._meta.get_field('lesson').column)} = %s"
            f" AND q.{quote(Question._meta.get_field('retired').column)} = %s"
            f" ORDER BY q.{quote(Question._meta.get_field('order').column)},"
            f" q.{quote(Question._meta.pk.column)}"
        )
        _QUESTION_COLUMNS = (plain, quiz, sql)
    return _QUESTION_COLUMNS


def _rows_key(lesson_id: int, rows) -> str:
    return _key("rows:", (), lesson_id, rows)


def lesson_questions(lesson) -> list:
    """The lesson's active questions in order, each with its quiz: what
    ``Question.objects.active().filter(quiz__lesson=lesson).select_related("quiz")``
    loads, kept per process and loaded again only when one of their columns changed.

    The probe reads the columns in one plain query (the ORM's work would cost more than
    the database's). The JSON columns are stood for: a question's ``spec`` by its
    ``content_hash``, its ``rendered`` Markdown is made from the spec whenever that
    changes (``Question.save``), and a quiz's settings as written are read by export
    only. Each caller gets its own copy of the rows."""
    return keyed_lesson_questions(lesson)[1]


def keyed_lesson_questions(lesson) -> tuple[str, list]:
    """``lesson_questions`` and the key they were kept under: a digest of every column
    the probe read ("" when they were not kept: changed while loaded, or ``DEBUG``)."""
    if not enabled():
        return "", _load_questions(lesson.pk)
    plain, quiz, sql = _probe_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [lesson.pk, False])
        raw = cursor.fetchall()
    if not raw:
        return "", []
    fields = [*plain, *quiz]
    rows = tuple(tuple(f.to_python(v) for f, v in zip(fields, row, strict=True)) for row in raw)
    key = _rows_key(lesson.pk, rows)
    cache = caches[CACHE]
    questions = cache.get(key)
    if questions is None:
        questions = _load_questions(lesson.pk)
        loaded = tuple(
            tuple(getattr(q, f.attname) for f in plain)
            + tuple(getattr(q.quiz, f.attname) for f in quiz)
            for q in questions
        )
        if loaded != rows:  # changed between the probe and the load
            return "", questions
        cache.set(key, questions, None)
    return key, questions


def _load_questions(lesson_id: int) -> list:
    return list(
        Question.objects.active()
        .filter(quiz__lesson_id=lesson_id)
        .select_related("quiz")
        .order_by("order", "pk")
    )
