"""Questions and answers in words in templates: ``{% load question_words %}``.

``{{ question|question_title }}`` is the start of its prompt as plain text, and
``{{ attempt|answer_parts }}`` the stored answer spelt out (courseware/classes/answers.py).
"""

from django import template

from ..classes import answers

register = template.Library()


@register.filter
def question_title(question) -> str:
    return answers.question_title(question)


@register.filter
def answer_parts(attempt) -> list[str]:
    return answers.answer_parts(attempt.question, attempt.answer)
