"""Course → Module → Lesson, and each student's progress through lessons."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from virtlab.rendering import content_hash, render_markdown

# Part of a lesson's cache key: bump it when render_markdown's output changes, and
# every lesson re-renders the next time it is saved or shown.
RENDERING_VERSION = 4

SLUG_HELP = "Lowercase letters, digits and hyphens; stable, it is part of the URL."


class Course(models.Model):
    slug = models.SlugField(unique=True, help_text=SLUG_HELP)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The course exam (courseware/quizzes/exam.py), set by instructors in the browser.
    exam_questions = models.PositiveIntegerField(
        default=25, help_text="How many questions each sitting draws across the lessons."
    )
    exam_minutes = models.PositiveIntegerField(
        default=0, help_text="Time allowed for one sitting, in minutes; 0 means untimed."
    )

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
        return self.filter(published=True, trashed_at__isnull=True)

    def not_trashed(self) -> LessonQuerySet:
        return self.filter(trashed_at__isnull=True)

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
    # Authoring (courseware/authoring/): the fields above are the published state that
    # students see; the revision they came from, and drafts after it, are revisions.
    published_revision = models.ForeignKey(
        "LessonRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # In the trash: hidden from students and from the outline, restorable.
    trashed_at = models.DateTimeField(null=True, blank=True)

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
        """Re-render the body if it (or the renderer) changed since the cached HTML;
        True when it did."""
        digest = content_hash(f"rendering {RENDERING_VERSION}\n{self.body}")
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


# --- Quizzes -------------------------------------------------------------------------


class Quiz(models.Model):
    """A lesson's quiz: its settings; the questions hang off it."""

    class ShowAnswers(models.TextChoices):
        AFTER_EACH = "after_each", "After each submission"
        AFTER_LAST = "after_last", "After the last attempt (or a correct answer)"
        NEVER = "never", "Never"

    lesson = models.OneToOneField(Lesson, on_delete=models.CASCADE, related_name="quiz")
    max_attempts = models.PositiveIntegerField(default=0, help_text="0 means unlimited.")
    min_seconds_between = models.PositiveIntegerField(default=0)
    show_answers = models.CharField(
        max_length=16, choices=ShowAnswers.choices, default=ShowAnswers.AFTER_EACH
    )
    # The settings exactly as the file wrote them, so export writes them back unchanged.
    settings_as_written = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "quizzes"

    def __str__(self) -> str:
        return f"Quiz: {self.lesson}"

    def get_absolute_url(self) -> str:
        return reverse("courseware:quiz", kwargs={"slug": self.lesson.slug})


class QuestionQuerySet(models.QuerySet):
    def active(self) -> QuestionQuerySet:
        return self.filter(retired=False)


class Question(models.Model):
    """One question as the file wrote it (``spec``); ``qid`` is stable across edits."""

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    qid = models.SlugField(max_length=100, unique=True)
    type = models.CharField(max_length=16)
    spec = models.JSONField(help_text="The question as in quiz.yaml, answers included.")
    content_hash = models.CharField(max_length=64, editable=False)
    order = models.PositiveIntegerField(default=0)
    # A question removed from its file is retired, not deleted: attempts keep pointing at it.
    retired = models.BooleanField(default=False)
    # Markdown rendered once per content change (prompt, choices, feedback, hints, …).
    rendered = models.JSONField(default=dict, blank=True, editable=False)

    objects = QuestionQuerySet.as_manager()

    class Meta:
        ordering = ["quiz", "order"]

    def __str__(self) -> str:
        return self.qid

    def save(self, *args, **kwargs):
        from .quizzes.render import render_question, spec_hash

        digest = spec_hash(self.spec)
        if digest != self.content_hash or not self.rendered:
            self.content_hash, self.rendered = digest, render_question(self.spec)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "content_hash", "rendered"}
        super().save(*args, **kwargs)

    @property
    def measure(self) -> dict | None:
        return self.spec.get("measure") if self.type == "numeric" else None


class AttemptQuerySet(models.QuerySet):
    def for_user(self, user) -> AttemptQuerySet:
        return self.filter(user=user) if user.is_authenticated else self.none()


class Attempt(models.Model):
    """One graded submission. Append-only: rows are never updated or deleted by the app.

    ``qid`` and ``content_hash`` record which question, in which version, was answered,
    so statistics can tell answers to an edited question apart.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="attempts")
    qid = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    answer = models.JSONField()
    # None: a prediction made before the student had a measurement to score it against.
    score = models.FloatField(null=True, blank=True)
    correct = models.BooleanField(default=False)
    # The answer had been shown before this attempt (the quiz showed answers after each
    # submission): it is practice and does not count. Recorded when made, so changing
    # the quiz's policy later does not rewrite anybody's score.
    practice = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AttemptQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["user", "question", "created_at"]),
            models.Index(fields=["question", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.qid} · {self.score}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Attempts are append-only; record a new attempt instead.")
        super().save(*args, **kwargs)


# --- Classes -------------------------------------------------------------------------


class ClassroomQuerySet(models.QuerySet):
    def taught_by(self, user) -> ClassroomQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(instructors=user).distinct()

    def joined_by(self, user) -> ClassroomQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Classroom(models.Model):
    """A class an instructor teaches; students join it with its code."""

    name = models.CharField(max_length=120)
    join_code = models.CharField(max_length=16, unique=True)
    instructors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classes_taught")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClassroomQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("courseware:class_detail", kwargs={"class_id": self.pk})

    @property
    def display_code(self) -> str:
        """The join code in two halves, easier to read out in a classroom."""
        half = len(self.join_code) // 2
        return f"{self.join_code[:half]}-{self.join_code[half:]}"


class Membership(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="class_memberships"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["classroom", "user"], name="one_membership_per_class")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.classroom}"


# --- Authoring -----------------------------------------------------------------------


class LessonRevision(models.Model):
    """One saved version of a lesson as its author wrote it (docs/architecture.md,
    "Authoring"). Append-only: a restore or an import adds a revision, never rewrites one.

    ``content`` holds what an instructor edits: title, summary, objectives, labs, the
    Markdown body and the quiz file's text (``quiz``, "" for none). Where the lesson sits
    in the outline (module, order, slug) is not versioned; moves are AuthoringEvents.
    """

    class Origin(models.TextChoices):
        BROWSER = "browser", "Edited in the browser"
        RESTORE = "restore", "Restored from an earlier revision"
        FILES = "files", "Imported from course files"
        SHIPPED = "shipped", "Changed in the course shipped with virtlab"
        ZIP = "zip", "Uploaded in a course zip"
        BASELINE = "baseline", "As published when revisions began"

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    # The revision the author started from: a save whose base is not the newest
    # revision any more is a conflicting edit.
    based_on = models.PositiveIntegerField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.BROWSER)
    note = models.CharField(max_length=200, blank=True)
    # Why it cannot be published, as "file:line: reason" lines; empty when it can.
    problems = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesson", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["lesson", "number"], name="one_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.lesson.slug} r{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Revisions are append-only; save a new revision instead.")
        super().save(*args, **kwargs)

    @property
    def publishable(self) -> bool:
        return not self.problems


class EditorDraft(models.Model):
    """What an instructor has typed in the editor and not saved yet, kept with every
    live preview, so a crash or a closed tab loses nothing (one per author and lesson)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="editor_drafts")
    content = models.JSONField()
    based_on = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lesson"], name="one_editor_draft")]

    def __str__(self) -> str:
        return f"{self.user} · {self.lesson} (unsaved)"


class AuthoringEvent(models.Model):
    """Who changed the course, beyond saving revisions: publishing, moving, trashing."""

    lesson = models.ForeignKey(
        Lesson, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=32)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.detail}"


class CourseUpload(models.Model):
    """A course zip an instructor uploaded, kept between the report of what it would
    change and their decision to apply it (in the database, so any web worker on any
    host can apply it)."""

    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    data = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.uploaded_by}, {self.created_at:%Y-%m-%d %H:%M})"


class LessonImage(models.Model):
    """A picture a lesson shows (``![…](images/name.png)``), uploaded in the browser or
    imported from the lesson folder's ``images/``; kept in the database so every web
    worker on every host serves the same file, and exported with the course."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=100)
    data = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesson", "name"]
        constraints = [
            models.UniqueConstraint(fields=["lesson", "name"], name="one_image_name_per_lesson")
        ]

    def __str__(self) -> str:
        return f"{self.lesson.slug}/images/{self.name}"


# --- The course exam -------------------------------------------------------------------


class ExamSitting(models.Model):
    """One student's sitting of the course exam: the questions it drew, in order, and
    its time limit as it was when the sitting began."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exam_sittings"
    )
    qids = models.JSONField()
    time_limit_minutes = models.PositiveIntegerField(default=0)  # 0: untimed
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The mean over the drawn questions of each one's newest answer (0 unanswered),
    # fixed when the sitting finishes.
    score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.user} · exam · {self.started_at:%Y-%m-%d %H:%M}"


class ExamAnswer(models.Model):
    """One answer saved during a sitting (append-only; the newest per question counts),
    with the question version it answered, like a quiz ``Attempt``."""

    sitting = models.ForeignKey(ExamSitting, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="exam_answers")
    qid = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    answer = models.JSONField()
    score = models.FloatField()
    correct = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.sitting} · {self.qid} · {self.score}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Exam answers are append-only; save a new answer instead.")
        super().save(*args, **kwargs)


# --- Assignments -----------------------------------------------------------------------


class InstructorSettings(models.Model):
    """An instructor's own settings: the time zone they enter and read due times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="instructor_settings"
    )
    # An IANA name from zoneinfo.available_timezones(); "" means settings.TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "instructor settings"

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone or settings.TIME_ZONE}"


class Assignment(models.Model):
    """Work a class is given with a due time: reading a lesson, mastering its quiz, or
    running a lab (courseware/classes/assignments.py says when each counts as done)."""

    class Kind(models.TextChoices):
        LESSON = "lesson", "Lesson"
        QUIZ = "quiz", "Quiz"
        LAB = "lab", "Lab"

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="assignments")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The lesson read, or whose quiz is taken; empty for a lab.
    lesson = models.ForeignKey(
        Lesson, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments"
    )
    lab = models.SlugField(blank=True)  # the lab's slug, for a lab
    due_at = models.DateTimeField()
    required = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "pk"]

    def __str__(self) -> str:
        what = self.lab if self.kind == self.Kind.LAB else getattr(self.lesson, "slug", "?")
        return f"{self.classroom} · {self.kind} {what} · due {self.due_at:%Y-%m-%d %H:%M}"


# --- Guided exercises ------------------------------------------------------------------


class ExerciseQuerySet(models.QuerySet):
    def active(self) -> ExerciseQuerySet:
        return self.filter(retired=False)


class Exercise(models.Model):
    """A lesson's guided exercise (``exercises/<slug>/steps.md`` and its check scripts;
    courseware/coursefiles/exercise_files.py). Removed from its files it is retired,
    not deleted, so the students' completed steps stay."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="exercises")
    slug = models.SlugField(help_text=SLUG_HELP)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    intro_html = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    # The folder's files exactly as written ({name: text}), so export writes them back.
    files = models.JSONField(default=dict)
    retired = models.BooleanField(default=False)

    objects = ExerciseQuerySet.as_manager()

    class Meta:
        ordering = ["lesson", "order", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["lesson", "slug"], name="one_exercise_slug_per_lesson")
        ]

    def __str__(self) -> str:
        return f"{self.lesson.slug}/exercises/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse(
            "courseware:exercise", kwargs={"slug": self.lesson.slug, "exercise": self.slug}
        )


class ExerciseStep(models.Model):
    """One step: its instructions and hints (rendered at import) and the check the
    server runs in the student's sandbox. ``key`` is the check script's name without
    ``.sh``: stable across edits, the completions are keyed by it."""

    class Sandbox(models.TextChoices):
        CONTAINER = "container", "Container"
        VM = "vm", "Virtual machine"

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=100)
    order = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    instructions_html = models.TextField(blank=True)
    script = models.TextField()
    sandbox = models.CharField(max_length=16, choices=Sandbox.choices)
    timeout = models.PositiveIntegerField(default=10)
    hints_html = models.JSONField(default=list, blank=True)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["exercise", "order"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "key"], name="one_step_key_per_exercise")
        ]

    def __str__(self) -> str:
        return f"{self.exercise} · {self.key}"


class StepCompletion(models.Model):
    """A student's check of a step passed (once; later checks change nothing)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="step_completions"
    )
    step = models.ForeignKey(ExerciseStep, on_delete=models.CASCADE, related_name="completions")
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "step"], name="one_completion_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.step}"
