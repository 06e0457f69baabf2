"""A web server killed with SIGKILL in the middle of a burst of quiz answers loses none
that it acknowledged: every answer a student saw accepted is in the database."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from courseware.models import Attempt, Question
from tests.conftest import worker_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "virtlab.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=worker_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("gunicorn did not start")


def test_answers_acknowledged_before_a_sigkill_are_all_kept(course, student):
    client = Client()
    client.force_login(student)  # the session row is in the test database gunicorn uses
    session = client.cookies["sessionid"].value
    csrf = secrets.token_hex(16)  # 32 characters: Django accepts it unmasked
    questions = list(Question.objects.filter(type="true_false").select_related("quiz__lesson"))
    assert len(questions) >= 8
    port = free_port()
    server = start_gunicorn(port)
    acknowledged: list[str] = []
    enough = threading.Event()

    def burst():
        for question in questions:
            url = reverse(
                "courseware:question_submit", args=[question.quiz.lesson.slug, question.qid]
            )
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{url}",
                data=b"choice=true&source=quiz",
                headers={
                    "Cookie": f"sessionid={session}; csrftoken={csrf}",
                    "X-CSRFToken": csrf,
                    "HX-Request": "true",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    if response.status == 200:  # the feedback partial: the answer was taken
                        acknowledged.append(question.qid)
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server is gone
            if len(acknowledged) >= len(questions) // 2:
                enough.set()

    sender = threading.Thread(target=burst)
    sender.start()
    enough.wait(timeout=60)
    os.killpg(server.pid, signal.SIGKILL)  # master and workers, mid-burst
    server.wait(timeout=10)
    sender.join(timeout=30)

    assert len(acknowledged) >= len(questions) // 2
    stored = set(Attempt.objects.filter(user=student).values_list("question__qid", flat=True))
    assert set(acknowledged) <= stored
