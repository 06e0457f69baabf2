"""What virtlab keeps about LTI beyond django-lti's own rows (``lti_tool``): which
virtlab account a platform's user is, which class a platform's course is, where a
student's score goes back to, and the launches already used."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from lti_tool.models import LtiContext, LtiRegistration

from courseware.models import Classroom, Lesson


class PlatformAccount(models.Model):
    """A platform's user (issuer + ``sub``, the LTI user id) ↔ one virtlab account.

    Keyed by issuer, not by registration: one platform registered twice (two client
    ids) still has one account per person. The unique constraint is what makes first
    launches race-safe: two launches at once both try to insert, one wins.
    """

    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_accounts"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "sub"], name="one_account_per_platform_user")
        ]

    def __str__(self) -> str:
        return f"{self.sub} at {self.issuer}"


class ContextClass(models.Model):
    """A platform's course (django-lti's context) is one virtlab class."""

    context = models.OneToOneField(LtiContext, on_delete=models.CASCADE, related_name="virtlab")
    classroom = models.OneToOneField(Classroom, on_delete=models.CASCADE, related_name="lti_link")
    roster_imported_at = models.DateTimeField(null=True, blank=True)
    roster_summary = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.context} → {self.classroom}"


class PlatformFrames(models.Model):
    """Origins allowed to show virtlab in a frame for this registration, besides the
    origins of its issuer and authorisation URL (a Canvas school's pages live on its
    own domain, neither of those)."""

    registration = models.OneToOneField(
        LtiRegistration, on_delete=models.CASCADE, related_name="virtlab_frames"
    )
    extra_origins = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"frames for {self.registration}"


class GradeLink(models.Model):
    """Where one student's score for one lesson goes: a line item on a platform.

    Written at the student's launch of a lesson or quiz link that carries AGS; read by
    the task that sends the score (``grades.send_grade``), which also records how the
    last send went so the class's instructors see failures.
    """

    account = models.ForeignKey(PlatformAccount, on_delete=models.CASCADE, related_name="grades")
    registration = models.ForeignKey(LtiRegistration, on_delete=models.CASCADE)
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="lti_grades")
    classroom = models.ForeignKey(
        Classroom, on_delete=models.SET_NULL, null=True, blank=True, related_name="lti_grades"
    )
    lineitem_url = models.URLField(max_length=500)
    scopes = models.JSONField(default=list)
    last_score = models.FloatField(null=True, blank=True)  # the fraction last accepted
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)  # in a row; 0 after a success

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "lineitem_url"], name="one_link_per_line_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.lesson} → {self.lineitem_url}"


class UsedLaunch(models.Model):
    """An id_token's nonce once its launch was accepted. pylti1p3 lets the same
    id_token and state through again (it remembers a validated state so a page can be
    reloaded); a launch is a sign-in, so a second use is refused here."""

    issuer = models.CharField(max_length=255)
    nonce = models.CharField(max_length=255)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "nonce"], name="one_use_per_nonce")
        ]

    def __str__(self) -> str:
        return f"{self.nonce} at {self.issuer}"
