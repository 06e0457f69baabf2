"""The authoring forms: a new lesson, and the lesson editor."""

from __future__ import annotations

from typing import Any

from django import forms

from ..coursefiles.lesson_files import SLUG_RE
from ..models import Lesson, Module
from ..quizzes.predictions import lab_choices

# Taken by the authoring URLs themselves (/author/new/, /author/upload/, /author/exam/).
RESERVED_SLUGS = {"new", "upload", "exam"}


class NewLessonForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=50,
        help_text="Part of the lesson's address: lowercase letters, digits and hyphens, "
        "e.g. <code>storage-basics</code>. It cannot change later.",
    )
    module = forms.ModelChoiceField(queryset=Module.objects.order_by("order", "slug"))

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip()
        if not SLUG_RE.match(slug):
            raise forms.ValidationError(
                "Use lowercase letters, digits and single hyphens between them."
            )
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(f"“{slug}” is reserved; choose another.")
        if Lesson.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A lesson (perhaps in the trash) already uses this.")
        return slug


class LessonEditForm(forms.Form):
    """What an author edits. The Markdown and the quiz file are plain text areas: what
    is typed is what is stored and exported, with no conversion either way."""

    title = forms.CharField(max_length=200)
    summary = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One or two sentences, shown in the course outline.",
    )
    objectives = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One learning objective per line.",
    )
    labs = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Linked labs",
        help_text="The lesson links to these labs, and their pages list the lesson.",
    )
    body = forms.CharField(
        required=False,
        label="Lesson text (Markdown)",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true", "class": "code-input"}),
    )
    quiz = forms.CharField(
        required=False,
        label="Quiz (quiz.yaml)",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code-input"}),
        help_text="The quiz file as YAML, exactly as in the course files; leave empty for "
        "no quiz. Problems are listed with their line under the preview.",
    )
    note = forms.CharField(
        max_length=200,
        required=False,
        label="What changed (optional)",
        help_text="Shown in the lesson's history.",
    )
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["labs"].choices = lab_choices()

    @staticmethod
    def initial_from(content: dict[str, Any], based_on: int | None) -> dict[str, Any]:
        return {
            "title": content["title"],
            "summary": content["summary"],
            "objectives": "\n".join(content["objectives"]),
            "labs": content["labs"],
            "body": content["body"],
            "quiz": content["quiz"],
            "based_on": based_on,
        }

    def content(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "summary": data["summary"],
            "objectives": data["objectives"].splitlines(),
            "labs": data["labs"],
            "body": data["body"],
            "quiz": data["quiz"],
        }


def content_from_post(post) -> dict[str, Any]:
    """The editor's fields as sent, unvalidated: the live preview and the autosave take
    whatever was typed, even a half-written title."""
    return {
        "title": post.get("title", "")[:200],
        "summary": post.get("summary", "")[:500],
        "objectives": post.get("objectives", "").splitlines(),
        "labs": post.getlist("labs"),
        "body": post.get("body", ""),
        "quiz": post.get("quiz", ""),
    }


class ModuleForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=50,
        help_text="Lowercase letters, digits and hyphens, e.g. <code>storage</code>; it "
        "names the module in the course files and cannot change later.",
    )

    def __init__(self, *args, course=None, module: Module | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.course, self.module = course, module
        if module is not None:  # renaming: the slug stays
            del self.fields["slug"]

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip()
        if not SLUG_RE.match(slug):
            raise forms.ValidationError(
                "Use lowercase letters, digits and single hyphens between them."
            )
        if Module.objects.filter(course=self.course, slug=slug).exists():
            raise forms.ValidationError("Another module already uses this.")
        return slug
