"""How many pages a second the web server answers: lesson, quiz and home pages against
the login page and a trivial view.

Serves virtlab with gunicorn as ``scripts/serve`` does (same settings and middleware,
2 ASGI workers: uvicorn under gunicorn) on a free loopback port, from a scratch SQLite database and var/ of
its own holding the shipped course. A student with some answered questions (right and
wrong, so the pages show per-student state) is logged in; then a fixed number of
concurrent clients (threads in a few client processes, one HTTP/1.1 request per
connection) ask for each page in turn for a fixed
time, in several rounds. Prints each page's requests per second (median over the
rounds), its throughput as a ratio of the login page's, and the gunicorn workers' CPU
time per request (from /proc; steadier than requests a second when other work shares
the machine). Aim: the lesson page at least 0.5× the login page.

    .venv/bin/python bench/page_throughput.py [seconds per page per round]
"""

from __future__ import annotations

import http.client
import http.cookiejar
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
USERNAME, PASSWORD = "bench-student", "bench-passphrase-9187"
WORKERS = 2  # as scripts/serve
CLIENT_PROCESSES, THREADS_PER_PROCESS = 2, 4  # 8 requests in flight
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def log_in(base: str) -> str:
    """The Cookie header of a logged-in session (signed in through the login form)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    fields = {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token}
    request = urllib.request.Request(
        base + "/accounts/login/", data=urllib.parse.urlencode(fields).encode()
    )
    request.add_header("Referer", base + "/accounts/login/")
    with opener.open(request, timeout=30) as response:
        if urllib.parse.urlparse(response.geturl()).path == "/accounts/login/":
            raise RuntimeError("the bench student could not log in")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def seed_student(lesson_slug: str) -> str:
    """The bench student, with answers in the measured lesson (every other question,
    alternately right and wrong) and the first question of every other lesson; returns
    a line describing that state. Runs in this process against the scratch database."""
    from django.contrib.auth import get_user_model

    from courseware.models import Question
    from tests.courseware.quiz_helpers import correct_form, record, wrong_form

    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    questions = list(
        Question.objects.active().select_related("quiz__lesson").order_by("quiz__lesson", "order")
    )
    answered, firsts = 0, set()
    ours = [q for q in questions if q.quiz.lesson.slug == lesson_slug]
    for index, question in enumerate(ours[::2]):
        form = (correct_form if index % 2 == 0 else wrong_form)(question)
        record(user, question, form, minutes_ago=60 - index)
        answered += 1
    for question in questions:
        lesson = question.quiz.lesson.slug
        if lesson != lesson_slug and lesson not in firsts:
            firsts.add(lesson)
            record(user, question, correct_form(question), minutes_ago=90)
    return f"{answered} of {len(ours)} questions answered here, 1 in each of {len(firsts)} other lessons"


def measured_lesson() -> str:
    """The published lesson with the most active quiz questions (outline order breaks ties)."""
    from django.db.models import Count, Q

    from courseware.models import Lesson

    lessons = Lesson.objects.published().in_outline_order()
    counted = lessons.annotate(n=Count("quiz__questions", filter=Q(quiz__questions__retired=False)))
    return max(counted, key=lambda lesson: lesson.n).slug


def _client(port: int, path: str, cookie: str, seconds: float, threads: int, out) -> None:
    """One client process: ``threads`` loops asking for ``path`` for ``seconds``; puts
    (answered, failed, bytes of the last page) on ``out``."""
    counts = [0, 0]
    size = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"Cookie": cookie} if cookie else {}

    def loop() -> None:
        done = failed = 0
        while time.monotonic() < stop:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status in (200, 301):
                    done += 1
                    size[0] = len(body)
                else:
                    failed += 1
            except OSError:
                failed += 1
            finally:
                connection.close()
        with lock:
            counts[0] += done
            counts[1] += failed

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((counts[0], counts[1], size[0]))


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by the gunicorn workers of ``master``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that just ended
            continue
        if int(fields[1]) == master:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def throughput(port: int, path: str, cookie: str, seconds: float) -> tuple[float, int, int, int]:
    """(requests a second, failed requests, page bytes, requests answered) with every
    client asking at once."""
    queue = multiprocessing.Queue()
    clients = [
        multiprocessing.Process(
            target=_client, args=(port, path, cookie, seconds, THREADS_PER_PROCESS, queue)
        )
        for _ in range(CLIENT_PROCESSES)
    ]
    started = time.monotonic()
    for client in clients:
        client.start()
    results = [queue.get(timeout=seconds + 60) for _ in clients]
    for client in clients:
        client.join()
    elapsed = time.monotonic() - started
    answered = sum(r[0] for r in results)
    return answered / elapsed, sum(r[1] for r in results), max(r[2] for r in results), answered


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    scratch = Path(tempfile.mkdtemp(prefix="virtlab-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        # A var/ and an instance of its own: a developer's server on this checkout
        # keeps its database, glossary and static files there.
        "VIRTLAB_VAR": str(scratch / "var"),
        "VIRTLAB_INSTANCE": f"bench-{scratch.name}",
        "DEBUG": "",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtlab.settings")
    manage = [PY, str(ROOT / "manage.py")]
    for command in (["migrate"], ["collectstatic", "--noinput"], ["import_course", "--seed"]):
        subprocess.run(
            [*manage, *command, "-v0"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL
        )
    import django

    django.setup()
    slug = measured_lesson()
    state = seed_student(slug)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "virtlab.asgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(WORKERS),
         "--worker-class", "uvicorn_worker.UvicornWorker", "--access-logfile", "-",
         "--graceful-timeout", "5", "--no-control-socket"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    pages = {
        "trivial view": ("/favicon.ico", True),  # a redirect through every middleware
        "login page": ("/accounts/login/", False),  # as a visitor who is not logged in
        "home page": ("/", True),
        "lesson page": (f"/lessons/{slug}/", True),
        "quiz page": (f"/lessons/{slug}/quiz/", True),
    }
    rates: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    # Server CPU per request: unlike requests a second, it barely moves when other work
    # shares the machine with the benchmark.
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    failed = 0
    try:
        wait_until_up(base)
        cookie = log_in(base)
        for path, as_student in pages.values():  # warm both workers up
            throughput(port, path, cookie if as_student else "", 0.5)
        for _ in range(ROUNDS):
            for name, (path, as_student) in pages.items():
                used = server_cpu_seconds(server.pid)
                rate, errors, size, answered = throughput(
                    port, path, cookie if as_student else "", seconds
                )
                cpu[name].append((server_cpu_seconds(server.pid) - used) / max(answered, 1))
                rates[name].append(rate)
                sizes[name] = size
                failed += errors
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    median = {name: statistics.median(values) for name, values in rates.items()}
    ms = {name: statistics.median(values) * 1000 for name, values in cpu.items()}
    login = median["login page"]
    print(
        f"gunicorn, {WORKERS} ASGI (uvicorn) workers; {CLIENT_PROCESSES * THREADS_PER_PROCESS} concurrent clients; "
        f"median of {ROUNDS} rounds of {seconds:g} s per page"
    )
    print(f"lesson page: /lessons/{slug}/ ({sizes['lesson page'] / 1000:.1f} KB; {state})")
    print(
        f"{'trivial view (/favicon.ico)':<44}{median['trivial view']:8.0f} req/s"
        f"   server CPU {ms['trivial view']:5.1f} ms/request"
    )
    print(
        f"{'login page':<44}{login:8.0f} req/s   server CPU {ms['login page']:5.1f} ms/request"
        f"   vs trivial view {login / median['trivial view']:.2f}×"
    )
    for name in ("home page", "lesson page", "quiz page"):
        aim = "   (aim ≥ 0.5×)" if name == "lesson page" else ""
        label = f"{name} vs login page throughput"
        print(
            f"{label:<44}{median[name] / login:8.2f}×   {median[name]:.0f} req/s"
            f"   server CPU {ms[name]:5.1f} ms/request{aim}"
        )
    if failed:
        print(f"({failed} requests failed)")


if __name__ == "__main__":
    main()
