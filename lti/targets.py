"""What an LTI link opens: a lesson, a lesson's quiz (its quiz section) or a lab.

A target is written ``lesson/<slug>``, ``quiz/<slug>`` or ``lab/<slug>``. Deep linking
puts it in the link's custom parameter ``virtlab_target``; a link configured by hand
may instead end its tool URL with ``?target=quiz/<slug>``. Both arrive inside the
platform's signed id_token, so neither can be changed by the student.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from courseware.models import Lesson, Question
from courseware.quizzes.predictions import lab_choices

CUSTOM_PARAMETER = "virtlab_target"
KINDS = ("lesson", "quiz", "lab")
GRADED_KINDS = ("lesson", "quiz")  # their line item carries the lesson's quiz score


class TargetError(Exception):
    """The link names something that does not exist (or is not published)."""


@dataclass(frozen=True)
class Target:
    kind: str
    slug: str
    title: str
    url: str
    lesson: Lesson | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.slug}"

    @property
    def graded(self) -> bool:
        return self.kind in GRADED_KINDS


def target_text(custom: dict | None, target_link_uri: str | None) -> str | None:
    if custom and custom.get(CUSTOM_PARAMETER):
        return str(custom[CUSTOM_PARAMETER])
    if target_link_uri:
        values = parse_qs(urlsplit(target_link_uri).query).get("target")
        if values:
            return values[0]
    return None


def resolve(text: str) -> Target:
    kind, _, slug = text.strip().strip("/").partition("/")
    if kind not in KINDS or not slug:
        raise TargetError(
            f"“{text}” is not a virtlab link: it should be lesson/…, quiz/… or lab/…."
        )
    if kind == "lab":
        titles = dict(lab_choices())
        if slug not in titles:
            raise TargetError(f"There is no lab called “{slug}”.")
        return Target(kind, slug, titles[slug], reverse("labs:detail", args=[slug]))
    lesson = Lesson.objects.published().filter(slug=slug).first()
    if lesson is None:
        raise TargetError(f"There is no published lesson called “{slug}”.")
    if kind == "quiz":
        if not Question.objects.active().filter(quiz__lesson=lesson).exists():
            raise TargetError(f"The lesson “{lesson.title}” has no quiz.")
        url = reverse("courseware:quiz", args=[slug])
        return Target(kind, slug, f"Quiz: {lesson.title}", url, lesson)
    return Target(kind, slug, lesson.title, lesson.get_absolute_url(), lesson)


@dataclass(frozen=True)
class Choice:
    key: str
    label: str


@dataclass(frozen=True)
class ChoiceGroup:
    title: str
    choices: list[Choice]


def picker_groups() -> list[ChoiceGroup]:
    """Everything a teacher may link, module by module, then the labs."""
    with_quiz = set(Question.objects.active().values_list("quiz__lesson_id", flat=True).distinct())
    groups: list[ChoiceGroup] = []
    for lesson in Lesson.objects.published().in_outline_order():
        choices = [Choice(f"lesson/{lesson.slug}", f"Lesson: {lesson.title}")]
        if lesson.pk in with_quiz:
            choices.append(Choice(f"quiz/{lesson.slug}", f"Quiz: {lesson.title} (graded)"))
        if groups and groups[-1].title == lesson.module.title:
            groups[-1].choices.extend(choices)
        else:
            groups.append(ChoiceGroup(lesson.module.title, choices))
    labs = [Choice(f"lab/{slug}", f"Lab: {title}") for slug, title in lab_choices()]
    groups.append(ChoiceGroup("Labs", labs))
    return groups
