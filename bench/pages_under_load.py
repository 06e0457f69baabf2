"""Do pages stay fast while labs run, and how long does a class's login storm take?

Serves virtlab the way a class server does (``scripts/serve``: gunicorn with its
default workers and a lab worker) on a scratch SQLite database with the shipped
course, and creates the students (one password hash, copied, so setting up costs
nothing). Then:

1. a login storm: every student has the sign-in page open and all press "Sign in"
   at once; each POST is timed until its redirect (p50, p95, and the wall time
   until the last one is signed in);
2. pages idle: the signed-in students browse a mix of student pages (home, a
   lesson, a lab page) with a think time between pages, for a fixed time;
3. pages with labs running: the same, after 20 students each submitted a small
   boot-race run, counted only while the worker still has runs to execute (at most
   ``--max-loaded-seconds``; runs still queued then are dropped with the scratch
   database, and the instance's sweep removes what a stopped run left).

Prints the p95 page latency of 3 against 2 as a ratio (aim < 1.5×), the login
figures, how much CPU the sandboxes (every virtlab's on this host: the cgroup parent
is shared), the web workers and the lab worker used meanwhile, and the host's load
average, since other work on the machine moves every figure. ``--skip-labs`` runs 1
and 2 only, to compare web server settings (``VIRTLAB_WEB_WORKERS``/``_THREADS``).

    .venv/bin/python bench/pages_under_load.py [--students 100] [--labs 20] [--seconds 20]
        [--think 1.0] [--max-loaded-seconds 90] [--skip-labs]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PASSWORD = "bench-passphrase-9187"
LAB = "boot-race"
LAB_PARAMS = {"repeats": 1, "vm_memory_mib": 128}
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CPU_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Student:
    """One browser: a cookie jar and plain HTTP/1.1 requests (no redirects followed)."""

    def __init__(self, port: int, username: str):
        self.port, self.username = port, username
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            page = response.read().decode(errors="replace")
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name] = rest.split(";", 1)[0]
            return response.status, page
        finally:
            connection.close()

    def form_token(self, path: str) -> str:
        status, page = self.request("GET", path)
        found = TOKEN.search(page)
        if status != 200 or not found:
            raise RuntimeError(f"{path} answered {status} without a form for {self.username}")
        return found.group(1)

    def post(self, path: str, token: str, fields: dict) -> int:
        return self.request("POST", path, {**fields, "csrfmiddlewaretoken": token})[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def login_storm(students: list[Student]) -> tuple[list[float], float, int]:
    """Every student POSTs the sign-in form at the same moment; (times, wall, failures)."""
    tokens = [student.form_token("/accounts/login/") for student in students]
    start = threading.Barrier(len(students) + 1)
    times: list[float] = []
    failures = []

    def sign_in(student: Student, token: str) -> None:
        start.wait()
        began = time.monotonic()
        status = student.post(
            "/accounts/login/", token, {"username": student.username, "password": PASSWORD}
        )
        times.append(time.monotonic() - began)
        if status != 302 or "sessionid" not in student.cookies:
            failures.append(status)

    threads = [
        threading.Thread(target=sign_in, args=pair) for pair in zip(students, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return times, time.monotonic() - began, len(failures)


def browse(
    students: list[Student], pages: list[str], think: float, keep_going
) -> tuple[list[float], int]:
    """Each student loads pages from the mix, pausing ``think`` s (±50%) between them,
    while ``keep_going()``; returns the latencies and the number of errors."""
    latencies: list[float] = []
    errors = []

    def student_loop(student: Student, seed: int) -> None:
        chooser = random.Random(seed)
        time.sleep(chooser.uniform(0, think))  # students do not click in step
        while keep_going():
            began = time.monotonic()
            try:
                status, _ = student.request("GET", chooser.choice(pages))
            except OSError as error:
                status = str(error)
            if keep_going():  # a request that outlived the phase is not counted
                latencies.append(time.monotonic() - began)
                if status != 200:
                    errors.append(status)
            time.sleep(chooser.uniform(think / 2, think * 1.5))

    threads = [
        threading.Thread(target=student_loop, args=(student, index))
        for index, student in enumerate(students)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(errors)


def runs_left(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(
            "SELECT count(*) FROM labs_labrun WHERE status IN ('queued', 'running')"
        ).fetchone()[0]


def run_outcomes(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return dict(db.execute("SELECT status, count(*) FROM labs_labrun GROUP BY status"))


def session_processes(session: int) -> dict[str, list[int]]:
    """The gunicorn and lab worker processes ``scripts/serve`` started (its session)."""
    found: dict[str, list[int]] = {"web": [], "worker": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[3]) != session:
            continue
        if b"gunicorn" in command:
            found["web"].append(int(entry))
        elif b"lab_worker" in command:
            found["worker"].append(int(entry))
    return found


def web_config(pids: list[int]) -> str:
    """How scripts/serve started gunicorn: its workers and threads, from the command line."""
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        options = dict(zip(argv, argv[1:], strict=False))
        if "--workers" in options:
            workers, kind = options["--workers"], options.get("--worker-class", "sync")
            if "Uvicorn" in kind:  # ASGI: each request's view in a thread of its own
                return f"gunicorn {workers} ASGI (uvicorn) workers"
            threads = options.get("--threads", "1")
            return f"gunicorn {workers} {kind} workers × {threads} threads"
    return "gunicorn (its options not found)"


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CPU_TICKS


def sandbox_cpu_share() -> str:
    """The sandboxes' parent cgroup's CPU share now (set by the sandbox driver)."""
    for path in ("/sys/fs/cgroup/cpu/virtlab/cpu.shares", "/sys/fs/cgroup/virtlab/cpu.weight"):
        try:
            return f"{Path(path).name} {Path(path).read_text().strip()}"
        except OSError:
            pass
    return "no cpu share"


def sandbox_cpu_seconds() -> float | None:
    """CPU time of everything under the sandboxes' parent cgroup (every instance's)."""
    for path in ("/sys/fs/cgroup/cpuacct/virtlab/cpuacct.usage",):
        try:
            return int(Path(path).read_text()) / 1e9
        except (OSError, ValueError):
            pass
    try:
        for line in Path("/sys/fs/cgroup/virtlab/cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return None


def report_idle_only(options, config, idle, idle_errors, login_times, login_wall) -> None:
    print(f"{options.students} students, think {options.think:g} s; scripts/serve: {config}")
    print(
        f"{'page p50 / p95 idle':<48}{statistics.median(idle):8.3f} s / "
        f"{percentile(idle, 0.95):.3f} s   ({len(idle)} pages, {idle_errors} errors)"
    )
    print(
        f"{str(options.students) + ' simultaneous logins: p50 / p95 / all':<48}"
        f"{statistics.median(login_times):8.2f} s / {percentile(login_times, 0.95):.2f} s / "
        f"{login_wall:.2f} s   (load average {os.getloadavg()[0]:.2f})"
    )


def setup_database(env: dict, students: int) -> str:
    """Migrate, import the course, create the students; returns a lesson's slug."""
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "import_course", "--seed"],
        env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    script = (
        "from django.contrib.auth.hashers import make_password\n"
        "from django.contrib.auth.models import User\n"
        "from courseware.models import Lesson\n"
        f"hashed = make_password({PASSWORD!r})\n"  # the default hasher, at full strength
        "User.objects.bulk_create([User(username=f'student{i:03}', password=hashed)"
        f" for i in range({students})])\n"
        "print(next(lesson.slug for lesson in Lesson.objects.order_by('order')"
        f" if {LAB!r} in lesson.labs))\n"
    )
    done = subprocess.run(
        [*manage, "shell", "-c", script],
        env=env, check=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.split()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--labs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20, help="the idle phase's length")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between pages")
    parser.add_argument("--max-loaded-seconds", type=float, default=90)
    parser.add_argument(
        "--skip-labs", action="store_true", help="only the logins and idle pages (compare servers)"
    )
    options = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="virtlab-bench-"))
    database = scratch / "bench.sqlite3"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        # An instance of its own: a developer's server on this checkout shares var/,
        # and must neither reap the benchmark's sandboxes nor have its own reaped.
        "VIRTLAB_INSTANCE": f"bench-{scratch.name}",
        "VIRTLAB_PORT": str(port),
        "VIRTLAB_MAX_QUEUED_RUNS": str(max(30, options.labs + 5)),
        # Sandbox slots are shared by everything on this checkout (var/slots): more of
        # them, so the benchmark's one lab worker does not wait while a test suite or
        # another server here holds the usual two.
        "VIRTLAB_MAX_RUNNING_SANDBOXES": "6",
    }
    lesson = setup_database(env, options.students)
    pages = ["/", f"/lessons/{lesson}/", f"/labs/{LAB}/"]
    log = open(scratch / "serve.log", "wb")  # noqa: SIM115 - the server's, closed below
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")], env=env, cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                Student(port, "probe").request("GET", "/accounts/login/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no server: see {scratch / 'serve.log'}") from None
                time.sleep(0.2)
        time.sleep(3)  # the worker probes the host once when it starts
        processes = session_processes(server.pid)
        config = web_config(processes["web"])
        students = [Student(port, f"student{i:03}") for i in range(options.students)]

        login_times, login_wall, login_failures = login_storm(students)
        for page in pages:  # every worker has rendered every page once: caches are warm
            for student in students[:20]:
                student.request("GET", page)

        stop_at = time.monotonic() + options.seconds
        idle, idle_errors = browse(
            students, pages, options.think, lambda: time.monotonic() < stop_at
        )

        if options.skip_labs:
            report_idle_only(options, config, idle, idle_errors, login_times, login_wall)
            return
        submitters = students[: options.labs]
        tokens = [student.form_token(f"/labs/{LAB}/") for student in submitters]
        for student, token in zip(submitters, tokens, strict=True):
            status = student.post(f"/labs/{LAB}/run/", token, LAB_PARAMS)
            if status != 302:
                raise RuntimeError(f"submitting {LAB} answered {status}")
        if runs_left(database) != options.labs:
            raise RuntimeError(f"{options.labs} submissions queued {runs_left(database)} runs")
        loaded_from = time.monotonic()
        give_up = loaded_from + options.max_loaded_seconds
        sandbox_before = sandbox_cpu_seconds()
        worker_before = cpu_seconds(processes["worker"])
        web_before = cpu_seconds(processes["web"])
        left = {"runs": runs_left(database)}

        def labs_running() -> bool:
            return left["runs"] > 0 and time.monotonic() < give_up

        def watch() -> None:
            while labs_running():
                time.sleep(0.25)
                left["runs"] = runs_left(database)

        watcher = threading.Thread(target=watch)
        watcher.start()
        loaded, loaded_errors = browse(students, pages, options.think, labs_running)
        watcher.join()
        share = sandbox_cpu_share()  # read while the last run's groups still exist
        loaded_seconds = time.monotonic() - loaded_from
        sandbox_cpu = sandbox_cpu_seconds()
        worker_cpu = cpu_seconds(processes["worker"]) - worker_before
        web_cpu = cpu_seconds(processes["web"]) - web_before
        outcomes = run_outcomes(database)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)  # the lab worker finishes the run in hand
        log.close()
        # Runs the window left queued are never started; anything a stopped run left
        # behind is this instance's, and its sweep removes it.
        subprocess.run(
            [PY, str(ROOT / "manage.py"), "shell", "-c", "from labs.stale import sweep; sweep()"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    print(
        f"{options.students} students, pages {', '.join(pages)}, think {options.think:g} s; "
        f"scripts/serve: {config}; {os.cpu_count()} cores"
    )
    idle_p95, loaded_p95 = percentile(idle, 0.95), percentile(loaded, 0.95)
    print(f"{'page p95 idle':<48}{idle_p95:8.3f} s   ({len(idle)} pages, {idle_errors} errors)")
    print(
        f"{'page p95 with ' + str(options.labs) + ' labs running':<48}{loaded_p95:8.3f} s   "
        f"({len(loaded)} pages in {loaded_seconds:.0f} s, {loaded_errors} errors)"
    )
    print(
        f"{'page p50 idle / with labs running':<48}{statistics.median(idle):8.3f} s / "
        f"{statistics.median(loaded):.3f} s"
    )
    print(
        f"{'page p95 with ' + str(options.labs) + ' labs running vs idle':<48}"
        f"{loaded_p95 / idle_p95:8.2f}×   (aim < 1.5×)"
    )
    runs = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
    runs += "" if not left["runs"] else " when the window closed"
    print(f"{'  lab runs':<48}{runs}")
    if sandbox_cpu is not None and sandbox_before is not None:
        print(
            f"{'  CPU while labs ran: sandboxes / web / worker':<48}"
            f"{sandbox_cpu - sandbox_before:8.1f} s / {web_cpu:.1f} s / {worker_cpu:.1f} s"
            f"   (of {loaded_seconds * (os.cpu_count() or 1):.0f} core-seconds; "
            f"sandboxes' {share})"
        )
    print(
        f"{str(options.students) + ' simultaneous logins: p50 / p95':<48}"
        f"{statistics.median(login_times):8.2f} s / {percentile(login_times, 0.95):.2f} s"
        f"   ({login_failures} failed)"
    )
    print(f"{str(options.students) + ' simultaneous logins: all signed in':<48}{login_wall:8.2f} s")
    print(
        f"{'  host load average at start / end':<48}{load_at_start:8.2f}   / "
        f"{os.getloadavg()[0]:.2f}   (other work on the host skews every figure)"
    )


if __name__ == "__main__":
    main()
