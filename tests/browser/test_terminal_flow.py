"""A student opens terminals in the browser, served as `make run` serves them: the
real `scripts/serve` (gunicorn's ASGI workers and the terminal host) on the test
database, xterm.js in chromium, real sandboxes behind it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import worker_env
from tests.sandbox.guest_fixtures import built_assets, qemu  # noqa: F401
from tests.terminals.conftest import runc  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(transactional_db):
    """scripts/serve on a free port: one web worker, the terminal host, no lab worker."""
    port = free_port()
    env = {
        **worker_env(),
        "VIRTLAB_PORT": str(port),
        "VIRTLAB_WEB_WORKERS": "1",
        "VIRTLAB_LAB_WORKERS": "0",
        "VIRTLAB_TERMINAL_SOCKET": f"/run/virtlab/test-term-serve-{os.getpid()}.sock",
    }
    process = subprocess.Popen(
        ["scripts/serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/accounts/login/", timeout=2)  # noqa: S310
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
    while not os.path.exists(env["VIRTLAB_TERMINAL_SOCKET"]):
        assert time.monotonic() < deadline, "the terminal host did not start"
        time.sleep(0.1)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


@pytest.fixture
def student_page(browser, served, student):
    client = Client()
    client.force_login(student)
    context = browser.new_context(base_url=served)
    host = served.split("//")[1].split(":")[0]
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": host,
                "path": "/",
            }
        ]  # fmt: skip
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


def type_and_read(page, command: str, marker: str) -> str:
    """Type into the terminal as a student would and return what the screen shows
    once ``marker`` appears in it."""
    page.locator(".terminal-screen").click()
    page.keyboard.type(command + "\n")
    screen = page.locator(".terminal-screen .xterm-rows")
    screen.filter(has_text=marker).wait_for(timeout=60_000)
    return screen.inner_text()


def test_uname_differs_between_a_container_and_a_vm_in_the_browser(student_page, runc, qemu):  # noqa: F811
    page = student_page
    page.goto("/terminals/")
    page.get_by_role("button", name="Open a container terminal").click()
    status = page.locator("[data-terminal-status]")
    status.filter(has_text="Connected to your container").wait_for(timeout=60_000)
    container = type_and_read(page, "echo K=$(uname -r)=END$((1+1))", "END2")
    container_kernel = re.search(r"K=([^=\s]+)=", container).group(1)
    assert container_kernel == os.uname().release

    page.get_by_role("button", name="Switch to a VM terminal (ends this one)").click()
    status.filter(has_text="Connected to your VM").wait_for(timeout=120_000)
    guest = type_and_read(page, "echo K=$(uname -r)=END$((1+1))", "END2")
    guest_kernel = re.search(r"K=([^=\s]+)=", guest).group(1)
    assert guest_kernel != container_kernel
    # Reloading the page within the grace period finds the same shell.
    page.keyboard.type("export KEPT=still-here\n")
    page.reload()
    status.filter(has_text="Connected to your VM").wait_for(timeout=60_000)
    assert "KEPT=still-here" in type_and_read(page, "echo KEPT=$KEPT-$((1+1))", "still-here-2")
    page.get_by_role("button", name="End this terminal").click()
    page.get_by_text("Your terminal has ended").wait_for()
    assert not page.js_errors


def test_a_student_completes_a_guided_exercise_step_in_the_browser(student_page, runc, course):  # noqa: F811
    from courseware.models import Exercise, StepCompletion

    exercise = Exercise.objects.get(slug="inside-a-container-and-a-vm")
    page = student_page
    page.goto(exercise.get_absolute_url())
    step = page.locator("li", has=page.get_by_role("heading", name="Which kernel answers"))
    # Checked before the student has a terminal: told to open one.
    step.get_by_role("button", name="Check").click()
    step.get_by_text("Open a container terminal first").wait_for()
    page.get_by_role("button", name="Open a container terminal").click()
    page.locator("[data-terminal-status]").filter(has_text="Connected").wait_for(timeout=60_000)
    step = page.locator("li", has=page.get_by_role("heading", name="Which kernel answers"))
    # Not done yet: the check says what is missing.
    step.get_by_role("button", name="Check").click()
    step.locator(".outcome-missing").wait_for(timeout=30_000)
    type_and_read(
        page, "mkdir -p /tmp/answers; uname -r > /tmp/answers/kernel; echo D=$((1+1))", "D=2"
    )
    step.get_by_role("button", name="Check").click()
    step.locator(".outcome-done").wait_for(timeout=30_000)
    assert page.get_by_text("1 of").first.is_visible()
    assert StepCompletion.objects.filter(step__exercise=exercise).count() == 1
    assert not page.js_errors
