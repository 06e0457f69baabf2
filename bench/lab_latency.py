"""How much the web path adds to a container sample.

Serves virtlab with gunicorn and a real lab worker on a scratch SQLite database, logs
in, submits boot-race with repeats=1 five times and polls the run page the way the
browser does (same interval, with HX-Request) until the first sample row appears.
Compares that with the raw sandbox start time measured in the same run
(``containers.run_container``'s request → first output). Prints medians, the
difference and the ratio. Aim: the web path adds under 0.5 s.

    .venv/bin/python bench/lab_latency.py [runs]
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
USERNAME, PASSWORD = "bench-student", "bench-passphrase-9187"
SAMPLE_ROW = re.compile(r"<tbody><tr>")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """A cookie-keeping HTTP client that speaks to our forms like a browser would."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, htmx: bool = False) -> tuple[str, str]:
        request = urllib.request.Request(self.base + path)
        if htmx:
            request.add_header("HX-Request", "true")
        with self.opener.open(request, timeout=30) as response:
            return response.geturl(), response.read().decode()

    def post_form(self, path: str, fields: dict) -> str:
        _, page = self.get(path if path.endswith("/login/") else path.rsplit("run/", 1)[0])
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=data)
        request.add_header("Referer", self.base + path)
        with self.opener.open(request, timeout=30) as response:
            return response.geturl()


def wait_until_up(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def raw_container_starts(count: int) -> list[float]:
    from labs.sandbox import containers
    from labs.sandbox.limits import Limits
    from labs.sandbox.naming import adhoc_run_id

    starts = []
    for index in range(count):
        result = containers.run_container(
            adhoc_run_id(), ["/bin/sh", "-c", "echo started"], Limits(wall_seconds=20),
            name=f"raw{index}",
        )  # fmt: skip
        starts.append(result.start_latency_seconds)
    return starts


def worker_pickup_seconds(database: Path) -> float:
    """Median time from a run's creation to the worker claiming it (from the rows)."""
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT created_at, started_at FROM labs_labrun").fetchall()
    gaps = [
        (datetime.fromisoformat(started) - datetime.fromisoformat(created)).total_seconds()
        for created, started in rows
        if started
    ]
    return statistics.median(gaps)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtlab.settings")
    import django

    django.setup()
    from labs.views import FIRST_SAMPLE_POLL_SECONDS

    scratch = Path(tempfile.mkdtemp(prefix="virtlab-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "VIRTLAB_MAX_ACTIVE_RUNS_PER_USER": "10",
        # An instance of its own: a developer's server on this checkout shares var/,
        # and must neither reap the benchmark's sandboxes nor have its own reaped.
        "VIRTLAB_INSTANCE": f"bench-{scratch.name}",
    }
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "shell", "-c",
         f"from django.contrib.auth.models import User; User.objects.create_user({USERNAME!r}, password={PASSWORD!r})"],
        env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes = [
        subprocess.Popen([*manage, "lab_worker"], env=env, cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
        subprocess.Popen([str(Path(PY).parent / "gunicorn"), "virtlab.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True),
    ]  # fmt: skip
    try:
        wait_until_up(base)
        time.sleep(3)  # the worker probes the host once when it starts
        browser = Browser(base)
        browser.post_form("/accounts/login/", {"username": USERNAME, "password": PASSWORD})
        web, in_sample = [], []
        for _ in range(runs):
            submitted = time.monotonic()
            run_url = browser.post_form(
                "/labs/boot-race/run/", {"repeats": 1, "vm_memory_mib": 128}
            )
            path = urllib.parse.urlparse(run_url).path
            while True:
                _, fragment = browser.get(path, htmx=True)
                if SAMPLE_ROW.search(fragment):
                    web.append(time.monotonic() - submitted)
                    first = re.search(
                        r"<tbody><tr><td>container</td><td>1</td><td>([0-9.]+)</td>", fragment
                    )
                    in_sample.append(float(first.group(1)) if first else float("nan"))
                    break
                # The page's own interval, read from the fragment as htmx would.
                interval = re.search(r'hx-trigger="every (\d+)ms"', fragment)
                time.sleep(int(interval.group(1)) / 1000 if interval else 0.5)
            while 'hx-trigger="every' in browser.get(path, htmx=True)[1]:
                time.sleep(0.5)  # let the VM part finish before the next submission
        raw = raw_container_starts(runs)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
    web_median, raw_median = statistics.median(web), statistics.median(raw)
    pickup = worker_pickup_seconds(scratch / "bench.sqlite3")
    print(
        f"boot-race repeats=1, {runs} runs, page polling every {FIRST_SAMPLE_POLL_SECONDS} s until the first sample"
    )
    print(f"{'submit → first sample on the page (median)':<48}{web_median:8.3f} s")
    print(
        f"{'  the sample itself (container start, median)':<48}{statistics.median(in_sample):8.3f} s"
    )
    print(f"{'  of which: queued → claimed by the worker':<48}{pickup:8.3f} s")
    print(f"{'raw run_container start (median)':<48}{raw_median:8.3f} s")
    print(f"{'web path adds':<48}{web_median - raw_median:8.3f} s   (aim < 0.5 s)")
    print(f"{'ratio web / raw':<48}{web_median / raw_median:8.1f}×")


if __name__ == "__main__":
    main()
