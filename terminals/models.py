"""A student's interactive terminal: which sandbox, whose, and how it ended.

The row is the web side's record; the shell itself lives in the terminal host
(host.py), which moves the row through its states. The public id is what URLs and
WebSockets carry: unguessable, and checked against the signed-in user every time.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from labs.sandbox import ownership


def this_server() -> str:
    """This process's virtlab instance: the one whose terminal host a session opened
    here lives in (web workers and their terminal host share var/, so one instance)."""
    return ownership.instance().id


class TerminalSession(models.Model):
    class Kind(models.TextChoices):
        CONTAINER = "container", "Container"
        VM = "vm", "Virtual machine"
        VM_CONTAINER = "vm-container", "Container in a virtual machine"

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting to connect"  # made by the web side, not yet attached
        QUEUED = "queued", "Queued"  # the host holds it: waiting its turn, or starting
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    OPEN = (Status.WAITING, Status.QUEUED, Status.LIVE)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terminal_sessions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    # The ad-hoc sandbox id its container or VM is named after (vl<id>-…), once started.
    sandbox_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    # The virtlab instance (labs/sandbox/ownership.py) whose terminal host holds the
    # shell: several web servers may share one database, each with its own terminal
    # host, and one that restarts must close only its own rows.
    server = models.CharField(max_length=64, default=this_server, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} terminal of {self.user} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("terminals:session", kwargs={"public_id": self.public_id})

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN
