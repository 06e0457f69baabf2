"""Course → Module → Lesson, and each student's progress through lessons."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .rendering import content_hash, render_markdown

SLUG_HELP = "Lowercase letters, digits and hyphens; stable, it is part of the URL."


class Course(models.Model):
    slug = models.SlugField(unique=True, help_text=SLUG_HELP)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title


class Module(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    slug = models.SlugField(help_text=SLUG_HELP)
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["course", "order", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="module_slug_per_course")
        ]

    def __str__(self) -> str:
        return self.title


class LessonQuerySet(models.QuerySet):
    def published(self) -> LessonQuerySet:
        return self.filter(published=True)

    def in_outline_order(self) -> LessonQuerySet:
        return self.select_related("module", "module__course").order_by(
            "module__course_id", "module__order", "order", "slug"
        )


class Lesson(models.Model):
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="lessons")
    slug = models.SlugField(unique=True, help_text=SLUG_HELP)
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=500, blank=True)
    objectives = models.JSONField(default=list, blank=True)
    labs = models.JSONField(default=list, blank=True, help_text="Slugs of the labs it links to.")
    body = models.TextField(blank=True, help_text="Markdown.")
    published = models.BooleanField(default=True)
    # The HTML and table of contents are cached and re-rendered only when the body's
    # hash changes, so a page view never pays for Markdown.
    body_hash = models.CharField(max_length=64, blank=True, editable=False)
    body_html = models.TextField(blank=True, editable=False)
    toc = models.JSONField(default=list, blank=True, editable=False)
    # Where the lesson came from on disk (e.g. "02-hypervisor-types"), for export.
    source_dir = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LessonQuerySet.as_manager()

    class Meta:
        ordering = ["module__order", "order", "slug"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        if self.refresh_rendering() and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "body_hash", "body_html", "toc"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("courseware:lesson", kwargs={"slug": self.slug})

    def refresh_rendering(self) -> bool:
        """Re-render the body if it changed since the cached HTML; True when it did."""
        digest = content_hash(self.body)
        if digest == self.body_hash and self.body_html:
            return False
        rendered = render_markdown(self.body)
        self.body_hash, self.body_html, self.toc = digest, rendered.html, rendered.toc
        return True


class ProgressQuerySet(models.QuerySet):
    def for_user(self, user) -> ProgressQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)

    def states_by_lesson(self, user) -> dict[int, str]:
        return dict(self.for_user(user).values_list("lesson_id", "state"))


class LessonProgress(models.Model):
    class State(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_progress"
    )
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    first_opened_at = models.DateTimeField(default=timezone.now)
    last_opened_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ProgressQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lesson"], name="one_progress_per_lesson")
        ]
        indexes = [models.Index(fields=["user", "-last_opened_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.lesson} · {self.state}"
